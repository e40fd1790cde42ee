// Live lists: tells a page when an account's builds may have changed, so its list reloads.
//
// It asks once per account for Kiln's account event stream (GET …/builds/events/stream,
// Server-Sent Events, read through fetch for the Authorization header). When the server answers
// it, every event is a change; when it does not (404, or the API's 400 7003 "no route": an older
// Kiln, or another Workers Builds API), the module polls instead: a tick every second while the
// tab is visible, none while it is hidden, and one at once when it becomes visible again. The
// pages do not know which: they only subscribe. While the stream is up, a slow tick (15 s) still
// runs in case an event was missed.
import { enc, session } from "./api.js";

const POLL_MS = 1000;
const SAFETY_MS = 15_000;
const channels = new Map();

/** "stream" | "poll" | "probing", per account (shown in the page, read by tests). */
export function liveMode(account) {
  return channels.get(account)?.mode ?? "probing";
}

function channel(account) {
  let c = channels.get(account);
  if (c) return c;
  c = { mode: "probing", listeners: new Set(), timer: 0, controller: null, refs: 0 };
  channels.set(account, c);
  const emit = () => c.listeners.forEach((f) => f());
  const schedule = () => {
    clearTimeout(c.timer);
    if (c.refs === 0) return;
    const ms = c.mode === "stream" ? SAFETY_MS : POLL_MS;
    c.timer = setTimeout(() => {
      if (document.visibilityState === "visible") emit();
      schedule();
    }, ms);
  };
  c.visibility = () => {
    if (document.visibilityState === "visible") emit();
  };
  c.start = async () => {
    c.controller = new AbortController();
    schedule();
    let delay = 1000;
    while (c.refs > 0) {
      try {
        const response = await fetch(`/client/v4/accounts/${enc(account)}/builds/events/stream`, {
          headers: { accept: "text/event-stream", authorization: `Bearer ${session.token}` },
          signal: c.controller.signal,
        });
        if (!response.ok || !(response.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
          // Not served here: poll, for good (no change of server without a reload).
          response.body?.cancel().catch(() => {});
          c.mode = "poll";
          schedule();
          return;
        }
        c.mode = "stream";
        schedule();
        delay = 1000;
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          // Any complete event (not a comment) is a change; what it says is the list's to read.
          let at;
          while ((at = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, at);
            buffer = buffer.slice(at + 2);
            if (block.split("\n").some((l) => l.startsWith("data:"))) emit();
          }
        }
      } catch (error) {
        if (error.name === "AbortError" || c.refs === 0) return;
      }
      // Dropped: poll meanwhile, reconnect a little later.
      c.mode = "poll";
      schedule();
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 10_000);
    }
  };
  return c;
}

/** Calls onChange whenever the account's builds may have changed; returns the unsubscribe. */
export function subscribe(account, onChange) {
  const c = channel(account);
  c.listeners.add(onChange);
  c.refs++;
  if (c.refs === 1) {
    document.addEventListener("visibilitychange", c.visibility);
    void c.start();
  }
  return () => {
    c.listeners.delete(onChange);
    c.refs--;
    if (c.refs === 0) {
      clearTimeout(c.timer);
      c.controller?.abort();
      document.removeEventListener("visibilitychange", c.visibility);
      channels.delete(account);
    }
  };
}


// The dashboard's only way to the server: /client/v4 with the signed-in token, and the SSE log
// stream read through fetch() (EventSource cannot send an Authorization header).

const TOKEN_KEY = "kiln.token";
const ACCOUNT_KEY = "kiln.account";

/** The token lives in sessionStorage only: gone when the tab closes, never in localStorage or a cookie. */
export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
  get account() {
    return sessionStorage.getItem(ACCOUNT_KEY);
  },
  set account(value) {
    if (value) sessionStorage.setItem(ACCOUNT_KEY, value);
    else sessionStorage.removeItem(ACCOUNT_KEY);
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(ACCOUNT_KEY);
  },
};

/** An API failure: HTTP status plus the envelope's errors ({code, message}). */
export class ApiError extends Error {
  constructor(status, errors) {
    super(errors.map((e) => `${e.code} ${e.message}`).join("; ") || `HTTP ${status}`);
    this.status = status;
    this.errors = errors;
  }
}

/** Calls /client/v4{path}; resolves to the whole envelope ({result, result_info}) or throws ApiError. */
export async function api(path, { method = "GET", body, token = session.token, signal } = {}) {
  const headers = { accept: "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  let response;
  try {
    response = await fetch(`/client/v4${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, [{ code: "network", message: `The server could not be reached (${error.message})` }]);
  }
  let envelope;
  try {
    envelope = await response.json();
  } catch {
    throw new ApiError(response.status, [{ code: response.status, message: `Unexpected answer (HTTP ${response.status}, not JSON)` }]);
  }
  if (!response.ok || !envelope.success) {
    const errors = Array.isArray(envelope.errors) && envelope.errors.length > 0 ? envelope.errors : [{ code: response.status, message: response.statusText || "Request failed" }];
    throw new ApiError(response.status, errors);
  }
  return envelope;
}

export const enc = encodeURIComponent;

/**
 * Follows a build's live log. onLine(index, timestampMs, text) for every line, onEnd({build_outcome,
 * status}) once. Reconnects after a dropped connection with Last-Event-ID, so no line is lost or
 * repeated. Returns a function that stops it.
 */
export function followLog(account, uuid, { onLine, onEnd, onError, onState }) {
  const controller = new AbortController();
  let last = -1;
  let stopped = false;

  const run = async () => {
    let delay = 500;
    while (!stopped) {
      try {
        const headers = { accept: "text/event-stream", authorization: `Bearer ${session.token}` };
        if (last >= 0) headers["last-event-id"] = String(last);
        const response = await fetch(`/client/v4/accounts/${enc(account)}/builds/builds/${enc(uuid)}/logs/stream`, { headers, signal: controller.signal });
        if (!response.ok) {
          let errors = [];
          try {
            errors = (await response.json()).errors ?? [];
          } catch {}
          throw new ApiError(response.status, errors.length ? errors : [{ code: response.status, message: "Log stream refused" }]);
        }
        onState?.("live");
        delay = 500;
        const ended = await readEvents(response.body, (event) => {
          if (event.type === "line") {
            const index = Number(event.id);
            if (Number.isInteger(index) && index <= last) return;
            const [ts, text] = JSON.parse(event.data);
            last = Number.isInteger(index) ? index : last + 1;
            onLine(last, ts, text);
          } else if (event.type === "end") {
            onEnd?.(JSON.parse(event.data));
            return true;
          }
          return false;
        });
        if (ended) {
          onState?.("ended");
          return;
        }
      } catch (error) {
        if (stopped || error.name === "AbortError") return;
        if (error instanceof ApiError && error.status >= 400 && error.status < 500) {
          onError?.(error);
          onState?.("error");
          return;
        }
      }
      if (stopped) return;
      // The connection dropped before `end`: try again a little later, from the last line seen.
      onState?.("reconnecting");
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 5000);
    }
  };
  void run();
  return () => {
    stopped = true;
    controller.abort();
  };
}

/**
 * Parses text/event-stream; onEvent returns true to stop. Resolves true when stopped by onEvent.
 * Linear in the stream's size (a finished 100,000-line log arrives as megabytes at once), and it
 * yields to the page every 30 ms or so, so what arrived is drawn while the rest is read.
 */
async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  const NEWLINE = /\r\n|\r|\n/g;
  let buffer = "";
  let event = { type: "message", id: undefined, data: [] };
  let yielded = performance.now();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return false;
      buffer += value;
      let start = 0;
      for (;;) {
        NEWLINE.lastIndex = start;
        const found = NEWLINE.exec(buffer);
        // A CR at the very end may be the first half of a CRLF: wait for the next chunk.
        if (!found || (found[0] === "\r" && found.index === buffer.length - 1)) break;
        const line = buffer.slice(start, found.index);
        start = found.index + found[0].length;
        if (line === "") {
          if (event.data.length > 0 && onEvent({ type: event.type, id: event.id, data: event.data.join("\n") })) return true;
          event = { type: "message", id: undefined, data: [] };
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let data = colon < 0 ? "" : line.slice(colon + 1);
        if (data.startsWith(" ")) data = data.slice(1);
        if (field === "event") event.type = data;
        else if (field === "data") event.data.push(data);
        else if (field === "id") event.id = data;
      }
      buffer = buffer.slice(start);
      if (performance.now() - yielded > 30) {
        await new Promise((r) => setTimeout(r, 0));
        yielded = performance.now();
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

/**
 * Downloads the whole log as a file: GET …/logs/raw (Kiln's text/plain extension) with the token
 * in the header (a plain link cannot carry it), saved under the server's file name.
 */
export async function downloadRaw(account, uuid) {
  let response;
  try {
    response = await fetch(`/client/v4/accounts/${enc(account)}/builds/builds/${enc(uuid)}/logs/raw`, { headers: { authorization: `Bearer ${session.token}` } });
  } catch (error) {
    throw new ApiError(0, [{ code: "network", message: `The server could not be reached (${error.message})` }]);
  }
  if (!response.ok) {
    let errors = [];
    try {
      errors = (await response.json()).errors ?? [];
    } catch {}
    throw new ApiError(response.status, errors.length ? errors : [{ code: response.status, message: "Download refused" }]);
  }
  const name = /filename="([^"]+)"/.exec(response.headers.get("content-disposition") ?? "")?.[1] ?? `build-${uuid}.log`;
  const url = URL.createObjectURL(await response.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

// Shared pieces of the dashboard's pages: routing, links, error boxes, badges, polling, live
// reloads and what the token may do.
import { h } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import htm from "htm";
import { api, ApiError, enc } from "./api.js";
import { subscribe } from "./live.js";
import { age, formatDate } from "./format.js";
import { linksFor } from "./links.js";

export const html = htm.bind(h);

// ---------------------------------------------------------------------------------------------
// Routing: the URL is the state (deep links, the back button, commit-status links all work).

const listeners = new Set();
const notify = () => listeners.forEach((f) => f());
window.addEventListener("popstate", notify);

export function navigate(to, { replace = false } = {}) {
  const current = location.pathname + location.search;
  if (to !== current) history[replace ? "replaceState" : "pushState"](null, "", to);
  if (!replace) window.scrollTo(0, 0);
  notify();
}

export function useLocation() {
  // A counter as well: navigating to the same URL (signing in on a deep link) must still re-render.
  const [loc, setLoc] = useState({ href: location.pathname + location.search, n: 0 });
  useEffect(() => {
    const update = () => setLoc((old) => ({ href: location.pathname + location.search, n: old.n + 1 }));
    listeners.add(update);
    return () => listeners.delete(update);
  }, []);
  return loc.href;
}

/** A link that navigates in place on a plain click (new tab, copy link etc. still work). */
export function Link({ href, children, ...rest }) {
  const onClick = (e) => {
    rest.onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(href);
  };
  return html`<a href=${href} ...${rest} onClick=${onClick}>${children}</a>`;
}

export const paths = {
  workers: (account) => `/accounts/${enc(account)}`,
  deliveries: (account) => `/accounts/${enc(account)}/deliveries`,
  limits: (account) => `/accounts/${enc(account)}/limits`,
  builds: (account, tag, query = "") => `/accounts/${enc(account)}/workers/${enc(tag)}${query}`,
  settings: (account, tag) => `/accounts/${enc(account)}/workers/${enc(tag)}/settings`,
  build: (account, tag, uuid) => `/accounts/${enc(account)}/workers/${enc(tag)}/builds/${enc(uuid)}`,
};

// ---------------------------------------------------------------------------------------------
// Data.

/** Runs load(signal) now and again every intervalMs(result) ms (null: stop) until unmounted or deps change. */
export function usePoll(load, deps) {
  const [error, setError] = useState(null);
  const [loading, setLoading] = useState(true);
  const [nonce, setNonce] = useState(0);
  useEffect(() => {
    let stopped = false;
    let timer;
    const controller = new AbortController();
    const run = async () => {
      let next = null;
      try {
        next = await load(controller.signal);
        if (!stopped) setError(null);
      } catch (e) {
        if (stopped || e.name === "AbortError") return;
        setError(e);
        // Credentials and missing things will not fix themselves; a network blip may.
        next = e instanceof ApiError && e.status >= 400 && e.status < 500 ? null : 5000;
      }
      if (stopped) return;
      setLoading(false);
      if (next !== null) timer = setTimeout(run, next);
    };
    setLoading(true);
    void run();
    return () => {
      stopped = true;
      clearTimeout(timer);
      controller.abort();
    };
  }, [...deps, nonce]);
  return { error, loading, reload: () => setNonce((n) => n + 1) };
}

/**
 * Loads now, and again whenever the account's builds may have changed (live.js: the account
 * event stream, or a poll every second while the tab is visible). One load at a time; a change
 * during a load runs one more after it.
 */
export function useLive(account, load, deps) {
  const [error, setError] = useState(null);
  const [nonce, setNonce] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    let stopped = false;
    let running = false;
    let again = false;
    const controller = new AbortController();
    const run = async () => {
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        await loadRef.current(controller.signal);
        if (!stopped) setError(null);
      } catch (e) {
        if (!stopped && e.name !== "AbortError") setError(e);
      } finally {
        running = false;
      }
      if (again && !stopped) {
        again = false;
        void run();
      }
    };
    void run();
    const off = subscribe(account, run);
    return () => {
      stopped = true;
      off();
      controller.abort();
    };
  }, [account, ...deps, nonce]);
  return { error, reload: () => setNonce((n) => n + 1) };
}

const accessCache = new Map();

/**
 * What the signed-in token may do on the account: {write, reason} (Kiln's permissions extension;
 * a server without it answers 404/7003 and the controls stay enabled: the API decides then).
 */
export function useAccess(account) {
  const [access, setAccess] = useState(accessCache.get(account) ?? { write: null, reason: null });
  useEffect(() => {
    if (accessCache.has(account)) return;
    let stopped = false;
    api(`/accounts/${enc(account)}/builds/permissions`)
      .then((r) => {
        const a = r.result.write
          ? { write: true, reason: null }
          : { write: false, reason: `This token has ${r.result.permission_groups.join(", ") || "no Workers CI permission"}: changing settings and builds needs Workers CI Write.` };
        accessCache.set(account, a);
        if (!stopped) setAccess(a);
      })
      .catch(() => {});
    return () => {
      stopped = true;
    };
  }, [account]);
  return access;
}
export const forgetAccess = () => accessCache.clear();

// ---------------------------------------------------------------------------------------------
// Small components.

export const unfinished = (b) => b && b.status !== "stopped";

export function Status({ build }) {
  if (!build) return html`<span class="badge none">no builds</span>`;
  const label = build.status === "stopped" ? (build.build_outcome ?? "stopped") : build.status;
  const cls = build.status === "stopped" ? `outcome-${build.build_outcome ?? "none"}` : `live status-${build.status}`;
  return html`<span class=${`badge ${cls}`} data-status=${build.status} data-outcome=${build.build_outcome ?? ""}>${label}</span>`;
}

/** An age ("3m ago") with the full date in the one format as its tooltip. */
export function Ago({ iso, now }) {
  return iso ? html`<time datetime=${iso} title=${formatDate(iso)}>${age(iso, now)}</time>` : "—";
}

/** A date in the one format. */
export function When({ iso }) {
  return iso ? html`<time datetime=${iso}>${formatDate(iso)}</time>` : "—";
}

export function ErrorBox({ error, title }) {
  if (!error) return null;
  if (!(error instanceof ApiError)) return html`<div class="error" role="alert"><strong>${title ?? "Error"}</strong><p>${String(error.message ?? error)}</p></div>`;
  const hint =
    error.status === 401
      ? "The token is unknown, revoked or expired: sign in again."
      : error.status === 403
        ? "This token is not allowed to do that (changing builds needs Workers CI Write)."
        : null;
  return html`<div class="error" role="alert">
    <strong>${title ?? "The API answered with an error"}${error.status ? ` (HTTP ${error.status})` : ""}</strong>
    <ul>
      ${error.errors.map((e) => html`<li><code class="code">${e.code}</code> ${e.message}</li>`)}
    </ul>
    ${hint && html`<p class="hint">${hint}</p>`}
  </div>`;
}

/** The note a Read token sees above controls it cannot use. */
export function ReadOnlyNote({ access }) {
  return access.write === false ? html`<p class="readonly-note" role="note">Read-only: ${access.reason}</p>` : null;
}

export function useTitle(title) {
  useEffect(() => {
    document.title = title ? `${title} · Kiln` : "Kiln";
  }, [title]);
}

/** Re-renders every second so ages and running durations move. */
export function useNow(active = true) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!active) return undefined;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [active]);
  return now;
}

/** The git providers' web addresses (kiln serve --github-web-url / --gitlab-web-url), from the page. */
export const settings = (() => {
  try {
    return JSON.parse(document.querySelector('meta[name="kiln-settings"]')?.content ?? "{}");
  } catch {
    return {};
  }
})();

/** Links to a build's repository, commit and branch on GitHub or GitLab (null when unknown). */
export const providerLinks = (m) => linksFor(m, settings.providers);

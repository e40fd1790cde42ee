// The Kiln dashboard: Preact + htm as native ES modules (see the import map in index.html),
// routed in the browser by path, talking only to /client/v4 on the same origin.
import { h, render } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import htm from "htm";
import { api, ApiError, enc, followAccountEvents, followLog, session } from "./api.js";

const html = htm.bind(h);

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

function useLocation() {
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
function Link({ href, children, ...rest }) {
  const onClick = (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(href);
  };
  return html`<a href=${href} onClick=${onClick} ...${rest}>${children}</a>`;
}

function match(pathname) {
  const parts = pathname.split("/").filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  if (parts.length === 0) return { page: "home" };
  if (parts.length === 1 && parts[0] === "sign-in") return { page: "sign-in" };
  if (parts[0] === "accounts") {
    const [, account, workers, tag, builds, uuid] = parts;
    if (parts.length === 1) return { page: "accounts" };
    if (parts.length === 2) return { page: "workers", account };
    if (parts.length === 4 && workers === "workers") return { page: "builds", account, tag };
    if (parts.length === 6 && workers === "workers" && builds === "builds") return { page: "build", account, tag, uuid };
  }
  return { page: "not-found" };
}

const paths = {
  workers: (account) => `/accounts/${enc(account)}`,
  builds: (account, tag, query = "") => `/accounts/${enc(account)}/workers/${enc(tag)}${query}`,
  build: (account, tag, uuid) => `/accounts/${enc(account)}/workers/${enc(tag)}/builds/${enc(uuid)}`,
};

// ---------------------------------------------------------------------------------------------
// Small helpers.

/** Runs load(signal) now and again every intervalMs(result) ms (null: stop) until unmounted or deps change. */
function usePoll(load, deps) {
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
 * Calls onEvent(envelope) for every build event of the account while mounted (the live account
 * stream), so lists refresh the moment a build is queued, starts or stops instead of at their
 * next poll. The polls stay: they cover a stream that is refused or down.
 */
function useAccountEvents(account, onEvent) {
  const latest = useRef(onEvent);
  latest.current = onEvent;
  useEffect(() => followAccountEvents(account, { onEvent: (e) => latest.current(e) }), [account]);
}

const unfinished = (b) => b && b.status !== "stopped";
const shortHash = (hash) => (hash ? hash.slice(0, 7) : "—");
const firstLine = (text) => (text ?? "").split("\n")[0];
const pad = (n, w = 2) => String(n).padStart(w, "0");

function age(iso, now = Date.now()) {
  if (!iso) return "—";
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

function duration(b, now = Date.now()) {
  const start = b.initializing_on ?? b.running_on;
  if (!start) return b.status === "queued" ? "queued" : "—";
  const end = b.stopped_on ? Date.parse(b.stopped_on) : now;
  const s = Math.max(0, Math.round((end - Date.parse(start)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  return `${Math.floor(s / 3600)}h ${pad(Math.floor(s / 60) % 60)}m`;
}

const clock = (d) => `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");

const TRIGGER_SOURCES = { push: "push", pull_request: "pull request", manual: "manual", api: "API" };
const triggerSource = (b) => {
  const source = TRIGGER_SOURCES[b.build_trigger_metadata?.build_trigger_source] ?? b.build_trigger_metadata?.build_trigger_source ?? "—";
  return b.deploy_hook ? `deploy hook (${b.deploy_hook.deploy_hook_name})` : source;
};

function Status({ build }) {
  if (!build) return html`<span class="badge none">no builds</span>`;
  const label = build.status === "stopped" ? (build.build_outcome ?? "stopped") : build.status;
  const cls = build.status === "stopped" ? `outcome-${build.build_outcome ?? "none"}` : `live status-${build.status}`;
  return html`<span class=${`badge ${cls}`} data-status=${build.status} data-outcome=${build.build_outcome ?? ""}>${label}</span>`;
}

function Time({ iso }) {
  return iso ? html`<time datetime=${iso} title=${iso}>${age(iso)}</time>` : "—";
}

function ErrorBox({ error, title }) {
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

function useTitle(title) {
  useEffect(() => {
    document.title = title ? `${title} · Kiln` : "Kiln";
  }, [title]);
}

/** Re-renders every second so ages and running durations move. */
function useNow(active = true) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!active) return undefined;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [active]);
  return now;
}

// ---------------------------------------------------------------------------------------------
// Pages.

function SignIn({ next }) {
  useTitle("Sign in");
  const [token, setToken] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [accounts, setAccounts] = useState(null);

  const submit = async (e) => {
    e.preventDefault();
    const value = token.trim();
    if (!value) return;
    setBusy(true);
    setError(null);
    try {
      await api("/user/tokens/verify", { token: value });
      const list = (await api("/accounts?per_page=200", { token: value })).result ?? [];
      if (list.length === 0) throw new Error("This token is valid but covers no account.");
      session.token = value;
      if (list.length === 1) return choose(list[0].id);
      setAccounts(list);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const choose = (id) => {
    session.account = id;
    const deep = next && match(new URL(next, location.origin).pathname);
    const target = deep && (deep.page === "workers" || deep.page === "builds" || deep.page === "build") ? next : paths.workers(id);
    navigate(target, { replace: true });
  };

  if (accounts) {
    return html`<main class="narrow">
      <h1>Choose an account</h1>
      <p>This token covers ${accounts.length} accounts.</p>
      <ul class="picker">
        ${accounts.map((a) => html`<li><button type="button" class="pick" onClick=${() => choose(a.id)}><strong>${a.name}</strong><code>${a.id}</code></button></li>`)}
      </ul>
    </main>`;
  }
  return html`<main class="narrow">
    <h1>Sign in to Kiln</h1>
    <form class="card signin" onSubmit=${submit}>
      <label for="token">API token</label>
      <input id="token" name="token" type="password" autocomplete="off" spellcheck="false" required
        value=${token} onInput=${(e) => setToken(e.currentTarget.value)} placeholder="Workers CI Read or Write token" />
      <button type="submit" disabled=${busy}>${busy ? "Checking…" : "Sign in"}</button>
      <p class="hint">The token is checked with <code>/user/tokens/verify</code> and kept in this tab's session storage only;
        closing the tab forgets it. Create one with <code>kiln token create</code>.</p>
    </form>
    <${ErrorBox} error=${error} title="Could not sign in" />
  </main>`;
}

function Accounts() {
  useTitle("Accounts");
  const [accounts, setAccounts] = useState(null);
  const { error } = usePoll(async (signal) => {
    setAccounts((await api("/accounts?per_page=200", { signal })).result ?? []);
    return null;
  }, []);
  return html`<main class="narrow">
    <h1>Accounts</h1>
    <${ErrorBox} error=${error} />
    ${accounts === null && !error && html`<p class="muted">Loading…</p>`}
    <ul class="picker">
      ${(accounts ?? []).map(
        (a) => html`<li><${Link} class="pick" href=${paths.workers(a.id)} onClick=${() => (session.account = a.id)}><strong>${a.name}</strong><code>${a.id}</code></${Link}></li>`,
      )}
    </ul>
  </main>`;
}

function Workers({ account }) {
  useTitle("Workers");
  const [scripts, setScripts] = useState(null);
  const [latest, setLatest] = useState({});
  const now = useNow();
  const { error, reload } = usePoll(
    async (signal) => {
      const list = (await api(`/accounts/${enc(account)}/workers/scripts`, { signal })).result ?? [];
      const builds = {};
      // The latest-builds endpoint takes at most 20 tags a call.
      for (let i = 0; i < list.length; i += 20) {
        const ids = list.slice(i, i + 20).map((w) => w.tag).join(",");
        const r = await api(`/accounts/${enc(account)}/builds/builds/latest?external_script_ids=${enc(ids)}`, { signal });
        Object.assign(builds, r.result?.builds ?? {});
      }
      setScripts(list);
      setLatest(builds);
      return Object.values(builds).some(unfinished) ? 3000 : 30000;
    },
    [account],
  );
  useAccountEvents(account, () => reload());
  return html`<main>
    <nav class="crumbs"><span>Account <code>${account}</code></span></nav>
    <h1>Workers</h1>
    <${ErrorBox} error=${error} />
    ${scripts === null && !error && html`<p class="muted">Loading…</p>`}
    ${scripts && scripts.length === 0 && html`<p class="empty">No Workers in this account yet (<code>kiln worker create</code>).</p>`}
    ${scripts &&
    scripts.length > 0 &&
    html`<table class="list workers">
      <thead><tr><th>Worker</th><th>Latest build</th><th>Branch</th><th>Commit</th><th>Created</th></tr></thead>
      <tbody>
        ${scripts.map((w) => {
          const b = latest[w.tag];
          return html`<tr key=${w.tag} data-worker=${w.id}>
            <td data-label="Worker"><${Link} class="worker-link" href=${paths.builds(account, w.tag)}><strong>${w.id}</strong></${Link}></td>
            <td data-label="Latest build">${b ? html`<${Link} href=${paths.build(account, w.tag, b.build_uuid)}><${Status} build=${b} /></${Link}>` : html`<${Status} />`}</td>
            <td data-label="Branch">${b?.build_trigger_metadata.branch ? html`<code>${b.build_trigger_metadata.branch}</code>` : "—"}</td>
            <td data-label="Commit">${b ? html`<code title=${b.build_trigger_metadata.commit_hash}>${shortHash(b.build_trigger_metadata.commit_hash)}</code>` : "—"}</td>
            <td data-label="Created">${b ? html`<time datetime=${b.created_on} title=${b.created_on}>${age(b.created_on, now)}</time>` : "—"}</td>
          </tr>`;
        })}
      </tbody>
    </table>`}
  </main>`;
}

const OUTCOMES = ["success", "fail", "skipped", "cancelled", "terminated", "none"];

function Builds({ account, tag, search }) {
  const query = new URLSearchParams(search);
  const page = Math.max(1, Number.parseInt(query.get("page") ?? "1", 10) || 1);
  const branch = query.get("branch") ?? "";
  const outcome = OUTCOMES.includes(query.get("outcome")) ? query.get("outcome") : "";
  const [name, setName] = useState(null);
  const [data, setData] = useState(null);
  const [branchInput, setBranchInput] = useState(branch);
  const now = useNow();
  useTitle(name ?? "Builds");
  useEffect(() => setBranchInput(branch), [branch]);

  useEffect(() => {
    const controller = new AbortController();
    api(`/accounts/${enc(account)}/workers/scripts`, { signal: controller.signal })
      .then((r) => setName((r.result ?? []).find((w) => w.tag === tag)?.id ?? null))
      .catch(() => {});
    return () => controller.abort();
  }, [account, tag]);

  const { error, reload } = usePoll(
    async (signal) => {
      const q = new URLSearchParams({ page: String(page), per_page: "20" });
      if (branch) q.set("branch", branch);
      if (outcome) q.set("outcome", outcome);
      const r = await api(`/accounts/${enc(account)}/builds/workers/${enc(tag)}/builds?${q}`, { signal });
      setData({ builds: r.result ?? [], info: r.result_info });
      return (r.result ?? []).some(unfinished) ? 3000 : 30000;
    },
    [account, tag, page, branch, outcome],
  );
  useAccountEvents(account, (e) => {
    if (name === null || e.source?.workerName === name) reload();
  });

  const go = (changes) => {
    const q = new URLSearchParams({ ...(branch ? { branch } : {}), ...(outcome ? { outcome } : {}), page: String(page), ...changes });
    for (const [k, v] of [...q.entries()]) if (!v || (k === "page" && v === "1")) q.delete(k);
    const s = q.toString();
    navigate(paths.builds(account, tag, s ? `?${s}` : ""));
  };
  const info = data?.info;
  return html`<main>
    <nav class="crumbs"><${Link} href=${paths.workers(account)}>Workers</${Link}><span>${name ?? tag}</span></nav>
    <h1>${name ?? "Builds"} <small class="muted">builds</small></h1>
    <form class="filters" onSubmit=${(e) => (e.preventDefault(), go({ branch: branchInput.trim(), page: "1" }))}>
      <label>Branch <input name="branch" value=${branchInput} placeholder="any" onInput=${(e) => setBranchInput(e.currentTarget.value)} /></label>
      <label>Outcome
        <select name="outcome" value=${outcome} onChange=${(e) => go({ outcome: e.currentTarget.value, page: "1" })}>
          <option value="">any</option>
          ${OUTCOMES.map((o) => html`<option value=${o}>${o === "none" ? "unfinished" : o}</option>`)}
        </select>
      </label>
      <button type="submit">Filter</button>
      ${(branch || outcome) && html`<button type="button" class="secondary" onClick=${() => navigate(paths.builds(account, tag))}>Clear</button>`}
    </form>
    <${ErrorBox} error=${error} />
    ${data === null && !error && html`<p class="muted">Loading…</p>`}
    ${data && data.builds.length === 0 && html`<p class="empty">No builds${branch || outcome ? " match these filters" : " yet"}.</p>`}
    ${data &&
    data.builds.length > 0 &&
    html`<table class="list builds">
      <thead><tr><th>Status</th><th>Commit</th><th>Branch</th><th>Trigger</th><th>Created</th><th>Duration</th></tr></thead>
      <tbody>
        ${data.builds.map((b) => {
          const m = b.build_trigger_metadata;
          return html`<tr key=${b.build_uuid} data-build=${b.build_uuid}>
            <td data-label="Status"><${Link} class="build-link" href=${paths.build(account, tag, b.build_uuid)}><${Status} build=${b} /></${Link}></td>
            <td data-label="Commit" class="commit"><span><${Link} href=${paths.build(account, tag, b.build_uuid)}><code>${shortHash(m.commit_hash)}</code></${Link}> <span class="message">${firstLine(m.commit_message)}</span></span></td>
            <td data-label="Branch">${m.branch ? html`<code>${m.branch}</code>` : "—"}</td>
            <td data-label="Trigger">${triggerSource(b)}</td>
            <td data-label="Created"><time datetime=${b.created_on} title=${b.created_on}>${age(b.created_on, now)}</time></td>
            <td data-label="Duration">${duration(b, now)}</td>
          </tr>`;
        })}
      </tbody>
    </table>`}
    ${info &&
    info.total_pages > 1 &&
    html`<nav class="pager">
      <button type="button" class="secondary" disabled=${page <= 1} onClick=${() => go({ page: String(page - 1) })}>← Newer</button>
      <span>Page ${info.page} of ${info.total_pages} · ${info.total_count} builds</span>
      <button type="button" class="secondary" disabled=${!info.next_page} onClick=${() => go({ page: String(page + 1) })}>Older →</button>
    </nav>`}
    ${info && info.total_pages <= 1 && info.total_count > 0 && html`<p class="muted count">${info.total_count} build${info.total_count === 1 ? "" : "s"}</p>`}
  </main>`;
}

function LogView({ account, uuid, onEnd }) {
  const box = useRef(null);
  const list = useRef(null);
  const follow = useRef(true);
  const endRef = useRef(onEnd);
  endRef.current = onEnd;
  const [count, setCount] = useState(0);
  const [state, setState] = useState("connecting");
  const [following, setFollowing] = useState(true);
  const [error, setError] = useState(null);

  useEffect(() => {
    const ol = list.current;
    ol.textContent = "";
    follow.current = true;
    setFollowing(true);
    setCount(0);
    setError(null);
    let pending = [];
    let timer = 0;
    let n = 0;
    const flush = () => {
      timer = 0;
      const fragment = document.createDocumentFragment();
      for (const [index, ts, text] of pending) {
        const li = document.createElement("li");
        li.dataset.index = String(index);
        const d = new Date(ts);
        const time = document.createElement("time");
        time.dateTime = d.toISOString();
        time.title = d.toISOString();
        time.textContent = clock(d);
        const span = document.createElement("span");
        span.textContent = text;
        li.append(time, span);
        fragment.append(li);
      }
      pending = [];
      const el = box.current;
      // Where the reader is now, not only what the last scroll event said: a scroll up may not
      // have been dispatched yet, and must still win over following.
      if (el && el.scrollHeight - el.scrollTop - el.clientHeight >= 24) follow.current = false;
      ol.append(fragment);
      setCount(n);
      if (follow.current && el) el.scrollTop = el.scrollHeight;
    };
    const stop = followLog(account, uuid, {
      onLine: (index, ts, text) => {
        n++;
        pending.push([index, ts, text]);
        // Lines come in bursts: one DOM update per 50 ms, not one per line.
        if (!timer) timer = setTimeout(flush, 50);
      },
      onEnd: (end) => {
        if (timer) {
          clearTimeout(timer);
          flush();
        }
        endRef.current?.(end);
      },
      onError: setError,
      onState: setState,
    });
    return () => {
      stop();
      clearTimeout(timer);
    };
  }, [account, uuid]);

  const onScroll = () => {
    const el = box.current;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
    follow.current = atBottom;
    if (atBottom !== following) setFollowing(atBottom);
  };
  const jump = () => {
    follow.current = true;
    setFollowing(true);
    box.current.scrollTop = box.current.scrollHeight;
  };
  const stateLabel = { connecting: "connecting…", live: "live", ended: "complete", reconnecting: "reconnecting…", error: "unavailable" }[state] ?? state;
  return html`<section class="log-panel">
    <header>
      <h2>Log</h2>
      <span class="muted log-meta"><span class="log-count">${count}</span> lines · <span class=${`log-state ${state}`}>${stateLabel}</span></span>
      ${!following && html`<button type="button" class="secondary follow" onClick=${jump}>↓ Follow</button>`}
    </header>
    <${ErrorBox} error=${error} title="The log stream failed" />
    <div class="log" ref=${box} onScroll=${onScroll} tabindex="0" aria-label="Build log" data-following=${following ? "true" : "false"}>
      <ol ref=${list}></ol>
    </div>
  </section>`;
}

function Build({ account, tag, uuid }) {
  const [build, setBuild] = useState(null);
  const [actionError, setActionError] = useState(null);
  const [notice, setNotice] = useState(null);
  const [busy, setBusy] = useState(null);
  const now = useNow(unfinished(build));
  useTitle(build ? `Build ${shortHash(build.build_trigger_metadata.commit_hash)}` : "Build");

  const { error, reload } = usePoll(
    async (signal) => {
      const b = (await api(`/accounts/${enc(account)}/builds/builds/${enc(uuid)}`, { signal })).result;
      setBuild(b);
      return unfinished(b) ? 2000 : null;
    },
    [account, uuid],
  );
  useEffect(() => {
    setActionError(null);
    setNotice(null);
  }, [uuid]);

  const cancel = async () => {
    if (!window.confirm("Cancel this build? Its commands are stopped and the build ends as cancelled.")) return;
    setBusy("cancel");
    setActionError(null);
    try {
      const r = (await api(`/accounts/${enc(account)}/builds/builds/${enc(uuid)}/cancel`, { method: "PUT" })).result;
      setNotice(`Build ${r.build_outcome}.`);
      reload();
    } catch (e) {
      setActionError(e);
    } finally {
      setBusy(null);
    }
  };
  const retry = async () => {
    setBusy("retry");
    setActionError(null);
    try {
      const r = (await api(`/accounts/${enc(account)}/builds/builds/${enc(uuid)}/retry`, { method: "POST" })).result;
      navigate(paths.build(account, tag, r.build_uuid));
    } catch (e) {
      setActionError(e);
    } finally {
      setBusy(null);
    }
  };

  const m = build?.build_trigger_metadata;
  return html`<main>
    <nav class="crumbs">
      <${Link} href=${paths.workers(account)}>Workers</${Link}>
      <${Link} href=${paths.builds(account, tag)}>Builds</${Link}>
      <span><code>${uuid.slice(0, 8)}</code></span>
    </nav>
    <div class="build-head">
      <h1>Build <${Status} build=${build} /></h1>
      <div class="actions">
        ${build && unfinished(build) && html`<button type="button" class="danger" id="cancel" disabled=${busy !== null} onClick=${cancel}>${busy === "cancel" ? "Cancelling…" : "Cancel build"}</button>`}
        ${build && !unfinished(build) && html`<button type="button" id="retry" disabled=${busy !== null} onClick=${retry}>${busy === "retry" ? "Starting…" : "Retry build"}</button>`}
      </div>
    </div>
    ${notice && html`<p class="notice" role="status">${notice}</p>`}
    <${ErrorBox} error=${actionError} title="The build could not be changed" />
    <${ErrorBox} error=${error} />
    ${build &&
    html`<dl class="meta">
      <dt>Commit</dt>
      <dd class="commit-meta"><code class="hash">${m.commit_hash || "—"}</code><span class="message">${m.commit_message}</span>${m.author && html`<span class="muted">by ${m.author}</span>`}</dd>
      <dt>Branch</dt><dd>${m.branch ? html`<code>${m.branch}</code>` : "—"}</dd>
      <dt>Repository</dt><dd>${m.provider_type} · ${m.provider_account_name}/${m.repo_name}</dd>
      <dt>Trigger</dt>
      <dd>${triggerSource(build)}${build.pull_request?.pull_request_url && html` · <a href=${build.pull_request.pull_request_url} rel="noreferrer">pull request</a>`}${build.trigger?.trigger_name && html` <span class="muted">(trigger ${build.trigger.trigger_name})</span>`}</dd>
      <dt>Build command</dt><dd>${m.build_command ? html`<code>${m.build_command}</code>` : html`<span class="muted">none</span>`}</dd>
      <dt>Deploy command</dt><dd>${m.deploy_command ? html`<code>${m.deploy_command}</code>` : html`<span class="muted">none</span>`}</dd>
      <dt>Root directory</dt><dd><code>${m.root_directory || "/"}</code></dd>
      <dt>Created</dt><dd>${when(build.created_on)}</dd>
      <dt>Initializing</dt><dd>${when(build.initializing_on)}</dd>
      <dt>Running</dt><dd>${when(build.running_on)}</dd>
      <dt>Stopped</dt><dd>${when(build.stopped_on)}</dd>
      <dt>Duration</dt><dd>${duration(build, now)}</dd>
      ${build.version_id && html`<dt>Version</dt><dd><code>${build.version_id}</code></dd>`}
      ${build.preview_url && html`<dt>Preview</dt><dd><a href=${build.preview_url} rel="noreferrer">${build.preview_url}</a></dd>`}
    </dl>`}
    <${LogView} account=${account} uuid=${uuid} onEnd=${() => reload()} />
  </main>`;
}

function NotFound() {
  useTitle("Not found");
  return html`<main class="narrow"><h1>Not found</h1><p>There is no such page. <${Link} href="/">Back to the dashboard</${Link}>.</p></main>`;
}

function Home() {
  useEffect(() => {
    navigate(session.account ? paths.workers(session.account) : "/accounts", { replace: true });
  }, []);
  return null;
}

function Header({ signedIn }) {
  const signOut = () => {
    session.clear();
    navigate("/sign-in");
  };
  return html`<header class="top">
    <${Link} class="brand" href="/"><span class="logo" aria-hidden="true">▲</span> Kiln</${Link}>
    ${signedIn &&
    html`<nav>
      <${Link} href="/accounts">Accounts</${Link}>
      <button type="button" class="link" onClick=${signOut}>Sign out</button>
    </nav>`}
  </header>`;
}

function App() {
  const loc = useLocation();
  const url = new URL(loc, location.origin);
  const route = match(url.pathname);
  const signedIn = Boolean(session.token);
  let body;
  if (!signedIn || route.page === "sign-in") {
    // Signed out: every page asks for the token first, then continues to the page asked for.
    body = html`<${SignIn} next=${route.page === "sign-in" ? null : loc} />`;
  } else {
    if (route.account && route.account !== session.account) session.account = route.account;
    switch (route.page) {
      case "home":
        body = html`<${Home} />`;
        break;
      case "accounts":
        body = html`<${Accounts} />`;
        break;
      case "workers":
        body = html`<${Workers} key=${route.account} account=${route.account} />`;
        break;
      case "builds":
        body = html`<${Builds} key=${route.account + route.tag} account=${route.account} tag=${route.tag} search=${url.search} />`;
        break;
      case "build":
        body = html`<${Build} key=${route.uuid} account=${route.account} tag=${route.tag} uuid=${route.uuid} />`;
        break;
      default:
        body = html`<${NotFound} />`;
    }
  }
  return html`<${Header} signedIn=${signedIn && route.page !== "sign-in"} />${body}`;
}

const root = document.getElementById("app");
root.textContent = "";
render(html`<${App} />`, root);

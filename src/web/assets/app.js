// The Kiln dashboard: Preact + htm as native ES modules (see the import map in index.html),
// routed in the browser by path, talking only to /client/v4 on the same origin.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, enc, session } from "./api.js";
import { duration, firstLine, formatDate, shortHash } from "./format.js";
import { LogView } from "./log-view.js";
import { Deliveries, Limits } from "./account-pages.js";
import { RunBuild, WorkerSettings } from "./settings.js";
import {
  Ago,
  ErrorBox,
  forgetAccess,
  html,
  Link,
  navigate,
  paths,
  providerLinks,
  ReadOnlyNote,
  Status,
  unfinished,
  useAccess,
  useLive,
  useLocation,
  useNow,
  usePoll,
  useTitle,
  When,
} from "./ui.js";
import { liveMode } from "./live.js";

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
    if (parts.length === 3 && workers === "deliveries") return { page: "deliveries", account };
    if (parts.length === 3 && workers === "limits") return { page: "limits", account };
    if (parts.length === 4 && workers === "workers") return { page: "builds", account, tag };
    if (parts.length === 5 && workers === "workers" && builds === "settings") return { page: "settings", account, tag };
    if (parts.length === 6 && workers === "workers" && builds === "builds") return { page: "build", account, tag, uuid };
  }
  return { page: "not-found" };
}

const TRIGGER_SOURCES = { push: "push", pull_request: "pull request", manual: "manual", api: "API" };
const triggerSource = (b) => {
  const source = TRIGGER_SOURCES[b.build_trigger_metadata?.build_trigger_source] ?? b.build_trigger_metadata?.build_trigger_source ?? "—";
  return b.deploy_hook ? `deploy hook (${b.deploy_hook.deploy_hook_name})` : source;
};

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
      forgetAccess();
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
    const target = deep && deep.page !== "home" && deep.page !== "sign-in" && deep.page !== "accounts" && deep.page !== "not-found" ? next : paths.workers(id);
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

function AccountNav({ account, here }) {
  const items = [
    ["workers", "Workers", paths.workers(account)],
    ["deliveries", "Webhook deliveries", paths.deliveries(account)],
    ["limits", "Limits", paths.limits(account)],
  ];
  return html`<nav class="tabs" aria-label="Account">
    ${items.map(([key, label, href]) => html`<${Link} href=${href} class=${key === here ? "active" : ""} aria-current=${key === here ? "page" : undefined}>${label}</${Link}>`)}
  </nav>`;
}

function Workers({ account }) {
  useTitle("Workers");
  const [scripts, setScripts] = useState(null);
  const [latest, setLatest] = useState({});
  const now = useNow();
  const { error } = useLive(
    account,
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
    },
    [],
  );
  return html`<main>
    <nav class="crumbs"><span>Account <code>${account}</code></span></nav>
    <${AccountNav} account=${account} here="workers" />
    <h1>Workers <${LiveDot} account=${account} /></h1>
    <${ErrorBox} error=${error} />
    ${scripts === null && !error && html`<p class="muted">Loading…</p>`}
    ${scripts && scripts.length === 0 && html`<p class="empty">No Workers in this account yet (<code>kiln worker create</code>).</p>`}
    ${scripts &&
    scripts.length > 0 &&
    html`<table class="list workers">
      <thead><tr><th>Worker</th><th>Latest build</th><th>Branch</th><th>Commit</th><th>Created</th><th><span class="visually-hidden">Settings</span></th></tr></thead>
      <tbody>
        ${scripts.map((w) => {
          const b = latest[w.tag];
          return html`<tr key=${w.tag} data-worker=${w.id}>
            <td data-label="Worker"><${Link} class="worker-link" href=${paths.builds(account, w.tag)}><strong>${w.id}</strong></${Link}></td>
            <td data-label="Latest build">${b ? html`<${Link} href=${paths.build(account, w.tag, b.build_uuid)}><${Status} build=${b} /></${Link}>` : html`<${Status} />`}</td>
            <td data-label="Branch">${b?.build_trigger_metadata.branch ? html`<code>${b.build_trigger_metadata.branch}</code>` : "—"}</td>
            <td data-label="Commit">${b ? html`<code title=${b.build_trigger_metadata.commit_hash}>${shortHash(b.build_trigger_metadata.commit_hash)}</code>` : "—"}</td>
            <td data-label="Created">${b ? html`<${Ago} iso=${b.created_on} now=${now} />` : "—"}</td>
            <td data-label="Settings"><${Link} class="settings-link" href=${paths.settings(account, w.tag)}>Settings</${Link}></td>
          </tr>`;
        })}
      </tbody>
    </table>`}
  </main>`;
}

/** How the list keeps up: the account event stream, or polling every second. */
function LiveDot({ account }) {
  const [mode, setMode] = useState(liveMode(account));
  useEffect(() => {
    const t = setInterval(() => setMode(liveMode(account)), 1000);
    return () => clearInterval(t);
  }, [account]);
  return html`<small class="live-mode muted" data-mode=${mode} title=${mode === "stream" ? "Updated by the account's event stream" : "Updated every second while this tab is visible"}>${mode === "stream" ? "live" : mode === "poll" ? "auto-refresh 1 s" : ""}</small>`;
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
  const [running, setRunning] = useState(false);
  const access = useAccess(account);
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

  const { error } = useLive(
    account,
    async (signal) => {
      const q = new URLSearchParams({ page: String(page), per_page: "20" });
      if (branch) q.set("branch", branch);
      if (outcome) q.set("outcome", outcome);
      const r = await api(`/accounts/${enc(account)}/builds/workers/${enc(tag)}/builds?${q}`, { signal });
      setData({ builds: r.result ?? [], info: r.result_info });
    },
    [tag, page, branch, outcome],
  );

  const go = (changes) => {
    const q = new URLSearchParams({ ...(branch ? { branch } : {}), ...(outcome ? { outcome } : {}), page: String(page), ...changes });
    for (const [k, v] of [...q.entries()]) if (!v || (k === "page" && v === "1")) q.delete(k);
    const s = q.toString();
    navigate(paths.builds(account, tag, s ? `?${s}` : ""));
  };
  const info = data?.info;
  return html`<main>
    <nav class="crumbs"><${Link} href=${paths.workers(account)}>Workers</${Link}><span>${name ?? tag}</span></nav>
    <div class="build-head">
      <h1>${name ?? "Builds"} <small class="muted">builds</small> <${LiveDot} account=${account} /></h1>
      <div class="actions">
        <${Link} class="button secondary" href=${paths.settings(account, tag)}>Settings</${Link}>
        <button type="button" id="run-build" disabled=${access.write === false} title=${access.reason ?? ""} onClick=${() => setRunning(!running)}>Run build</button>
      </div>
    </div>
    <${ReadOnlyNote} access=${access} />
    ${running && html`<${RunBuild} account=${account} tag=${tag} onClose=${() => setRunning(false)} />`}
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
            <td data-label="Created"><${Ago} iso=${b.created_on} now=${now} /></td>
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

function Build({ account, tag, uuid }) {
  const [build, setBuild] = useState(null);
  const [actionError, setActionError] = useState(null);
  const [notice, setNotice] = useState(null);
  const [busy, setBusy] = useState(null);
  const access = useAccess(account);
  const now = useNow(unfinished(build));
  useTitle(build ? `Build ${shortHash(build.build_trigger_metadata.commit_hash)}` : "Build");

  const { error, reload } = usePoll(
    async (signal) => {
      const b = (await api(`/accounts/${enc(account)}/builds/builds/${enc(uuid)}`, { signal })).result;
      setBuild(b);
      return unfinished(b) ? 1000 : null;
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
  const links = m && providerLinks(m);
  const readOnly = access.write === false;
  return html`<main class="wide">
    <nav class="crumbs">
      <${Link} href=${paths.workers(account)}>Workers</${Link}>
      <${Link} href=${paths.builds(account, tag)}>Builds</${Link}>
      <span><code>${uuid.slice(0, 8)}</code></span>
    </nav>
    <div class="build-head">
      <h1>Build <${Status} build=${build} /></h1>
      <div class="actions">
        ${build && unfinished(build) && html`<button type="button" class="danger" id="cancel" disabled=${busy !== null || readOnly} title=${access.reason ?? ""} onClick=${cancel}>${busy === "cancel" ? "Cancelling…" : "Cancel build"}</button>`}
        ${build && !unfinished(build) && html`<button type="button" id="retry" disabled=${busy !== null || readOnly} title=${access.reason ?? ""} onClick=${retry}>${busy === "retry" ? "Starting…" : "Retry build"}</button>`}
      </div>
    </div>
    <${ReadOnlyNote} access=${access} />
    ${notice && html`<p class="notice" role="status">${notice}</p>`}
    <${ErrorBox} error=${actionError} title="The build could not be changed" />
    <${ErrorBox} error=${error} />
    ${build &&
    html`<div class="summary">
      <span class="commit-line">${links?.commit ? html`<a class="commit-link" href=${links.commit} rel="noreferrer" target="_blank"><code>${shortHash(m.commit_hash)}</code></a>` : html`<code>${shortHash(m.commit_hash)}</code>`} <span class="message">${firstLine(m.commit_message) || "—"}</span></span>
      <span>${m.branch ? (links?.branch ? html`<a href=${links.branch} rel="noreferrer" target="_blank"><code>${m.branch}</code></a>` : html`<code>${m.branch}</code>`) : "—"}</span>
      <span>${links ? html`<a class="repo-link" href=${links.repo} rel="noreferrer" target="_blank">${m.provider_account_name}/${m.repo_name}</a>` : `${m.provider_account_name}/${m.repo_name}`}</span>
      <span>${triggerSource(build)}</span>
      <span title=${formatDate(build.created_on)}><${When} iso=${build.created_on} /></span>
      <span class="duration">${duration(build, now)}</span>
    </div>`}
    <${LogView} account=${account} uuid=${uuid} build=${build} onEnd=${() => reload()} />
    ${build &&
    html`<details class="meta-details">
      <summary>Details</summary>
      <dl class="meta">
        <dt>Commit</dt>
        <dd class="commit-meta"><code class="hash">${m.commit_hash || "—"}</code><span class="message">${m.commit_message}</span>${m.author && html`<span class="muted">by ${m.author}</span>`}</dd>
        <dt>Branch</dt><dd>${m.branch ? html`<code>${m.branch}</code>` : "—"}</dd>
        <dt>Repository</dt><dd>${m.provider_type} · ${m.provider_account_name}/${m.repo_name}</dd>
        <dt>Trigger</dt>
        <dd>${triggerSource(build)}${build.pull_request?.pull_request_url && html` · <a href=${build.pull_request.pull_request_url} rel="noreferrer">pull request</a>`}${build.trigger?.trigger_name && html` <span class="muted">(trigger ${build.trigger.trigger_name})</span>`}</dd>
        <dt>Build command</dt><dd>${m.build_command ? html`<code>${m.build_command}</code>` : html`<span class="muted">none</span>`}</dd>
        <dt>Deploy command</dt><dd>${m.deploy_command ? html`<code>${m.deploy_command}</code>` : html`<span class="muted">none</span>`}</dd>
        <dt>Root directory</dt><dd><code>${m.root_directory || "/"}</code></dd>
        <dt>Created</dt><dd><${When} iso=${build.created_on} /></dd>
        <dt>Initializing</dt><dd><${When} iso=${build.initializing_on} /></dd>
        <dt>Running</dt><dd><${When} iso=${build.running_on} /></dd>
        <dt>Stopped</dt><dd><${When} iso=${build.stopped_on} /></dd>
        <dt>Duration</dt><dd>${duration(build, now)}</dd>
        <dt>Build</dt><dd><code>${build.build_uuid}</code></dd>
        ${build.version_id && html`<dt>Version</dt><dd><code>${build.version_id}</code></dd>`}
        ${build.preview_url && html`<dt>Preview</dt><dd><a href=${build.preview_url} rel="noreferrer">${build.preview_url}</a></dd>`}
      </dl>
    </details>`}
  </main>`;
}

function NotFound() {
  useTitle("Not found");
  return html`<main class="narrow not-found"><h1>404 · Page not found</h1><p>There is no page at this address. <${Link} href="/">Back to the dashboard</${Link}>.</p></main>`;
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
    forgetAccess();
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
      case "deliveries":
        body = html`<${Deliveries} key=${route.account} account=${route.account} nav=${html`<${AccountNav} account=${route.account} here="deliveries" />`} />`;
        break;
      case "limits":
        body = html`<${Limits} key=${route.account} account=${route.account} nav=${html`<${AccountNav} account=${route.account} here="limits" />`} />`;
        break;
      case "builds":
        body = html`<${Builds} key=${route.account + route.tag} account=${route.account} tag=${route.tag} search=${url.search} />`;
        break;
      case "settings":
        body = html`<${WorkerSettings} key=${route.account + route.tag} account=${route.account} tag=${route.tag} />`;
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

// A Worker's build settings, all through the Workers Builds API with the signed-in token:
// repository connection, build tokens, production and preview triggers (every field), their
// variables (secrets write-only), build cache on/off and purge, deploy hooks; and Run build.
import { useEffect, useState } from "preact/hooks";
import { api, enc } from "./api.js";
import { ErrorBox, html, Link, navigate, paths, ReadOnlyNote, useAccess, useTitle, When } from "./ui.js";

/** Cloudflare's dashboard defaults for a new trigger. */
const DEFAULTS = {
  production: { trigger_name: "Deploy default branch", branch_includes: "main", branch_excludes: "", deploy_command: "npx wrangler deploy" },
  preview: { trigger_name: "Deploy non-production branches", branch_includes: "*", branch_excludes: "main", deploy_command: "npx wrangler versions upload" },
};

const list = (text) =>
  text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
const joined = (items) => (items ?? []).join(", ");

/** One action at a time per form: busy flag, its error, and a notice when it worked. */
function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [notice, setNotice] = useState(null);
  const run = async (fn, done) => {
    setBusy(true);
    setError(null);
    setNotice(null);
    try {
      const out = await fn();
      if (done) setNotice(typeof done === "function" ? done(out) : done);
      return out;
    } catch (e) {
      setError(e);
      return undefined;
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, notice, run };
}

function Feedback({ action, title }) {
  return html`${action.notice && html`<p class="notice" role="status">${action.notice}</p>`}<${ErrorBox} error=${action.error} title=${title} />`;
}

/** Props for a control a Read token cannot use: disabled, with the reason as its tooltip. */
const writeProps = (access, busy = false) => ({ disabled: busy || access.write === false, title: access.write === false ? access.reason : undefined });

export function WorkerSettings({ account, tag }) {
  const access = useAccess(account);
  const [name, setName] = useState(null);
  const [triggers, setTriggers] = useState(null);
  const [tokens, setTokens] = useState(null);
  const [hooks, setHooks] = useState(null);
  const [connections, setConnections] = useState([]);
  const [error, setError] = useState(null);
  const [nonce, setNonce] = useState(0);
  const [adding, setAdding] = useState(null);
  useTitle(name ? `${name} settings` : "Settings");
  const reload = () => setNonce((n) => n + 1);

  useEffect(() => {
    const controller = new AbortController();
    const signal = controller.signal;
    (async () => {
      try {
        const scripts = (await api(`/accounts/${enc(account)}/workers/scripts`, { signal })).result ?? [];
        const worker = scripts.find((w) => w.tag === tag);
        const workerName = worker?.id ?? tag;
        setName(workerName);
        const [t, k, d] = await Promise.all([
          api(`/accounts/${enc(account)}/builds/workers/${enc(tag)}/triggers`, { signal }),
          api(`/accounts/${enc(account)}/builds/tokens?per_page=200`, { signal }),
          api(`/accounts/${enc(account)}/builds/workers/${enc(workerName)}/deploy_hooks`, { signal }),
        ]);
        setTriggers(t.result ?? []);
        setTokens(k.result ?? []);
        setHooks(d.result ?? []);
        // Cloudflare has no list of connections: those the triggers use, plus any made here.
        setConnections((old) => {
          const byUuid = new Map(old.map((c) => [c.repo_connection_uuid, c]));
          for (const tr of t.result ?? []) byUuid.set(tr.repo_connection.repo_connection_uuid, tr.repo_connection);
          return [...byUuid.values()];
        });
        setError(null);
      } catch (e) {
        if (e.name !== "AbortError") setError(e);
      }
    })();
    return () => controller.abort();
  }, [account, tag, nonce]);

  const production = triggers?.find((t) => !t.branch_excludes.length && t.branch_includes.length && !t.branch_includes.includes("*")) ?? null;
  const kind = (t) => (t === production ? "production" : "preview");
  return html`<main class="settings">
    <nav class="crumbs"><${Link} href=${paths.workers(account)}>Workers</${Link}><${Link} href=${paths.builds(account, tag)}>${name ?? tag}</${Link}><span>Settings</span></nav>
    <div class="build-head">
      <h1>${name ?? "Worker"} <small class="muted">build settings</small></h1>
      <div class="actions"><${Link} class="button secondary" href=${paths.builds(account, tag)}>Builds</${Link}></div>
    </div>
    <${ReadOnlyNote} access=${access} />
    <${ErrorBox} error=${error} />
    ${triggers === null && !error && html`<p class="muted">Loading…</p>`}
    ${triggers !== null &&
    html`
      <${Repository} account=${account} access=${access} connections=${connections} onConnected=${(c) => setConnections((old) => [...old.filter((o) => o.repo_connection_uuid !== c.repo_connection_uuid), c])} />
      <${BuildTokens} account=${account} access=${access} tokens=${tokens ?? []} onChange=${reload} />
      <section class="card" id="triggers">
        <h2>Triggers</h2>
        <p class="hint">A push to a branch the trigger includes (and no exclude matches), touching a path it watches, builds the Worker. Patterns are comma-separated; <code>*</code> matches anything.</p>
        ${triggers.length === 0 && html`<p class="empty">No trigger yet: builds run once a production trigger exists.</p>`}
        ${triggers.map(
          (t) => html`<${TriggerCard} key=${t.trigger_uuid} account=${account} tag=${tag} access=${access} trigger=${t} kind=${kind(t)} tokens=${tokens ?? []} connections=${connections} onChange=${reload} />`,
        )}
        ${adding &&
        html`<${TriggerForm} account=${account} tag=${tag} access=${access} kind=${adding} tokens=${tokens ?? []} connections=${connections}
          onDone=${() => {
            setAdding(null);
            reload();
          }} onCancel=${() => setAdding(null)} />`}
        ${!adding &&
        html`<div class="actions">
          <button type="button" id="add-production" ...${writeProps(access)} onClick=${() => setAdding("production")}>Add production trigger</button>
          <button type="button" class="secondary" id="add-preview" ...${writeProps(access)} onClick=${() => setAdding("preview")}>Add preview trigger</button>
        </div>`}
      </section>
      <${DeployHooks} account=${account} access=${access} name=${name} hooks=${hooks ?? []} onChange=${reload} />
    `}
  </main>`;
}

function Repository({ account, access, connections, onConnected }) {
  const action = useAction();
  const [form, setForm] = useState({ provider_type: "github", provider_account_name: "", provider_account_id: "", repo_name: "", repo_id: "" });
  const field = (key) => ({ name: key, value: form[key], onInput: (e) => setForm({ ...form, [key]: e.currentTarget.value }) });
  const submit = (e) => {
    e.preventDefault();
    void action.run(async () => {
      const r = (await api(`/accounts/${enc(account)}/builds/repos/connections`, { method: "PUT", body: form })).result;
      onConnected(r);
      return r;
    }, (r) => `Connected ${r.provider_account_name}/${r.repo_name}.`);
  };
  const disconnect = (c) => {
    if (!window.confirm(`Disconnect ${c.provider_account_name}/${c.repo_name}? Pushes to it no longer build; connecting it again revives it.`)) return;
    void action.run(async () => {
      await api(`/accounts/${enc(account)}/builds/repos/connections/${enc(c.repo_connection_uuid)}`, { method: "DELETE" });
      onConnected({ ...c, deleted_on: new Date().toISOString() });
    }, `Disconnected ${c.provider_account_name}/${c.repo_name}.`);
  };
  return html`<section class="card" id="repository">
    <h2>Repository connection</h2>
    ${connections.length > 0
      ? html`<ul class="plain connections">${connections.map(
          (c) => html`<li data-connection=${c.repo_connection_uuid}><strong>${c.provider_type}</strong> · ${c.provider_account_name}/${c.repo_name} <code class="muted">${c.repo_connection_uuid}</code>
            ${c.deleted_on
              ? html` <span class="badge outcome-cancelled">disconnected</span>`
              : html` <button type="button" class="secondary small disconnect" ...${writeProps(access, action.busy)} onClick=${() => disconnect(c)}>Disconnect</button>`}</li>`,
        )}</ul>`
      : html`<p class="muted">No repository connected to this Worker's triggers.</p>`}
    <details open=${connections.length === 0}>
      <summary>Connect a repository</summary>
      <form class="grid-form" id="connect-form" onSubmit=${submit}>
        <label>Provider <select ...${field("provider_type")} onChange=${(e) => setForm({ ...form, provider_type: e.currentTarget.value })}><option value="github">GitHub</option><option value="gitlab">GitLab</option></select></label>
        <label>Owner (user, organisation or group) <input required ...${field("provider_account_name")} placeholder="acme" /></label>
        <label>Owner id <input required ...${field("provider_account_id")} placeholder="the provider's numeric id" /></label>
        <label>Repository <input required ...${field("repo_name")} placeholder="my-worker" /></label>
        <label>Repository id <input required ...${field("repo_id")} placeholder="the provider's numeric id" /></label>
        <div class="actions"><button type="submit" ...${writeProps(access, action.busy)}>Connect</button></div>
      </form>
    </details>
    <${Feedback} action=${action} title="Could not connect the repository" />
  </section>`;
}

function BuildTokens({ account, access, tokens, onChange }) {
  const action = useAction();
  const [form, setForm] = useState({ build_token_name: "", cloudflare_token_id: "", build_token_secret: "" });
  const field = (key) => ({ name: key, value: form[key], onInput: (e) => setForm({ ...form, [key]: e.currentTarget.value }) });
  const create = (e) => {
    e.preventDefault();
    void action.run(async () => {
      const r = (await api(`/accounts/${enc(account)}/builds/tokens`, { method: "POST", body: form })).result;
      setForm({ build_token_name: "", cloudflare_token_id: "", build_token_secret: "" });
      onChange();
      return r;
    }, (r) => `Build token ${r.build_token_name} created.`);
  };
  const remove = (t) => {
    if (!window.confirm(`Delete the build token ${t.build_token_name}? Triggers using it stop building.`)) return;
    void action.run(async () => {
      await api(`/accounts/${enc(account)}/builds/tokens/${enc(t.build_token_uuid)}`, { method: "DELETE" });
      onChange();
    }, "Build token deleted.");
  };
  return html`<section class="card" id="build-tokens">
    <h2>Build tokens</h2>
    <p class="hint">The Cloudflare API token a build deploys with (given to the build as <code>CLOUDFLARE_API_TOKEN</code>). Its secret is never shown again.</p>
    ${tokens.length > 0
      ? html`<table class="list compact"><thead><tr><th>Name</th><th>Cloudflare token id</th><th>UUID</th><th></th></tr></thead><tbody>
          ${tokens.map((t) => html`<tr key=${t.build_token_uuid} data-token=${t.build_token_name}><td data-label="Name">${t.build_token_name}</td><td data-label="Token id"><code>${t.cloudflare_token_id}</code></td><td data-label="UUID"><code class="muted">${t.build_token_uuid}</code></td>
            <td><button type="button" class="secondary small" ...${writeProps(access, action.busy)} onClick=${() => remove(t)}>Delete</button></td></tr>`)}
        </tbody></table>`
      : html`<p class="muted">No build token yet.</p>`}
    <details open=${tokens.length === 0}>
      <summary>Create a build token</summary>
      <form class="grid-form" id="token-form" onSubmit=${create}>
        <label>Name <input required ...${field("build_token_name")} placeholder="deploy" /></label>
        <label>Cloudflare token id <input required ...${field("cloudflare_token_id")} /></label>
        <label>Token secret <input required type="password" autocomplete="off" ...${field("build_token_secret")} /></label>
        <div class="actions"><button type="submit" ...${writeProps(access, action.busy)}>Create build token</button></div>
      </form>
    </details>
    <${Feedback} action=${action} title="The build token could not be changed" />
  </section>`;
}

function triggerFormState(trigger, kind, tokens, connections) {
  if (trigger) {
    return {
      trigger_name: trigger.trigger_name,
      repo_connection_uuid: trigger.repo_connection.repo_connection_uuid,
      build_token_uuid: trigger.build_token_uuid,
      branch_includes: joined(trigger.branch_includes),
      branch_excludes: joined(trigger.branch_excludes),
      path_includes: joined(trigger.path_includes),
      path_excludes: joined(trigger.path_excludes),
      build_command: trigger.build_command,
      deploy_command: trigger.deploy_command,
      root_directory: trigger.root_directory,
      build_caching_enabled: trigger.build_caching_enabled,
    };
  }
  const d = DEFAULTS[kind];
  return {
    trigger_name: d.trigger_name,
    repo_connection_uuid: connections[connections.length - 1]?.repo_connection_uuid ?? "",
    build_token_uuid: tokens[0]?.build_token_uuid ?? "",
    branch_includes: d.branch_includes,
    branch_excludes: d.branch_excludes,
    path_includes: "*",
    path_excludes: "",
    build_command: "",
    deploy_command: d.deploy_command,
    root_directory: "/",
    build_caching_enabled: true,
  };
}

function TriggerForm({ account, tag, access, trigger, kind, tokens, connections, onDone, onCancel }) {
  const action = useAction();
  const [form, setForm] = useState(() => triggerFormState(trigger, kind, tokens, connections));
  const field = (key) => ({ name: key, value: form[key], onInput: (e) => setForm({ ...form, [key]: e.currentTarget.value }) });
  const submit = (e) => {
    e.preventDefault();
    const body = {
      ...form,
      branch_includes: list(form.branch_includes),
      branch_excludes: list(form.branch_excludes),
      path_includes: list(form.path_includes),
      path_excludes: list(form.path_excludes),
    };
    void action.run(async () => {
      const r = trigger
        ? await api(`/accounts/${enc(account)}/builds/triggers/${enc(trigger.trigger_uuid)}`, { method: "PATCH", body })
        : await api(`/accounts/${enc(account)}/builds/triggers`, { method: "POST", body: { external_script_id: tag, ...body } });
      onDone(r.result);
      return r.result;
    }, trigger ? "Trigger saved." : "Trigger created.");
  };
  return html`<form class="grid-form trigger-form" data-kind=${kind} onSubmit=${submit}>
    ${!trigger && html`<h3>New ${kind} trigger</h3>`}
    <label>Name <input required ...${field("trigger_name")} /></label>
    <label>Repository
      <select name="repo_connection_uuid" value=${form.repo_connection_uuid} onChange=${(e) => setForm({ ...form, repo_connection_uuid: e.currentTarget.value })} required>
        <option value="">choose…</option>
        ${connections.map((c) => html`<option value=${c.repo_connection_uuid}>${c.provider_type} · ${c.provider_account_name}/${c.repo_name}</option>`)}
      </select>
    </label>
    <label>Build token
      <select name="build_token_uuid" value=${form.build_token_uuid} onChange=${(e) => setForm({ ...form, build_token_uuid: e.currentTarget.value })} required>
        <option value="">choose…</option>
        ${tokens.map((t) => html`<option value=${t.build_token_uuid}>${t.build_token_name}</option>`)}
      </select>
    </label>
    <label>Branches included <input ...${field("branch_includes")} placeholder="main" /></label>
    <label>Branches excluded <input ...${field("branch_excludes")} placeholder="none" /></label>
    <label>Paths included <input ...${field("path_includes")} placeholder="*" /></label>
    <label>Paths excluded <input ...${field("path_excludes")} placeholder="none" /></label>
    <label>Build command <input ...${field("build_command")} placeholder="none (e.g. npm run build)" /></label>
    <label>Deploy command <input required ...${field("deploy_command")} /></label>
    <label>Root directory <input required ...${field("root_directory")} /></label>
    <label class="check"><input type="checkbox" name="build_caching_enabled" checked=${form.build_caching_enabled} onChange=${(e) => setForm({ ...form, build_caching_enabled: e.currentTarget.checked })} /> Build cache (dependencies kept between builds)</label>
    <div class="actions">
      <button type="submit" ...${writeProps(access, action.busy)}>${trigger ? "Save trigger" : "Create trigger"}</button>
      ${onCancel && html`<button type="button" class="secondary" onClick=${onCancel}>Cancel</button>`}
    </div>
    <${Feedback} action=${action} title=${trigger ? "The trigger could not be saved" : "The trigger could not be created"} />
  </form>`;
}

function TriggerCard({ account, tag, access, trigger, kind, tokens, connections, onChange }) {
  const action = useAction();
  const purge = () =>
    void action.run(() => api(`/accounts/${enc(account)}/builds/triggers/${enc(trigger.trigger_uuid)}/purge_build_cache`, { method: "POST" }), "Build cache purged: the next build installs from scratch.");
  const remove = () => {
    if (!window.confirm(`Delete the trigger ${trigger.trigger_name}? Its builds stay; new pushes no longer build.`)) return;
    void action.run(async () => {
      await api(`/accounts/${enc(account)}/builds/triggers/${enc(trigger.trigger_uuid)}`, { method: "DELETE" });
      onChange();
    });
  };
  return html`<article class="trigger" data-trigger=${trigger.trigger_uuid} data-kind=${kind}>
    <header>
      <h3>${trigger.trigger_name} <span class="badge">${kind}</span></h3>
      <code class="muted">${trigger.trigger_uuid}</code>
    </header>
    <${TriggerForm} account=${account} tag=${tag} access=${access} trigger=${trigger} kind=${kind} tokens=${tokens} connections=${connections} onDone=${onChange} />
    <${Variables} account=${account} access=${access} trigger=${trigger} />
    <div class="actions">
      <button type="button" class="secondary purge" ...${writeProps(access, action.busy)} onClick=${purge}>Purge build cache</button>
      <button type="button" class="danger delete-trigger" ...${writeProps(access, action.busy)} onClick=${remove}>Delete trigger</button>
    </div>
    <${Feedback} action=${action} title="The trigger could not be changed" />
  </article>`;
}

function Variables({ account, access, trigger }) {
  const action = useAction();
  const [vars, setVars] = useState(null);
  const [form, setForm] = useState({ key: "", value: "", secret: false });
  const [nonce, setNonce] = useState(0);
  const base = `/accounts/${enc(account)}/builds/triggers/${enc(trigger.trigger_uuid)}/environment_variables`;
  useEffect(() => {
    const controller = new AbortController();
    api(base, { signal: controller.signal })
      .then((r) => setVars(r.result ?? {}))
      .catch((e) => e.name !== "AbortError" && action.run(() => Promise.reject(e)));
    return () => controller.abort();
  }, [trigger.trigger_uuid, nonce]);
  const add = (e) => {
    e.preventDefault();
    const key = form.key.trim();
    void action.run(async () => {
      const r = await api(base, { method: "PATCH", body: { [key]: { is_secret: form.secret, value: form.value } } });
      setForm({ key: "", value: "", secret: false });
      setNonce((n) => n + 1);
      return r;
    }, (r) => (r.messages?.length ? `${key} saved. ${r.messages.join(" ")}` : `${key} saved.`));
  };
  const remove = (key) =>
    void action.run(async () => {
      await api(`${base}/${enc(key)}`, { method: "DELETE" });
      setNonce((n) => n + 1);
    }, `${key} removed.`);
  const entries = Object.entries(vars ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return html`<div class="variables">
    <h4>Variables</h4>
    ${vars && entries.length === 0 && html`<p class="muted">None.</p>`}
    ${entries.length > 0 &&
    html`<table class="list compact vars"><tbody>
      ${entries.map(([key, v]) => html`<tr key=${key} data-var=${key}><td><code>${key}</code></td><td>${v.is_secret ? html`<span class="muted secret">secret (write-only)</span>` : html`<code>${v.value}</code>`}</td>
        <td><button type="button" class="secondary small" ...${writeProps(access, action.busy)} onClick=${() => remove(key)}>Remove</button></td></tr>`)}
    </tbody></table>`}
    <form class="inline-form var-form" onSubmit=${add}>
      <input name="key" required placeholder="KEY" pattern="[A-Za-z_][A-Za-z0-9_]*" value=${form.key} onInput=${(e) => setForm({ ...form, key: e.currentTarget.value })} />
      <input name="value" placeholder="value" type=${form.secret ? "password" : "text"} autocomplete="off" value=${form.value} onInput=${(e) => setForm({ ...form, value: e.currentTarget.value })} />
      <label class="check"><input type="checkbox" name="secret" checked=${form.secret} onChange=${(e) => setForm({ ...form, secret: e.currentTarget.checked })} /> secret</label>
      <button type="submit" ...${writeProps(access, action.busy)}>Set</button>
    </form>
    <${Feedback} action=${action} title="The variable could not be changed" />
  </div>`;
}

function DeployHooks({ account, access, name, hooks, onChange }) {
  const action = useAction();
  const [form, setForm] = useState({ deploy_hook_name: "", branch: "main" });
  const base = `/accounts/${enc(account)}/builds/workers/${enc(name ?? "")}/deploy_hooks`;
  const url = (h) => `${location.origin}/client/v4/workers/builds/deploy_hooks/${h.deploy_hook_uuid}`;
  const create = (e) => {
    e.preventDefault();
    void action.run(async () => {
      const r = (await api(base, { method: "POST", body: form })).result;
      setForm({ deploy_hook_name: "", branch: "main" });
      onChange();
      return r;
    }, (r) => `Deploy hook ${r.deploy_hook_name} created: POST ${url(r)} builds ${r.branch}.`);
  };
  const remove = (h) => {
    if (!window.confirm(`Delete the deploy hook ${h.deploy_hook_name}? Its URL stops working.`)) return;
    void action.run(async () => {
      await api(`${base}/${enc(h.deploy_hook_uuid)}`, { method: "DELETE" });
      onChange();
    }, "Deploy hook deleted.");
  };
  return html`<section class="card" id="deploy-hooks">
    <h2>Deploy hooks</h2>
    <p class="hint">A URL that builds a branch when anything POSTs to it (a CMS, a cron job). Anyone with the URL can start a build: keep it secret.</p>
    ${hooks.length > 0
      ? html`<table class="list compact"><thead><tr><th>Name</th><th>Branch</th><th>URL</th><th>Last used</th><th></th></tr></thead><tbody>
        ${hooks.map((h) => html`<tr key=${h.deploy_hook_uuid} data-hook=${h.deploy_hook_name}><td data-label="Name">${h.deploy_hook_name}</td><td data-label="Branch"><code>${h.branch}</code></td>
          <td data-label="URL"><code class="hook-url">${url(h)}</code></td>
          <td data-label="Last used">${h.latest_build ? html`<${When} iso=${h.latest_build.created_on} />` : html`<span class="muted">never</span>`}</td>
          <td><button type="button" class="secondary small" ...${writeProps(access, action.busy)} onClick=${() => remove(h)}>Delete</button></td></tr>`)}
      </tbody></table>`
      : html`<p class="muted">No deploy hook.</p>`}
    <form class="inline-form" id="hook-form" onSubmit=${create}>
      <input name="deploy_hook_name" required placeholder="name" value=${form.deploy_hook_name} onInput=${(e) => setForm({ ...form, deploy_hook_name: e.currentTarget.value })} />
      <input name="branch" required placeholder="branch" value=${form.branch} onInput=${(e) => setForm({ ...form, branch: e.currentTarget.value })} />
      <button type="submit" ...${writeProps(access, action.busy || !name)}>Create deploy hook</button>
    </form>
    <${Feedback} action=${action} title="The deploy hook could not be changed" />
  </section>`;
}

/** Run build: a trigger of the Worker and a branch or a commit; opens the new build. */
export function RunBuild({ account, tag, onClose }) {
  const access = useAccess(account);
  const action = useAction();
  const [triggers, setTriggers] = useState(null);
  const [form, setForm] = useState({ trigger: "", by: "branch", ref: "" });
  useEffect(() => {
    const controller = new AbortController();
    api(`/accounts/${enc(account)}/builds/workers/${enc(tag)}/triggers`, { signal: controller.signal })
      .then((r) => {
        const list = r.result ?? [];
        setTriggers(list);
        const first = list[0];
        if (first) setForm((f) => ({ ...f, trigger: first.trigger_uuid, ref: f.ref || (first.branch_includes.find((b) => !b.includes("*")) ?? "main") }));
      })
      .catch((e) => e.name !== "AbortError" && action.run(() => Promise.reject(e)));
    return () => controller.abort();
  }, [account, tag]);
  const submit = (e) => {
    e.preventDefault();
    void action.run(async () => {
      const body = form.by === "branch" ? { branch: form.ref.trim() } : { commit_hash: form.ref.trim() };
      const r = (await api(`/accounts/${enc(account)}/builds/triggers/${enc(form.trigger)}/builds`, { method: "POST", body })).result;
      navigate(paths.build(account, tag, r.build_uuid));
      return r;
    });
  };
  return html`<form class="card inline-form run-build" id="run-build-form" onSubmit=${submit}>
    <strong>Run build</strong>
    ${triggers && triggers.length === 0 && html`<span class="muted">No trigger: <${Link} href=${paths.settings(account, tag)}>add one in Settings</${Link}>.</span>`}
    <label>Trigger <select name="trigger" value=${form.trigger} onChange=${(e) => setForm({ ...form, trigger: e.currentTarget.value })}>
      ${(triggers ?? []).map((t) => html`<option value=${t.trigger_uuid}>${t.trigger_name}</option>`)}
    </select></label>
    <select name="by" aria-label="Build a branch or a commit" value=${form.by} onChange=${(e) => setForm({ ...form, by: e.currentTarget.value })}>
      <option value="branch">branch</option><option value="commit">commit</option>
    </select>
    <input name="ref" required placeholder=${form.by === "branch" ? "main" : "commit hash"} value=${form.ref} onInput=${(e) => setForm({ ...form, ref: e.currentTarget.value })} />
    <button type="submit" ...${writeProps(access, action.busy || !form.trigger)}>Start</button>
    <button type="button" class="secondary" onClick=${onClose}>Close</button>
    <${Feedback} action=${action} title="The build could not be started" />
  </form>`;
}


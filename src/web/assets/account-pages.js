// Account pages: the webhook deliveries Kiln recorded (Kiln's extension) and the account's limits.
import { useState } from "preact/hooks";
import { api, enc } from "./api.js";
import { Ago, ErrorBox, html, Link, paths, useNow, usePoll, useTitle, When } from "./ui.js";

export function Deliveries({ account, nav }) {
  useTitle("Webhook deliveries");
  const [list, setList] = useState(null);
  const now = useNow();
  // A delivery that builds nothing makes no build event: this list polls every second while the
  // tab is visible, whatever live.js uses.
  const { error } = usePoll(
    async (signal) => {
      if (document.visibilityState === "visible") setList((await api(`/accounts/${enc(account)}/builds/webhook_deliveries?per_page=100`, { signal })).result ?? []);
      return 1000;
    },
    [account],
  );
  return html`<main>
    <nav class="crumbs"><span>Account <code>${account}</code></span></nav>
    ${nav}
    <h1>Webhook deliveries</h1>
    <p class="hint">The GitHub and GitLab deliveries this account received, newest first (the last 1000 are kept), with what each one did.</p>
    <${ErrorBox} error=${error} />
    ${list === null && !error && html`<p class="muted">Loading…</p>`}
    ${list && list.length === 0 && html`<p class="empty">No delivery yet. Point a repository's webhook at <code>/webhooks/github/${account}</code> or <code>/webhooks/gitlab/${account}</code>.</p>`}
    ${list &&
    list.length > 0 &&
    html`<table class="list deliveries">
      <thead><tr><th>Received</th><th>Provider</th><th>Event</th><th>Answer</th><th>Outcome</th><th>Builds</th><th>Delivery id</th></tr></thead>
      <tbody>
        ${list.map(
          (d) => html`<tr key=${d.id} data-delivery=${d.delivery_id ?? d.id}>
            <td data-label="Received"><${Ago} iso=${d.received_on} now=${now} /></td>
            <td data-label="Provider">${d.provider}</td>
            <td data-label="Event"><code>${d.event}</code></td>
            <td data-label="Answer"><code>${d.status}</code></td>
            <td data-label="Outcome"><span class=${`badge delivery-${d.outcome}`}>${d.outcome.replaceAll("_", " ")}</span>${d.detail && html` <span class="muted">${d.detail}</span>`}</td>
            <td data-label="Builds">
              ${d.builds.map((b) => html`<${Link} href=${paths.build(account, b.external_script_id, b.build_uuid)}><code>${b.build_uuid.slice(0, 8)}</code></${Link}> `)}
              ${d.skipped.map((s) => html`<span class="muted" title=${`trigger ${s.trigger_uuid}`}>skipped: ${s.reason.replaceAll("_", " ")} </span>`)}
              ${d.builds.length === 0 && d.skipped.length === 0 && "—"}
            </td>
            <td data-label="Delivery id"><code class="muted">${d.delivery_id ?? "—"}</code></td>
          </tr>`,
        )}
      </tbody>
    </table>`}
  </main>`;
}

export function Limits({ account, nav }) {
  useTitle("Limits");
  const [limits, setLimits] = useState(null);
  const { error } = usePoll(async (signal) => {
    setLimits((await api(`/accounts/${enc(account)}/builds/account/limits`, { signal })).result);
    return 30000;
  }, [account]);
  const unlimited = limits && limits.has_reached_build_minutes_limit === null;
  return html`<main>
    <nav class="crumbs"><span>Account <code>${account}</code></span></nav>
    ${nav}
    <h1>Limits</h1>
    <${ErrorBox} error=${error} />
    ${limits === null && !error && html`<p class="muted">Loading…</p>`}
    ${limits &&
    html`<dl class="meta limits">
      <dt>Build minutes</dt>
      <dd data-limit="minutes">${unlimited ? "unlimited (no monthly limit set)" : limits.has_reached_build_minutes_limit ? html`<strong class="bad">limit reached</strong>: builds fail until it refreshes` : "within this month's limit"}</dd>
      <dt>Refreshes</dt><dd>${limits.build_minutes_refresh_on ? html`<${When} iso=${limits.build_minutes_refresh_on} />` : "—"}</dd>
    </dl>
    <p class="hint">Set on the server with <code>kiln account set-limits</code>; Cloudflare's plans set them there.</p>`}
  </main>`;
}

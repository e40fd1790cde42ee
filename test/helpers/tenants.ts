/**
 * A fully configured account for the reliability suites: a Worker with a build configuration
 * (connection, production trigger), Previews enabled with one Preview, variables (one secret),
 * a deploy hook and a queued build — every kind of resource a path can name — created through
 * the API itself. `ids` maps each path parameter name of the route table to this account's id.
 */
import assert from "node:assert/strict";
import type { Harness } from "./harness.ts";
import { seedBuildToken } from "./fixtures.ts";
import { createPreview } from "../../src/domain/previews.ts";
import { newHexId, newUuid } from "../../src/domain/ids.ts";

export interface Tenant {
  accountId: string;
  write: string;
  read: string;
  workerName: string;
  /** Path parameter name → this tenant's value. */
  ids: Record<string, string>;
  secrets: string[];
}

export async function seedTenant(h: Harness, name: string, repoName: string, repoId: string): Promise<Tenant> {
  const account = await h.account(name);
  const write = (await h.token([account.id], ["Workers CI Write", "Workers CI Read"], { name: `${name}-write` })).value;
  const read = (await h.token([account.id], ["Workers CI Read"], { name: `${name}-read` })).value;
  const workerName = `${name}-app`;
  const worker = await h.worker(account.id, workerName);
  const tokenSecret = `cf-token-secret-${name}-${newUuid()}`;
  const { token } = await seedBuildToken(h, account.id, tokenSecret);
  const base = `/client/v4/accounts/${account.id}/builds`;
  const varSecret = `var-secret-${name}-${newUuid()}`;
  const created = await h.call("POST", `${base}/workers`, {
    token: write,
    body: {
      script_tag: worker.tag,
      git_repository: { provider_type: "github", provider_account_id: "315958746", provider_account_name: "acme", repo_id: repoId, repo_name: repoName, branch: "main" },
      production_settings: {
        build_command: "echo build",
        deploy_command: "echo deploy",
        build_token_uuid: token.build_token_uuid,
        environment_variables: { API_SECRET: { is_secret: true, value: varSecret }, [`MODE_${name.toUpperCase()}`]: { is_secret: false, value: "production" } },
      },
      previews_enabled: true,
      previews_base_config: { build_command: "echo build", deploy_command: "npx wrangler preview", build_token_uuid: token.build_token_uuid },
    },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const trigger = (await h.store.triggers.listByWorker(account.id, worker.tag))[0];
  assert.ok(trigger);
  const preview = await h.store.transaction((r) => createPreview(r, account.id, worker.tag, "feature"));
  const hook = await h.call("POST", `${base}/workers/${workerName}/deploy_hooks`, { token: write, body: { deploy_hook_name: "nightly", branch: "main" } });
  assert.equal(hook.status, 200, JSON.stringify(hook.body));
  const build = await h.call("POST", `${base}/triggers/${trigger.trigger_uuid}/builds`, { token: write, body: { branch: "main" } });
  assert.equal(build.status, 200, JSON.stringify(build.body));
  return {
    accountId: account.id,
    write,
    read,
    workerName,
    secrets: [tokenSecret, varSecret],
    ids: {
      account_id: account.id,
      trigger_uuid: trigger.trigger_uuid,
      external_script_id: worker.tag,
      script_tag: worker.tag,
      script_name: workerName,
      preview_id: preview.preview_id,
      build_uuid: build.body.result.build_uuid,
      deploy_hook_uuid: hook.body.result.deploy_hook_uuid,
      repo_connection_uuid: trigger.repo_connection_uuid,
      build_token_uuid: token.build_token_uuid,
      environment_variable_key: `MODE_${name.toUpperCase()}`,
      provider_type: "github",
      provider_account_id: "315958746",
      repo_id: repoId,
    },
  };
}

/** Ids of the same formats that name nothing. */
export function missingIds(): Record<string, string> {
  return {
    account_id: newHexId(),
    trigger_uuid: newUuid(),
    external_script_id: newHexId(),
    script_tag: newHexId(),
    script_name: "no-such-worker",
    preview_id: newHexId(),
    build_uuid: newUuid(),
    deploy_hook_uuid: newUuid(),
    repo_connection_uuid: newUuid(),
    build_token_uuid: newUuid(),
    environment_variable_key: "NO_SUCH_KEY",
    provider_type: "github",
    provider_account_id: "999999999",
    repo_id: "999999999",
  };
}

/** `/a/:b/c` with the params filled in (each value URL-encoded). */
export function fillPath(path: string, values: Record<string, string>): string {
  return path.replace(/:(\w+)/g, (_, name: string) => encodeURIComponent(values[name] ?? "x"));
}

/**
 * A digest of every row that belongs to `accountId` (configuration, builds, their logs and
 * variables, deliveries), or of the whole database without one: equal digests, equal data.
 */
export async function digest(h: Harness, accountId?: string, exclude: string[] = []): Promise<string> {
  const db = h.store.db.kysely;
  const all = ["accounts", "api_tokens", "workers", "repo_connections", "build_tokens", "triggers", "worker_previews", "previews", "deploy_hooks", "builds", "webhook_deliveries", "env_vars", "build_logs", "users", "account_members"] as const;
  const tables = all.filter((t) => !exclude.includes(t));
  const parts: string[] = [];
  for (const table of tables) {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a generic dump of any table
    let rows = (await db.selectFrom(table as any).selectAll().execute()) as Record<string, unknown>[];
    if (accountId) {
      if (table === "accounts") rows = rows.filter((r) => r.id === accountId);
      else if (table === "api_tokens") rows = rows.filter((r) => String(r.account_ids).includes(accountId));
      else if (table === "env_vars" || table === "build_logs" || table === "users" || table === "account_members") {
        const owned = new Set<string>();
        for (const t of ["triggers", "previews", "builds", "worker_previews"] as const) {
          // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
          for (const r of (await db.selectFrom(t as any).selectAll().execute()) as Record<string, unknown>[]) {
            if (r.account_id === accountId) owned.add(String(r.uuid ?? r.preview_id ?? r.worker_tag));
          }
        }
        rows = table === "account_members" ? rows.filter((r) => r.account_id === accountId) : table === "users" ? [] : rows.filter((r) => owned.has(String(r.owner_id ?? r.build_uuid)));
      } else rows = rows.filter((r) => r.account_id === accountId);
    }
    parts.push(`${table}:${rows.map((r) => JSON.stringify(r, (_, v) => (typeof v === "bigint" ? String(v) : v))).sort().join("\n")}`);
  }
  const { createHash } = await import("node:crypto");
  return createHash("sha256").update(parts.join("\n#\n")).digest("hex");
}

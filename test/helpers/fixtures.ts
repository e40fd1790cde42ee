/** Configuration rows for tests, inserted through the repositories (not the API under test). */
import type { BuildToken, RepoConnection } from "../../src/domain/config-types.ts";
import type { Build } from "../../src/domain/build-types.ts";
import { newUuid } from "../../src/domain/ids.ts";
import type { Worker } from "../../src/domain/types.ts";
import type { Harness } from "./harness.ts";

export interface Seeded {
  worker: Worker;
  connection: RepoConnection;
  buildToken: BuildToken;
  buildTokenSecret: string;
}

export async function seedConnection(
  h: Harness,
  accountId: string,
  repo = { name: "app", id: String(1_000_000_000 + Math.floor(Math.random() * 1_000_000_000)) },
  providerType: RepoConnection["provider_type"] = "github",
): Promise<RepoConnection> {
  const now = new Date().toISOString();
  const connection: RepoConnection = {
    repo_connection_uuid: newUuid(),
    account_id: accountId,
    provider_type: providerType,
    provider_account_id: "315958746",
    provider_account_name: "acme",
    repo_id: repo.id,
    repo_name: repo.name,
    grant_id: null,
    created_on: now,
    modified_on: now,
    deleted_on: null,
  };
  await h.store.transaction((r) => r.repoConnections.insert(connection));
  return connection;
}

export async function seedBuildToken(h: Harness, accountId: string, secret = `cf-secret-${newUuid()}`): Promise<{ token: BuildToken; secret: string }> {
  const now = new Date().toISOString();
  const token: BuildToken = {
    build_token_uuid: newUuid(),
    account_id: accountId,
    build_token_name: "deploy token",
    cloudflare_token_id: "cf-token-id",
    owner_type: "user",
    created_on: now,
    modified_on: now,
    deleted_on: null,
  };
  await h.store.transaction((r) => r.buildTokens.insert(token, secret));
  return { token, secret };
}

export async function seed(h: Harness, accountId: string, workerName = "my-worker"): Promise<Seeded> {
  const worker = await h.worker(accountId, workerName);
  const connection = await seedConnection(h, accountId);
  const { token, secret } = await seedBuildToken(h, accountId);
  return { worker, connection, buildToken: token, buildTokenSecret: secret };
}

/** A valid #13 body for the seeded Worker. */
export function triggerBody(s: Seeded, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    external_script_id: s.worker.tag,
    trigger_name: "Deploy main",
    repo_connection_uuid: s.connection.repo_connection_uuid,
    build_token_uuid: s.buildToken.build_token_uuid,
    build_command: "npm run build",
    deploy_command: "npx wrangler deploy",
    root_directory: "/",
    branch_includes: ["main"],
    branch_excludes: [],
    path_includes: ["*"],
    path_excludes: [],
    ...overrides,
  };
}

/**
 * A build row of a seeded trigger, for tests that need builds in a given state without running
 * them (listing filters, retention): stored directly, with `stopped_on` when an outcome is given.
 */
export function storedBuild(
  s: Seeded,
  accountId: string,
  triggerUuid: string,
  o: { branch?: string; outcome?: Build["build_outcome"]; createdOn: string; stoppedOn?: string | null; status?: Build["status"] },
): Build {
  const stopped = o.outcome ? (o.stoppedOn ?? o.createdOn) : null;
  return {
    build_uuid: newUuid(), account_id: accountId, worker_tag: s.worker.tag, trigger_uuid: triggerUuid, preview_id: null,
    status: o.status ?? (o.outcome ? "stopped" : "queued"), build_outcome: o.outcome ?? null,
    created_on: o.createdOn, initializing_on: null, running_on: null, stopped_on: stopped, modified_on: stopped ?? o.createdOn,
    metadata: {
      build_trigger_source: "api", branch: o.branch ?? "main", commit_hash: "b".repeat(40), commit_message: "m", author: "a@b",
      build_command: "", deploy_command: "x", root_directory: "/", build_token_uuid: s.buildToken.build_token_uuid, build_token_name: "t",
      build_caching_enabled: false, provider_type: "github", provider_account_id: "1", provider_account_name: "acme", repo_id: "1", repo_name: "r",
    },
    deploy_hook: null, pull_request: null, runner_id: null, lease_expires_on: null, cancel_requested_on: null, cancel_requested_by: null,
    version_id: null, preview_url: null, log_lines: 0,
  };
}

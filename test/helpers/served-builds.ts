/**
 * Builds through a real `kiln serve` process (not the in-process harness): the bootstrap
 * token, a Worker made with the admin CLI, and a production trigger made over HTTP.
 */
import assert from "node:assert/strict";
import { kiln } from "./cli.ts";
import { waitFor } from "./builds.ts";

export interface Served {
  base: string;
  stdout: () => string;
}

export interface ServedTrigger {
  account: string;
  token: string;
  trigger: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are checked by the tests
  api: (method: string, path: string, body?: unknown) => Promise<{ status: number; body: any }>;
  /** Starts a build of main; resolves with its uuid. */
  start: () => Promise<string>;
  /** The build's row as the API shows it. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- checked by the tests
  build: (uuid: string) => Promise<any>;
}

export async function servedTrigger(server: Served, dbFlags: string[], name: string, buildCommand: string, repoName = name): Promise<ServedTrigger> {
  await waitFor("the bootstrap block", async () => server.stdout().includes("curl"));
  const token = /^token=(\S+)$/m.exec(server.stdout())?.[1] ?? "";
  const account = /^account_id=(\S+)$/m.exec(server.stdout())?.[1] ?? "";
  const api: ServedTrigger["api"] = async (method, path, body) => {
    const r = await fetch(`${server.base}/client/v4${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: r.status, body: await r.json() };
  };
  const worker = await kiln(["worker", "create", "--account", account, "--name", name, "--json", ...dbFlags]);
  const tag = JSON.parse(worker.stdout).tag as string;
  const bt = await api("POST", `/accounts/${account}/builds/tokens`, { build_token_name: "t", build_token_secret: "s3cr3t-token", cloudflare_token_id: "x" });
  assert.equal(bt.status, 200, JSON.stringify(bt.body));
  const created = await api("POST", `/accounts/${account}/builds/workers`, {
    script_tag: tag,
    git_repository: { provider_type: "github", provider_account_id: "1", provider_account_name: "acme", repo_id: "42", repo_name: repoName, branch: "main" },
    production_settings: { build_command: buildCommand, deploy_command: "true", build_token_uuid: bt.body.result.build_token_uuid },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const triggers = await api("GET", `/accounts/${account}/builds/workers/${tag}/triggers`);
  const trigger = triggers.body.result[0].trigger_uuid as string;
  return {
    account,
    token,
    trigger,
    api,
    async start() {
      const started = await api("POST", `/accounts/${account}/builds/triggers/${trigger}/builds`, { branch: "main" });
      assert.equal(started.status, 200, JSON.stringify(started.body));
      return started.body.result.build_uuid as string;
    },
    async build(uuid) {
      return (await api("GET", `/accounts/${account}/builds/builds/${uuid}`)).body.result;
    },
  };
}

/**
 * A production trigger made over HTTP against a running server, for a Worker that exists: the
 * repository connection, a build token and the trigger (#13), with `token` (Workers CI Write).
 * Throws with the answer when a step is refused.
 */
export async function httpTrigger(
  base: string,
  token: string,
  account: string,
  opts: { workerTag: string; repoId: string; repoName: string; buildCommand?: string; deployCommand?: string },
): Promise<{ triggerUuid: string; api: (path: string, method: string, body: unknown) => Promise<Record<string, string>> }> {
  const api = async (path: string, method: string, body: unknown) => {
    const r = await fetch(`${base}/client/v4/accounts/${account}/builds${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const json = (await r.json()) as { success: boolean; result: Record<string, string> };
    if (!json.success) throw new Error(`${method} ${path}: ${JSON.stringify(json)}`);
    return json.result;
  };
  const conn = await api("/repos/connections", "PUT", { provider_type: "github", provider_account_id: "1", provider_account_name: "acme", repo_id: opts.repoId, repo_name: opts.repoName });
  const bt = await api("/tokens", "POST", { build_token_name: "t", build_token_secret: "cf-secret-value", cloudflare_token_id: "cf" });
  const trigger = await api("/triggers", "POST", {
    external_script_id: opts.workerTag, trigger_name: "production", repo_connection_uuid: conn.repo_connection_uuid, build_token_uuid: bt.build_token_uuid,
    build_command: opts.buildCommand ?? "", deploy_command: opts.deployCommand ?? "echo deployed", root_directory: "/",
    branch_includes: ["main"], branch_excludes: [], path_includes: ["*"], path_excludes: [],
  });
  return { triggerUuid: trigger.trigger_uuid as string, api };
}

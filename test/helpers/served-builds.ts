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

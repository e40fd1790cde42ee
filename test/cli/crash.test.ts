/**
 * Crash safety: `kill -9` of the server in the middle of a build. The build's processes die
 * with it (the sandbox's parent-death signal), and the next start stops the build as
 * `terminated` with a final log line instead of leaving it `running` forever.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { buildProcesses, waitFor } from "../helpers/builds.ts";
import { kiln, startServer, sweepKilledNetworks } from "../helpers/cli.ts";
import { makeDatabase, type TestDatabase } from "../helpers/databases.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";

describe("sqlite: kill -9 of the server mid-build", () => {
  let db: TestDatabase;
  let repo: TestRepo;
  before(async () => {
    db = await makeDatabase("sqlite");
    repo = makeRepo({ name: "crash", files: { "a.txt": "a" } });
  });
  after(async () => {
    await db.cleanup();
    repo.cleanup();
    // Servers and runners killed with SIGKILL leave their (spare) network namespaces: removed here.
    await sweepKilledNetworks();
  });

  it("leaves no process behind, and the restart stops the build as terminated", async () => {
    const env = { KILN_GIT_URL_TEMPLATE: repo.template };
    const server = await startServer(db.flags, env);
    await waitFor("the bootstrap block", async () => server.stdout().includes("curl"));
    const token = /^token=(\S+)$/m.exec(server.stdout())?.[1] ?? "";
    const account = /^account_id=(\S+)$/m.exec(server.stdout())?.[1] ?? "";
    const api = async (method: string, path: string, body?: unknown) => {
      const r = await fetch(`${server.base}/client/v4${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- checked below
      return { status: r.status, body: (await r.json()) as any };
    };

    const worker = await kiln(["worker", "create", "--account", account, "--name", "crash", "--json", ...db.flags]);
    const tag = JSON.parse(worker.stdout).tag as string;
    const bt = await api("POST", `/accounts/${account}/builds/tokens`, { build_token_name: "t", build_token_secret: "s3cr3t-token", cloudflare_token_id: "x" });
    assert.equal(bt.status, 200, JSON.stringify(bt.body));
    const created = await api("POST", `/accounts/${account}/builds/workers`, {
      script_tag: tag,
      git_repository: { provider_type: "github", provider_account_id: "1", provider_account_name: "acme", repo_id: "42", repo_name: "crash", branch: "main" },
      production_settings: { build_command: "(setsid sleep 300 &); echo started; sleep 300", deploy_command: "true", build_token_uuid: bt.body.result.build_token_uuid },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const triggers = await api("GET", `/accounts/${account}/builds/workers/${tag}/triggers`);
    const trigger = triggers.body.result[0].trigger_uuid as string;
    const started = await api("POST", `/accounts/${account}/builds/triggers/${trigger}/builds`, { branch: "main" });
    assert.equal(started.status, 200, JSON.stringify(started.body));
    const uuid = started.body.result.build_uuid as string;
    await waitFor("the build to run", async () => (await api("GET", `/accounts/${account}/builds/builds/${uuid}`)).body.result.status === "running" && buildProcesses(uuid).length >= 2);

    server.child.kill("SIGKILL");
    await server.exited;
    await waitFor("every process of the build to die with the server", async () => buildProcesses(uuid).length === 0, 10_000);

    const again = await startServer(db.flags, env);
    try {
      const api2 = async (path: string) => {
        const r = await fetch(`${again.base}/client/v4${path}`, { headers: { authorization: `Bearer ${token}` } });
        // eslint-disable-next-line @typescript-eslint/no-explicit-any -- checked below
        return (await r.json()) as any;
      };
      const b = await waitFor("the build to be stopped", async () => {
        const r = await api2(`/accounts/${account}/builds/builds/${uuid}`);
        return r.result.status === "stopped" ? r.result : undefined;
      }, 10_000);
      assert.equal(b.build_outcome, "terminated");
      const logs = await api2(`/accounts/${account}/builds/builds/${uuid}/logs`);
      const last = logs.result.lines.at(-1)[1] as string;
      assert.match(last, /^Build was terminated: its runner \(.+\) stopped before the build finished$/);
    } finally {
      again.child.kill("SIGTERM");
      await again.exited;
    }
  });
});

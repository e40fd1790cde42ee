/**
 * Crash safety: `kill -9` of the server in the middle of a build. The build's processes die
 * with it (the sandbox's parent-death signal), so does the slirp4netns of its network (its exit
 * pipe), the next start removes the network namespaces it left, and stops the build as
 * `terminated` with a final log line instead of leaving it `running` forever.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { detectNetwork } from "../../src/runner/build-network.ts";
import { detectSandbox } from "../../src/runner/sandbox.ts";
import { buildProcesses, waitFor } from "../helpers/builds.ts";
import fs from "node:fs";
import path from "node:path";
import { startServer, sweepKilledNetworks } from "../helpers/cli.ts";
import { servedTrigger } from "../helpers/served-builds.ts";
import { makeDatabase, type TestDatabase } from "../helpers/databases.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";

const sandbox = await detectSandbox();
const isolated = sandbox.mode === "bubblewrap" && (await detectNetwork()).isolated;

/** Network namespaces a Kiln process of this pid made (build-network.ts names them kiln-<pid>-…). */
const netnsOf = (pid: number) => (fs.existsSync("/run/netns") ? fs.readdirSync("/run/netns").filter((n) => n.startsWith(`kiln-${pid}-`)) : []);

/** Live slirp4netns processes attached to those namespaces. */
function slirpsOf(pid: number): number[] {
  return fs
    .readdirSync("/proc")
    .filter((e) => /^\d+$/.test(e))
    .filter((e) => {
      try {
        const stat = fs.readFileSync(`/proc/${e}/stat`, "utf8");
        return !/\) Z /.test(stat) && fs.readFileSync(`/proc/${e}/cmdline`, "utf8").includes(`/run/netns/kiln-${pid}-`);
      } catch {
        return false;
      }
    })
    .map(Number);
}

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
    const t = await servedTrigger(server, db.flags, "crash", "(setsid sleep 300 &); echo started; sleep 300");
    const { token, account } = t;
    const uuid = await t.start();
    const workspace = path.join(db.dataDir, "work", uuid);
    await waitFor("the build to run", async () => (await t.build(uuid)).status === "running" && buildProcesses(uuid).length >= 2);

    const pid = server.child.pid as number;
    // The build's network (and the runner's spare one) exist while the server runs.
    if (isolated) assert.ok(netnsOf(pid).length > 0 && slirpsOf(pid).length > 0, `networks of ${pid}: ${netnsOf(pid).join(", ")}`);
    server.child.kill("SIGKILL");
    await server.exited;
    await waitFor("every process of the build to die with the server", async () => buildProcesses(uuid).length === 0, 10_000);
    // slirp4netns exits when the server's end of its exit pipe closes: none outlives the server.
    await waitFor("the server's slirp4netns to exit", async () => slirpsOf(pid).length === 0, 10_000);
    assert.ok(fs.existsSync(workspace), "the killed server left the build's workspace");

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
      // The restart removed the workspace the killed server left, and said so.
      assert.equal(fs.existsSync(workspace), false, "orphaned workspace removed at start");
      assert.match(again.stderr(), /"workspaces_removed":1[,}]/);
      // And the network namespaces the killed server left.
      if (isolated) {
        assert.deepEqual(netnsOf(pid), [], "the killed server's network namespaces are removed at the next start");
        assert.match(again.stderr(), /"network_namespaces_removed":[1-9]\d*[,}]/);
      }
    } finally {
      again.child.kill("SIGTERM");
      await again.exited;
    }
  });
});

/**
 * A fleet on PostgreSQL, with real processes: two API nodes (`kiln serve --no-runner`)
 * and three runner nodes (`kiln runner`), each with its own data dir, sharing one database.
 * Claims, per-account concurrency across runners, cancel through either API node, a runner
 * killed with SIGKILL, a runner cut off from the database (frozen past its lease, its database
 * connections killed), and logs read through the node that did not run the build.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, describe, it } from "node:test";
import { sql } from "kysely";
import { createAccount, createToken, createWorker } from "../../src/domain/admin.ts";
import { openStore, type Store } from "../../src/store/index.ts";
import { newUuid } from "../../src/domain/ids.ts";
import { makeDatabase, tempDir, type TestDatabase } from "../helpers/databases.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";
import { startRunner, startServer, sweepKilledNetworks } from "../helpers/cli.ts";
import { buildProcesses, waitFor } from "../helpers/builds.ts";

const PG = process.env.KILN_TEST_DATABASE_URL;
const LEASE_TTL = 3;

type Runner = Awaited<ReturnType<typeof startRunner>>;
type Api = Awaited<ReturnType<typeof startServer>>;

describe("fleet on PostgreSQL: 2 API nodes, 3 runners", { skip: PG ? false : "skipped: KILN_TEST_DATABASE_URL is not set (the fleet needs PostgreSQL)" }, () => {
  let db: TestDatabase;
  let repo: TestRepo;
  let store: Store;
  const apis: Api[] = [];
  const runners: Runner[] = [];
  const accounts: { id: string; token: string; trigger: string; limit: number }[] = [];
  let branchCounter = 0;

  let runnerCounter = 0;
  const appNames = new Map<Runner, string>();
  /** Each runner names its database connections, so the test can cut exactly one off. */
  const startNamedRunner = async () => {
    const name = `kiln-runner-${++runnerCounter}`;
    const url = new URL(db.database as string);
    url.searchParams.set("application_name", name);
    const r = await startRunner(runnerArgs(url.toString()));
    appNames.set(r, name);
    return r;
  };
  /** Each runner's data dir (work dirs, mirrors), removed after the file. */
  const runnerDirs: string[] = [];
  const runnerDir = () => {
    const dir = tempDir("kiln-runner-");
    runnerDirs.push(dir);
    return dir;
  };
  const runnerArgs = (database: string) => [
    "--database", database,
    "--secret-key", db.secretKey,
    "--data-dir", runnerDir(),
    "--slots", "3",
    "--lease-ttl", String(LEASE_TTL),
    "--cancel-grace", "1",
    "--drain-timeout", "0",
    "--git-url-template", repo.template,
  ];

  before(async () => {
    db = await makeDatabase("postgres");
    repo = makeRepo({ name: "fleet", files: { "package.json": "{}" } });
    store = await openStore({ database: db.database, dataDir: db.dataDir, secretKey: Buffer.from(db.secretKey, "base64") });
    // Two API nodes first (the first applies the migrations), then three runners.
    for (let i = 0; i < 2; i++) {
      apis.push(await startServer([...db.flags, "--no-runner", "--lease-ttl", String(LEASE_TTL), "--git-url-template", repo.template]));
    }
    for (let i = 0; i < 3; i++) runners.push(await startNamedRunner());

    for (const [name, limit] of [["alpha", 3], ["beta", 2]] as const) {
      const account = await store.transaction((r) => createAccount(r, name));
      await store.accounts.setLimits(account.id, { concurrency_limit: limit });
      const { value } = await store.transaction((r) => createToken(r, { accountIds: [account.id], name: "ci", permissionGroups: ["Workers CI Write", "Workers CI Read"] }));
      const worker = await store.transaction((r) => createWorker(r, account.id, `${name}-worker`));
      const api = (p: string, method: string, body: unknown) => call(apis[0] as Api, value, `/accounts/${account.id}/builds${p}`, method, body);
      const conn = await api("/repos/connections", "PUT", { provider_type: "github", provider_account_id: "1", provider_account_name: "acme", repo_id: `fleet-${name}`, repo_name: "fleet" });
      const tok = await api("/tokens", "POST", { build_token_name: "t", build_token_secret: `cf-${newUuid()}`, cloudflare_token_id: "cf" });
      const trig = await api("/triggers", "POST", {
        external_script_id: worker.tag, trigger_name: "p", repo_connection_uuid: conn.result.repo_connection_uuid, build_token_uuid: tok.result.build_token_uuid,
        // The command comes from each build's branch: a file per branch says what to run.
        build_command: "sh ./run.sh", deploy_command: "true", root_directory: "/", branch_includes: ["*"], branch_excludes: [], path_includes: ["*"], path_excludes: [],
      });
      assert.ok(trig.success, JSON.stringify(trig));
      accounts.push({ id: account.id, token: value, trigger: trig.result.trigger_uuid, limit });
    }
  });

  after(async () => {
    for (const p of [...runners, ...apis]) p.child.kill("SIGKILL");
    await Promise.all([...runners, ...apis].map((p) => p.exited));
    await store?.close();
    await db?.cleanup();
    repo?.cleanup();
    for (const dir of runnerDirs) fs.rmSync(dir, { recursive: true, force: true });
    // Servers and runners killed with SIGKILL leave their (spare) network namespaces: removed here.
    await sweepKilledNetworks();
  });

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are checked by the tests
  async function call(api: Api, token: string, p: string, method = "GET", body?: unknown): Promise<any> {
    const r = await fetch(`${api.base}/client/v4${p}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return r.json();
  }

  /** A branch whose run.sh is `script`; builds of distinct branches never supersede each other. */
  function branchWith(script: string): string {
    const branch = `b${++branchCounter}`;
    repo.commit({ "run.sh": `${script}\n` }, branch, { branch, from: repo.head("main") as string });
    return branch;
  }

  async function build(account: (typeof accounts)[number], branch: string, api: Api): Promise<string> {
    const r = await call(api, account.token, `/accounts/${account.id}/builds/triggers/${account.trigger}/builds`, "POST", { branch });
    assert.ok(r.success, JSON.stringify(r));
    return r.result.build_uuid;
  }

  const row = (uuid: string) => store.builds.getByUuid(uuid);

  it("40 builds spread over the runners, none claimed twice, each account's concurrency never exceeded", async () => {
    const samples = new Map<string, number>();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const rows = await sql<{ account_id: string; n: string }>`select account_id, count(*) as n from builds where status in ('initializing', 'running') group by account_id`.execute(store.db.kysely);
        for (const r of rows.rows) samples.set(r.account_id, Math.max(samples.get(r.account_id) ?? 0, Number(r.n)));
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const branch = branchWith("sleep 0.3; echo built");
    // Every build its own branch (same commit): superseding is per branch.
    const branches = Array.from({ length: 20 }, (_, i) => {
      const b = `${branch}-${i}`;
      repo.setBranch(b, repo.head(branch) as string);
      return b;
    });
    const uuids: string[] = [];
    await Promise.all(
      accounts.flatMap((a) => branches.map(async (b, i) => uuids.push(await build(a, b, apis[i % 2] as Api)))),
    );
    assert.equal(uuids.length, 40);
    await waitFor("40 builds to finish", async () => {
      const done = await Promise.all(uuids.map(row));
      return done.every((b) => b?.status === "stopped");
    }, 120_000);
    sampling = false;
    await sampler;

    const builds = await Promise.all(uuids.map(row));
    assert.deepEqual([...new Set(builds.map((b) => b?.build_outcome))], ["success"]);
    const perRunner = new Map<string, number>();
    for (const b of builds) perRunner.set(b?.runner_id ?? "", (perRunner.get(b?.runner_id ?? "") ?? 0) + 1);
    assert.deepEqual([...perRunner.keys()].sort(), runners.map((r) => r.id).sort(), `every runner took builds: ${JSON.stringify([...perRunner])}\n${runners.filter((r) => !perRunner.has(r.id)).map((r) => r.stderr().slice(-3000)).join("\n")}`);
    // Claimed once: each log has exactly one initialization (a second claim would start again).
    for (const uuid of uuids) {
      const lines = await store.builds.readLogs(uuid, 0, 1000);
      assert.equal(lines.filter(([, t]) => t === "Initializing build environment...").length, 1, uuid);
      assert.ok(lines.some(([, t]) => t === "built"));
    }
    for (const a of accounts) {
      const max = samples.get(a.id) ?? 0;
      assert.ok(max >= 1 && max <= a.limit, `account with limit ${a.limit} peaked at ${max} builds in progress`);
    }
  });

  it("a cancel sent to either API node stops a build running on any runner", async () => {
    const a = accounts[0] as (typeof accounts)[number];
    const uuids: string[] = [];
    for (let i = 0; i < 2; i++) uuids.push(await build(a, branchWith("echo started; sleep 60"), apis[i] as Api));
    await waitFor("both running", async () => (await Promise.all(uuids.map(row))).every((b) => b?.status === "running"), 30_000);
    for (const [i, uuid] of uuids.entries()) {
      // Through the node that did not create it.
      const t0 = Date.now();
      const r = await call(apis[1 - i] as Api, a.token, `/accounts/${a.id}/builds/builds/${uuid}/cancel`, "PUT");
      const took = Date.now() - t0;
      assert.equal(r.success, true, JSON.stringify(r));
      assert.equal(r.result.build_outcome, "cancelled");
      assert.ok(took < 5000, `answered in ${took} ms`);
      assert.deepEqual(buildProcesses(uuid), [], "the build's processes are gone when the answer comes");
      const b = await row(uuid);
      assert.equal(b?.status, "stopped");
      assert.ok(runners.some((x) => x.id === b?.runner_id));
    }
  });

  it("logs written by a runner read through the other API node, in order, none lost (#6 and the live stream)", async () => {
    const a = accounts[1] as (typeof accounts)[number];
    const uuid = await build(a, branchWith("i=1; while [ $i -le 3000 ]; do echo line-$i; i=$((i+1)); if [ $((i % 500)) -eq 0 ]; then sleep 0.2; fi; done"), apis[0] as Api);
    // The live stream from the other node, opened while the build runs.
    const res = await fetch(`${(apis[1] as Api).base}/client/v4/accounts/${a.id}/builds/builds/${uuid}/logs/stream`, { headers: { authorization: `Bearer ${a.token}` } });
    assert.equal(res.status, 200);
    const text = await res.text();
    const streamed = [...text.matchAll(/^data: (\[.*\])$/gm)].map((m) => (JSON.parse(m[1] as string) as [number, string])[1]).filter((t) => t.startsWith("line-"));
    assert.deepEqual(streamed, Array.from({ length: 3000 }, (_, i) => `line-${i + 1}`));
    assert.match(text, /event: end\ndata: \{"build_outcome":"success","status":"stopped"\}/);

    const paged: string[] = [];
    let cursor = "";
    for (;;) {
      const r = await call(apis[1] as Api, a.token, `/accounts/${a.id}/builds/builds/${uuid}/logs${cursor ? `?cursor=${cursor}` : ""}`);
      paged.push(...(r.result.lines as [number, string][]).map(([, t]) => t).filter((t) => t.startsWith("line-")));
      cursor = r.result.cursor;
      if (!r.result.truncated) break;
    }
    assert.deepEqual(paged, streamed);
  });

  it("kill -9 of a runner mid-build: its build is terminated within the lease time, the others finish", async () => {
    const a = accounts[0] as (typeof accounts)[number];
    const uuids: string[] = [];
    for (let i = 0; i < 3; i++) uuids.push(await build(a, branchWith("echo started; sleep 6; echo finished"), apis[i % 2] as Api));
    const running = await waitFor("three running", async () => {
      const b = await Promise.all(uuids.map(row));
      return b.every((x) => x?.status === "running") ? b : undefined;
    }, 30_000);
    const victimId = running[0]?.runner_id as string;
    const victim = runners.find((r) => r.id === victimId) as Runner;
    const t0 = Date.now();
    victim.child.kill("SIGKILL");
    await victim.exited;
    const onVictim = uuids.filter((_, i) => running[i]?.runner_id === victimId);
    await waitFor("the victim's builds to be stopped", async () => (await Promise.all(onVictim.map(row))).every((b) => b?.status === "stopped"), 20_000);
    const took = (Date.now() - t0) / 1000;
    assert.ok(took <= LEASE_TTL * 1.5 + 1, `stopped ${took.toFixed(1)} s after the kill (lease ${LEASE_TTL} s)`);
    for (const uuid of onVictim) {
      const b = await row(uuid);
      assert.equal(b?.build_outcome, "terminated");
      const lines = await store.builds.readLogs(uuid, 0, 1000);
      assert.match(lines.at(-1)?.[1] ?? "", /^Build was terminated: its runner \(.+\) stopped before the build finished$/);
      assert.deepEqual(buildProcesses(uuid), [], "the sandbox died with its runner");
    }
    const others = uuids.filter((u) => !onVictim.includes(u));
    await waitFor("the others to finish", async () => (await Promise.all(others.map(row))).every((b) => b?.status === "stopped"), 30_000);
    for (const uuid of others) assert.equal((await row(uuid))?.build_outcome, "success");
    // A replacement keeps three runners for what follows.
    runners.splice(runners.indexOf(victim), 1, await startNamedRunner());
  });

  it("a runner cut off from the database loses its lease; its late writes are refused", async () => {
    const a = accounts[1] as (typeof accounts)[number];
    const uuid = await build(a, branchWith("echo started; sleep 4; echo late-line"), apis[0] as Api);
    const held = await waitFor("running", async () => {
      const b = await row(uuid);
      return b?.status === "running" ? b : undefined;
    }, 30_000);
    const cut = runners.find((r) => r.id === held.runner_id) as Runner;
    // Frozen (a partition, a long GC pause) and its connections killed by the database side.
    cut.child.kill("SIGSTOP");
    await sql`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and application_name = ${appNames.get(cut) ?? "?"}`.execute(store.db.kysely).catch(() => undefined);
    try {
      await waitFor("another node to stop the build", async () => (await row(uuid))?.status === "stopped", 20_000);
      assert.equal((await row(uuid))?.build_outcome, "terminated");
    } finally {
      cut.child.kill("SIGCONT");
    }
    // The frozen runner wakes up, its build's command finishes, and it tries to write.
    await new Promise((r) => setTimeout(r, 6000));
    const b = await row(uuid);
    assert.equal(b?.build_outcome, "terminated", "the late outcome was refused");
    const lines = (await store.builds.readLogs(uuid, 0, 1000)).map(([, t]) => t);
    assert.ok(!lines.includes("late-line"), "the late log lines were refused");
    assert.match(lines.at(-1) ?? "", /^Build was terminated: its runner/);
    assert.ok(cut.child.exitCode === null, "the cut-off runner is still alive and keeps serving");
    // It still takes new work.
    const next = await build(a, branchWith("echo again"), apis[1] as Api);
    await waitFor("a new build to finish", async () => (await row(next))?.status === "stopped", 30_000);
    assert.equal((await row(next))?.build_outcome, "success");
  });
});

/**
 * Faults, with real processes.
 *
 * SQLite: `kill -9` of `kiln serve` (a) while several builds run, (b) in the middle of a burst of
 * log writes, (c) while a cancel request is in flight. After each kill, before the restart, no
 * process of the builds is left and `PRAGMA integrity_check` answers "ok"; after the restart on
 * the same data dir every build has exactly one final state (stopped, an outcome, stopped_on;
 * `terminated`, or `cancelled` when the cancel was recorded), every log line a reader had read
 * before the kill is still there unchanged, and a build queued at the kill runs afterwards.
 *
 * PostgreSQL: a private cluster (test/helpers/pg-cluster.ts) restarted under `kiln serve`
 * (pg_ctl restart -m fast) while builds run: /healthz answers 200 again within seconds, the
 * server is still the same process, builds started before the restart reach exactly one final
 * state, a build created after it succeeds, and a cancel after it works.
 *
 * KILN_TEST_LONG=1: more builds and more kills.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import SQLite from "better-sqlite3";
import { buildProcesses, waitFor } from "../helpers/builds.ts";
import { kiln, startServer, sweepKilledNetworks } from "../helpers/cli.ts";
import { tempDir } from "../helpers/databases.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";
import { initPgCluster, type PgCluster } from "../helpers/pg-cluster.ts";

const LONG = process.env.KILN_TEST_LONG === "1";
const LEASE_TTL = 3;
const SLOTS = LONG ? 6 : 4;

type Server = Awaited<ReturnType<typeof startServer>>;
type Line = [number, string];

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are checked by the tests
type Json = any;

/** One Kiln install under test: its server process (replaced on restart), account, token and trigger. */
interface Install {
  server: Server;
  args: string[];
  account: string;
  token: string;
  trigger: string;
  repo: TestRepo;
  branches: number;
}

async function call(i: Install, method: string, p: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const r = await fetch(`${i.server.base}/client/v4/accounts/${i.account}/builds${p}`, {
    method,
    headers: { authorization: `Bearer ${i.token}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: r.status, body: (await r.json()) as Json };
}

/** Starts the server and configures a Worker with a trigger building any branch with `sh ./run.sh`. */
async function install(args: string[], repo: TestRepo, adminFlags: string[]): Promise<Install> {
  const server = await startServer(args);
  await waitFor("the bootstrap block", async () => server.stdout().includes("curl"));
  const token = /^token=(\S+)$/m.exec(server.stdout())?.[1] ?? "";
  const account = /^account_id=(\S+)$/m.exec(server.stdout())?.[1] ?? "";
  const i: Install = { server, args, account, token, trigger: "", repo, branches: 0 };
  const worker = await kiln(["worker", "create", "--account", account, "--name", "faults", "--json", ...adminFlags]);
  assert.equal(worker.code, 0, worker.stderr);
  const tag = JSON.parse(worker.stdout).tag as string;
  const conn = await call(i, "PUT", "/repos/connections", { provider_type: "github", provider_account_id: "1", provider_account_name: "acme", repo_id: "faults-1", repo_name: repo.name });
  assert.equal(conn.status, 200, JSON.stringify(conn.body));
  const bt = await call(i, "POST", "/tokens", { build_token_name: "t", build_token_secret: `cf-${randomBytes(8).toString("hex")}`, cloudflare_token_id: "cf" });
  assert.equal(bt.status, 200, JSON.stringify(bt.body));
  const trig = await call(i, "POST", "/triggers", {
    external_script_id: tag, trigger_name: "faults", repo_connection_uuid: conn.body.result.repo_connection_uuid, build_token_uuid: bt.body.result.build_token_uuid,
    build_command: "sh ./run.sh", deploy_command: "true", root_directory: "/", branch_includes: ["*"], branch_excludes: [], path_includes: ["*"], path_excludes: [],
  });
  assert.equal(trig.status, 200, JSON.stringify(trig.body));
  i.trigger = trig.body.result.trigger_uuid as string;
  return i;
}

/** A build of a new branch whose run.sh is `script` (distinct branches never supersede each other). */
async function build(i: Install, script: string): Promise<string> {
  const branch = `f${++i.branches}`;
  i.repo.commit({ "run.sh": `${script}\n` }, branch, { branch, from: i.repo.head("main") as string });
  const r = await call(i, "POST", `/triggers/${i.trigger}/builds`, { branch });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.result.build_uuid as string;
}

async function getBuild(i: Install, uuid: string): Promise<Json> {
  const r = await call(i, "GET", `/builds/${uuid}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.result;
}

/** Every log line stored so far, following the cursor like Cloudflare's client. */
async function logs(i: Install, uuid: string, maxPages = Infinity): Promise<Line[]> {
  const lines: Line[] = [];
  let cursor = "";
  for (let page = 0; page < maxPages; page++) {
    const r = await call(i, "GET", `/builds/${uuid}/logs${cursor ? `?cursor=${cursor}` : ""}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    lines.push(...(r.body.result.lines as Line[]));
    cursor = r.body.result.cursor as string;
    if (!r.body.result.truncated) break;
  }
  return lines;
}

async function waitRunning(i: Install, uuids: string[], linePrefix?: string): Promise<void> {
  await waitFor(`${uuids.length} builds to run`, async () => {
    for (const uuid of uuids) {
      if ((await getBuild(i, uuid)).status !== "running" || buildProcesses(uuid).length === 0) return false;
      if (linePrefix && !(await logs(i, uuid, 1)).some(([, t]) => t.startsWith(linePrefix))) return false;
    }
    return true;
  }, 30_000);
}

/** Asserts `before` is an unchanged prefix of `afterwards` (timestamps and text). */
function assertPrefix(before: Line[], afterwards: Line[], what: string): void {
  assert.ok(afterwards.length >= before.length, `${what}: ${before.length} lines read before the kill, ${afterwards.length} after`);
  for (let n = 0; n < before.length; n++) {
    if (afterwards[n]?.[0] !== before[n]?.[0] || afterwards[n]?.[1] !== before[n]?.[1]) {
      assert.fail(`${what}: line ${n} read before the kill was ${JSON.stringify(before[n])}, after the restart ${JSON.stringify(afterwards[n])}`);
    }
  }
}

/** The lines a Kiln writes when a build ends; a build ends once, so exactly one of them. */
const FINAL_LINE = /^(Build was terminated|Build was cancelled|Build was timed out|Failed: |Success: Deploy command completed)/;

describe("sqlite: kill -9 of kiln serve", () => {
  let repo: TestRepo;
  let dataDir: string;
  let i: Install;
  /** Every build of the suite with the outcome it was first seen stopped with. */
  const outcomes = new Map<string, string>();
  const recoveries: number[] = [];
  let kills = 0;

  const serverArgs = () => [
    "--data-dir", dataDir, "--git-url-template", repo.template, "--lease-ttl", String(LEASE_TTL),
    "--cancel-grace", "5", "--drain-timeout", "0", "--slots", String(SLOTS),
  ];

  before(async () => {
    repo = makeRepo({ name: "faults", files: { "a.txt": "a" } });
    dataDir = tempDir("kiln-faults-");
    i = await install(serverArgs(), repo, ["--data-dir", dataDir]);
  });
  after(async () => {
    i?.server.child.kill("SIGKILL");
    await i?.server.exited;
    if (recoveries.length) console.log(`sqlite: ${kills} kill -9, ${outcomes.size} builds, recovery (restart → every build stopped) ${recoveries.map((ms) => `${ms} ms`).join(", ")}`);
    fs.rmSync(dataDir, { recursive: true, force: true });
    repo?.cleanup();
    // Servers and runners killed with SIGKILL leave their (spare) network namespaces: removed here.
    await sweepKilledNetworks();
  });

  function integrityCheck(): string {
    const db = new SQLite(path.join(dataDir, "kiln.db"), { readonly: true, fileMustExist: true });
    try {
      return db.pragma("integrity_check", { simple: true }) as string;
    } finally {
      db.close();
    }
  }

  /** What the database file says right after the kill (read-only, server dead). */
  function rowsAtKill(uuids: string[]): Map<string, { status: string; cancel_requested_on: string | null; log_lines: number }> {
    const db = new SQLite(path.join(dataDir, "kiln.db"), { readonly: true, fileMustExist: true });
    try {
      const get = db.prepare("select status, cancel_requested_on, log_lines from builds where uuid = ?");
      return new Map(uuids.map((u) => [u, get.get(u) as { status: string; cancel_requested_on: string | null; log_lines: number }]));
    } finally {
      db.close();
    }
  }

  /** SIGKILL; then nothing of the builds is left and the file is intact. */
  async function kill(uuids: string[]): Promise<void> {
    i.server.child.kill("SIGKILL");
    await i.server.exited;
    kills++;
    await waitFor("every process of the builds to die with the server", async () => uuids.every((u) => buildProcesses(u).length === 0), 10_000);
    assert.equal(integrityCheck(), "ok", "PRAGMA integrity_check right after the kill");
  }

  /** Starts the server again on the same data dir; resolves once `uuids` are all stopped. */
  async function restart(uuids: string[]): Promise<Map<string, Json>> {
    const t0 = Date.now();
    i.server = await startServer(i.args);
    const stopped = new Map<string, Json>();
    await waitFor("every killed build to be stopped after the restart", async () => {
      for (const u of uuids) if (!stopped.has(u)) {
        const b = await getBuild(i, u);
        if (b.status === "stopped") stopped.set(u, b);
      }
      return stopped.size === uuids.length;
    }, 15_000);
    recoveries.push(Date.now() - t0);
    return stopped;
  }

  /** One final state: stopped, the expected outcome, stopped_on, and exactly one final log line, last. */
  async function assertFinal(uuid: string, b: Json, outcome: string, lastLine: RegExp, readBefore: Line[]): Promise<Line[]> {
    assert.equal(b.status, "stopped", uuid);
    assert.equal(b.build_outcome, outcome, uuid);
    assert.ok(b.stopped_on && Date.parse(b.stopped_on) >= Date.parse(b.created_on), `stopped_on of ${uuid}: ${b.stopped_on}`);
    const lines = await logs(i, uuid);
    assertPrefix(readBefore, lines, uuid);
    assert.match(lines.at(-1)?.[1] ?? "", lastLine, uuid);
    assert.equal(lines.filter(([, t]) => FINAL_LINE.test(t)).length, 1, `one final line in ${uuid}: ${JSON.stringify(lines.filter(([, t]) => FINAL_LINE.test(t)))}`);
    outcomes.set(uuid, outcome);
    return lines;
  }

  const TERMINATED = /^Build was terminated: its runner \(.+\) stopped before the build finished$/;

  it("(a) during several running builds: each is terminated once, logs read before the kill intact, a queued one runs after", async () => {
    const rounds = LONG ? 3 : 1;
    for (let round = 1; round <= rounds; round++) {
      const running: string[] = [];
      for (let n = 0; n < SLOTS; n++) {
        // A daemon escaping the build's session (setsid) must die too; output keeps flowing.
        running.push(await build(i, `${n === 0 ? "(setsid sleep 300 &); " : ""}echo started; i=0; while :; do i=$((i+1)); echo tick-$i; sleep 0.02; done`));
      }
      await waitRunning(i, running, "tick-");
      // Queued behind the full slots when the server dies: not the restart's to stop.
      const queued = await build(i, "echo queued-ran");
      await new Promise((r) => setTimeout(r, 300));
      const readBefore = new Map<string, Line[]>();
      for (const u of running) readBefore.set(u, await logs(i, u));
      assert.equal((await getBuild(i, queued)).status, "queued");

      await kill([...running, queued]);
      const atKill = rowsAtKill([...running, queued]);
      for (const u of running) assert.equal(atKill.get(u)?.status, "running", `${u} was running at the kill`);
      assert.equal(atKill.get(queued)?.status, "queued");

      const stopped = await restart(running);
      for (const u of running) {
        const lines = await assertFinal(u, stopped.get(u), "terminated", TERMINATED, readBefore.get(u) ?? []);
        // The output stored is an unbroken run tick-1…tick-n.
        const ticks = lines.map(([, t]) => t).filter((t) => t.startsWith("tick-"));
        assert.deepEqual(ticks, ticks.map((_, k) => `tick-${k + 1}`), `${u}: ticks in order, none missing`);
        assert.ok(ticks.length >= (readBefore.get(u) ?? []).filter(([, t]) => t.startsWith("tick-")).length);
      }
      const q = await waitFor("the queued build to run after the restart", async () => {
        const b = await getBuild(i, queued);
        return b.status === "stopped" ? b : undefined;
      }, 30_000);
      assert.equal(q.build_outcome, "success", JSON.stringify(await logs(i, queued)));
      assert.ok((await logs(i, queued)).some(([, t]) => t === "queued-ran"));
      outcomes.set(queued, "success");
      for (const u of [...running, queued]) assert.deepEqual(buildProcesses(u), []);
    }
  });

  it("(b) during a burst of log writes (200,000 numbered lines): what was read stays, what was stored is an unbroken prefix", async () => {
    const total = 200_000;
    const uuid = await build(i, `seq -f 'burst-%.0f-................................................................' 1 ${total}; echo burst-done; sleep 300`);
    await waitRunning(i, [uuid]);
    // A reader following the cursor while the lines pour in; the kill comes while it reads.
    const readBefore: Line[] = [];
    let cursor = "";
    await waitFor("the reader to have read 5,000 burst lines", async () => {
      const r = await call(i, "GET", `/builds/${uuid}/logs${cursor ? `?cursor=${cursor}` : ""}`);
      readBefore.push(...(r.body.result.lines as Line[]));
      cursor = r.body.result.cursor as string;
      return readBefore.filter(([, t]) => t.startsWith("burst-")).length >= 5000;
    }, 30_000);
    await kill([uuid]);
    const atKill = rowsAtKill([uuid]).get(uuid);
    assert.equal(atKill?.status, "running");

    const stopped = await restart([uuid]);
    const lines = await assertFinal(uuid, stopped.get(uuid), "terminated", TERMINATED, readBefore);
    const burst = lines.map(([, t]) => t).filter((t) => t.startsWith("burst-") && t !== "burst-done");
    assert.ok(burst.length >= 5000, `${burst.length} burst lines stored`);
    for (let n = 0; n < burst.length; n++) {
      if (burst[n] !== `burst-${n + 1}-${".".repeat(64)}`) assert.fail(`stored burst line ${n} is ${burst[n]}`);
    }
    // Proof the kill came mid-burst (else this test would not test what it says).
    assert.ok(burst.length < total, `the kill came after the burst (${burst.length} lines stored)`);
    console.log(`sqlite burst: ${readBefore.length} lines read before the kill, ${burst.length} of ${total} stored at the kill`);
  });

  it("(c) during a cancel in flight: cancelled when the request was recorded, terminated otherwise, once", async () => {
    // Ignores SIGTERM, so the cancel waits for the SIGKILL after the grace (5 s): the request is in flight.
    const script = "trap '' TERM; echo started; while :; do sleep 0.1; done";
    const early = await build(i, script);
    const late = await build(i, script);
    await waitRunning(i, [early, late]);
    const readBefore = new Map([[early, await logs(i, early)], [late, await logs(i, late)]]);
    const cancel = (u: string) => call(i, "PUT", `/builds/${u}/cancel`).then((r) => ({ answered: r }), (error: unknown) => ({ failed: error }));
    const earlyCancel = cancel(early);
    await new Promise((r) => setTimeout(r, 500));
    const lateCancel = cancel(late);
    await new Promise((r) => setTimeout(r, 2));
    await kill([early, late]);
    const answers = [await earlyCancel, await lateCancel];
    for (const a of answers) assert.ok("failed" in a, `no cancel was answered before the kill: ${JSON.stringify(a)}`);
    const atKill = rowsAtKill([early, late]);
    assert.ok(atKill.get(early)?.cancel_requested_on, "the early cancel was recorded before the kill");

    const stopped = await restart([early, late]);
    for (const u of [early, late]) {
      const recorded = Boolean(atKill.get(u)?.cancel_requested_on);
      await assertFinal(u, stopped.get(u), recorded ? "cancelled" : "terminated",
        recorded ? /^Build was cancelled by .+ \(its runner stopped before confirming\)$/ : TERMINATED, readBefore.get(u) ?? []);
    }
    // A cancel of a build already stopped answers with its outcome (or 409), never changes it.
    const again = await call(i, "PUT", `/builds/${early}/cancel`);
    assert.ok(again.status === 200 || again.status === 409, JSON.stringify(again.body));
    assert.equal((await getBuild(i, early)).build_outcome, "cancelled");
    console.log(`sqlite cancel: the cancel sent 2 ms before the kill was ${atKill.get(late)?.cancel_requested_on ? "" : "not "}recorded`);
  });

  it("after every fault: outcomes unchanged by a further restart, the file intact after a clean stop", async () => {
    i.server.child.kill("SIGTERM");
    assert.equal(await i.server.exited, 0);
    assert.equal(integrityCheck(), "ok");
    i.server = await startServer(i.args);
    // Past a lease TTL and a reaper pass or two: nothing moves.
    await new Promise((r) => setTimeout(r, LEASE_TTL * 1000));
    for (const [uuid, outcome] of outcomes) {
      const b = await getBuild(i, uuid);
      assert.equal(b.status, "stopped", uuid);
      assert.equal(b.build_outcome, outcome, uuid);
      const lines = await logs(i, uuid);
      assert.equal(lines.filter(([, t]) => FINAL_LINE.test(t)).length, 1, uuid);
    }
    i.server.child.kill("SIGTERM");
    assert.equal(await i.server.exited, 0);
    assert.equal(integrityCheck(), "ok");
  });
});

/** initdb once at load: the suite is skipped, saying why, when a private cluster cannot be made. */
const pgInit: { cluster: PgCluster } | { skip: string } = await initPgCluster().then(
  (cluster) => ({ cluster }),
  (error: unknown) => ({ skip: `skipped: cannot run a private PostgreSQL cluster (initdb): ${(error as Error).message.split("\n")[0]}` }),
);
process.on("exit", () => {
  if ("cluster" in pgInit) fs.rmSync(pgInit.cluster.dir, { recursive: true, force: true });
});

describe("postgres: the database server restarts under kiln serve", { skip: "skip" in pgInit ? pgInit.skip : false }, () => {
  let cluster: PgCluster;
  let repo: TestRepo;
  let dataDir: string;
  let i: Install;
  const secretKey = randomBytes(32).toString("base64");
  const figures: string[] = [];

  before(async () => {
    cluster = (pgInit as { cluster: PgCluster }).cluster;
    await cluster.start();
    repo = makeRepo({ name: "faults", files: { "a.txt": "a" } });
    dataDir = tempDir("kiln-faults-pg-");
    const db = ["--database", cluster.url, "--secret-key", secretKey];
    i = await install(
      // A lease of 12 s: a runner fences itself after 2/3 of it without a renewal, and a restart
      // on a loaded 2-core machine (the whole suite running) can keep renewals failing for 4 s.
      [...db, "--data-dir", dataDir, "--git-url-template", repo.template, "--lease-ttl", "12", "--cancel-grace", "1", "--drain-timeout", "0", "--slots", String(SLOTS)],
      repo,
      [...db, "--data-dir", dataDir],
    );
  });
  after(async () => {
    i?.server.child.kill("SIGKILL");
    await i?.server.exited;
    await cluster?.cleanup();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    repo?.cleanup();
    if (figures.length) console.log(figures.join("\n"));
    // Servers and runners killed with SIGKILL leave their (spare) network namespaces: removed here.
    await sweepKilledNetworks();
  });

  async function healthy(): Promise<boolean> {
    try {
      return (await fetch(`${i.server.base}/healthz`)).status === 200;
    } catch {
      return false;
    }
  }

  /** Runs `fault` (the database going away and coming back) and measures when /healthz is 200 again. */
  async function outage(fault: () => Promise<void>): Promise<{ dbBackMs: number; healthyMs: number; sawUnhealthy: boolean }> {
    const t0 = Date.now();
    let sawUnhealthy = false;
    let probing = true;
    const probe = (async () => {
      while (probing) {
        if (!(await healthy())) sawUnhealthy = true;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await fault();
    const dbBackMs = Date.now() - t0;
    await waitFor("/healthz to answer 200 again", healthy, 10_000).catch((error: unknown) => {
      throw new Error(`${(error as Error).message} (kiln serve exit code ${i.server.child.exitCode}):\n${i.server.stderr().slice(-6000)}\n${cluster.log().slice(-2000)}`);
    });
    const healthyMs = Date.now() - t0;
    probing = false;
    await probe;
    assert.ok(healthyMs < dbBackMs + 5000, `healthy ${healthyMs - dbBackMs} ms after the database was back`);
    assert.equal(i.server.child.exitCode, null, `kiln serve survived the database outage:\n${i.server.stderr().slice(-4000)}`);
    return { dbBackMs, healthyMs, sawUnhealthy };
  }

  const stoppedBuild = (u: string, timeoutMs = 30_000) =>
    waitFor(`build ${u} to stop`, async () => {
      const x = await getBuild(i, u);
      return x.status === "stopped" ? x : undefined;
    }, timeoutMs);

  /** After an outage: a new build succeeds, and a cancel of a build that ran across it works. */
  async function carriesOn(long: string, longBefore: Line[]): Promise<void> {
    const fresh = await build(i, "echo fresh");
    const f = await stoppedBuild(fresh);
    assert.equal(f.build_outcome, "success", JSON.stringify(await logs(i, fresh)));
    assert.ok((await logs(i, fresh)).some(([, t]) => t === "fresh"));

    const c0 = Date.now();
    const cancelled = await call(i, "PUT", `/builds/${long}/cancel`);
    assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body));
    assert.equal(cancelled.body.result.build_outcome, "cancelled");
    assert.ok(Date.now() - c0 < 5000, `cancel answered in ${Date.now() - c0} ms`);
    assert.deepEqual(buildProcesses(long), []);
    const lines = await logs(i, long);
    assertPrefix(longBefore, lines, long);
    assert.match(lines.at(-1)?.[1] ?? "", /^Build was cancelled by /);
    assert.equal(lines.filter(([, t]) => FINAL_LINE.test(t)).length, 1);
  }

  it("pg_ctl restart mid-run: kiln serve stays up, /healthz is back within seconds, every build ends once, new builds and cancels work", async () => {
    const restarts: ("fast" | "immediate")[] = LONG ? ["fast", "immediate", "fast", "immediate"] : ["fast"];
    for (const mode of restarts) {
      // Builds writing logs through the restart, and a long one to cancel after it.
      const writing: string[] = [];
      for (let n = 0; n < SLOTS - 1; n++) writing.push(await build(i, "echo started; i=0; while [ $i -lt 60 ]; do i=$((i+1)); echo tick-$i; sleep 0.05; done; echo finished"));
      const long = await build(i, "echo started; while :; do sleep 0.1; done");
      await waitRunning(i, [...writing, long], "started");
      const readBefore = new Map<string, Line[]>();
      for (const u of [...writing, long]) readBefore.set(u, await logs(i, u));

      const o = await outage(() => cluster.restart(mode));

      const outcomes: string[] = [];
      for (const u of writing) {
        const b = await stoppedBuild(u);
        assert.ok(b.stopped_on, u);
        // A statement in flight when the server went down fails (57P01 or a closed socket): a
        // build whose final write was that statement is terminated by the lease reaper, and a
        // log batch that was is the end of its stored log. Anything else must have ridden through.
        assert.ok(["success", "terminated"].includes(b.build_outcome), `${u}: ${b.build_outcome}`);
        outcomes.push(b.build_outcome as string);
        const lines = await logs(i, u);
        assertPrefix(readBefore.get(u) ?? [], lines, u);
        assert.ok(lines.filter(([, t]) => FINAL_LINE.test(t)).length <= 1, `${u}: one final line: ${JSON.stringify(lines.filter(([, t]) => FINAL_LINE.test(t)))}`);
        const ticks = lines.map(([, t]) => t).filter((t) => t.startsWith("tick-"));
        assert.deepEqual(ticks, ticks.map((_, k) => `tick-${k + 1}`), `${u}: the output stored is an unbroken prefix, each line once`);
        // Settled: the outcome does not move afterwards.
        assert.equal((await getBuild(i, u)).build_outcome, b.build_outcome);
      }
      await carriesOn(long, readBefore.get(long) ?? []);
      figures.push(`postgres restart -m ${mode}: database back after ${o.dbBackMs} ms, /healthz 200 after ${o.healthyMs} ms (${o.sawUnhealthy ? "503 or no answer seen meanwhile" : "never unhealthy"}), builds through it: ${outcomes.join(", ")}`);
    }
  });

  it("database down while builds print: their log writes wait for it, nothing is lost, they succeed", async () => {
    // Quiet until the gate opens, so no write of theirs is in flight when the server stops.
    // The gate is a file the test puts in each build's own workspace (the only host path a build sees).
    const writing: string[] = [];
    for (let n = 0; n < SLOTS - 1; n++) writing.push(await build(i, "echo started; while [ ! -e gate-open ]; do sleep 0.05; done; i=0; while [ $i -lt 40 ]; do i=$((i+1)); echo tick-$i; sleep 0.02; done; echo finished"));
    const long = await build(i, "echo started; while :; do sleep 0.1; done");
    await waitRunning(i, [...writing, long], "started");
    const readBefore = new Map<string, Line[]>();
    for (const u of [...writing, long]) readBefore.set(u, await logs(i, u));

    const o = await outage(async () => {
      await cluster.stop("fast");
      // The builds print their 40 lines (about 1 s) while nothing answers on the port.
      for (const u of writing) fs.writeFileSync(path.join(dataDir, "work", u, "repo", "gate-open"), "");
      await new Promise((r) => setTimeout(r, 1500));
      await cluster.start();
    });

    for (const u of writing) {
      const b = await stoppedBuild(u);
      const lines = await logs(i, u);
      assert.equal(b.build_outcome, "success", `${u}: ${JSON.stringify(lines.slice(-5))}\n${i.server.stderr().slice(-3000)}`);
      assertPrefix(readBefore.get(u) ?? [], lines, u);
      const ticks = lines.map(([, t]) => t).filter((t) => t.startsWith("tick-"));
      assert.deepEqual(ticks, Array.from({ length: 40 }, (_, k) => `tick-${k + 1}`), `${u}: every line printed while the database was down is stored, once, in order`);
      assert.ok(lines.some(([, t]) => t === "finished"));
      assert.equal(lines.filter(([, t]) => FINAL_LINE.test(t)).length, 1);
    }
    await carriesOn(long, readBefore.get(long) ?? []);
    figures.push(`postgres down ~1.5 s (stop -m fast, start) while ${writing.length} builds printed: /healthz 200 ${o.healthyMs - o.dbBackMs} ms after the database was back, every line stored, all succeeded`);
  });
});

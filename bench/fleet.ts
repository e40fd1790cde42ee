/**
 * A fleet on PostgreSQL, real processes: one or two API nodes (`kiln serve
 * --no-runner`) and 1, 2 or 4 runner nodes (`kiln runner`), all on this machine.
 * - throughput: trivial builds completed per second with 1, 2 and 4 runners (ratios to 1 runner);
 * - cancel latency across nodes: PUT …/cancel on the API node that did not create the build,
 *   for builds running on any runner, until the answer (p50/p99);
 * - log ingest through PostgreSQL: a build printing LOG_LINES lines, lines stored per second,
 *   next to a bare multi-row INSERT of the same rows with pg in the same run.
 * Needs KILN_TEST_DATABASE_URL (a PostgreSQL server that lets us create databases).
 */
import { randomUUID } from "node:crypto";
import pg from "pg";
import { createAccount, createToken, createWorker } from "../src/domain/admin.ts";
import { openStore, type Store } from "../src/store/index.ts";
import { makeDatabase, tempDir, type TestDatabase } from "../test/helpers/databases.ts";
import { makeRepo, type TestRepo } from "../test/helpers/git-repos.ts";
import { startRunner, startServer } from "../test/helpers/cli.ts";
import { waitFor } from "../test/helpers/builds.ts";

const BUILDS = Number(process.env.BENCH_FLEET_BUILDS ?? 40);
const CANCELS = Number(process.env.BENCH_FLEET_CANCELS ?? 30);
const LOG_LINES = Number(process.env.BENCH_FLEET_LOG_LINES ?? 200_000);

const pct = (xs: number[], p: number) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return Math.round((sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0) * 10) / 10;
};

interface Fleet {
  db: TestDatabase;
  store: Store;
  apis: Awaited<ReturnType<typeof startServer>>[];
  runners: Awaited<ReturnType<typeof startRunner>>[];
  account: string;
  token: string;
  trigger: string;
  close(): Promise<void>;
}

async function startFleet(repo: TestRepo, apiCount: number, runnerCount: number, buildCommand: string): Promise<Fleet> {
  const db = await makeDatabase("postgres");
  const store = await openStore({ database: db.database, dataDir: db.dataDir, secretKey: Buffer.from(db.secretKey, "base64") });
  const common = ["--lease-ttl", "10", "--cancel-grace", "1", "--git-url-template", repo.template];
  const apis: Fleet["apis"] = [];
  for (let i = 0; i < apiCount; i++) apis.push(await startServer([...db.flags, "--no-runner", ...common]));
  const runners = await Promise.all(
    Array.from({ length: runnerCount }, () =>
      startRunner(["--database", db.database as string, "--secret-key", db.secretKey, "--data-dir", tempDir("kiln-bench-runner-"), "--slots", "2", "--drain-timeout", "0", ...common]),
    ),
  );
  const account = await store.transaction((r) => createAccount(r, "bench"));
  await store.accounts.setLimits(account.id, { concurrency_limit: 1000 });
  const { value } = await store.transaction((r) => createToken(r, { accountIds: [account.id], name: "b", permissionGroups: ["Workers CI Write", "Workers CI Read"] }));
  const worker = await store.transaction((r) => createWorker(r, account.id, "bench"));
  const call = async (path: string, method: string, body?: unknown) =>
    (await fetch(`${apis[0]?.base}/client/v4/accounts/${account.id}/builds${path}`, {
      method,
      headers: { authorization: `Bearer ${value}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- bench code reads what it needs
    }).then((r) => r.json())) as any;
  const conn = await call("/repos/connections", "PUT", { provider_type: "github", provider_account_id: "1", provider_account_name: "acme", repo_id: "bench", repo_name: repo.name });
  const tok = await call("/tokens", "POST", { build_token_name: "t", build_token_secret: "cf-secret", cloudflare_token_id: "cf" });
  const trig = await call("/triggers", "POST", {
    external_script_id: worker.tag, trigger_name: "p", repo_connection_uuid: conn.result.repo_connection_uuid, build_token_uuid: tok.result.build_token_uuid,
    build_command: buildCommand, deploy_command: "true", root_directory: "/", branch_includes: ["*"], branch_excludes: [], path_includes: ["*"], path_excludes: [],
  });
  return {
    db, store, apis, runners, account: account.id, token: value, trigger: trig.result.trigger_uuid,
    async close() {
      for (const p of [...runners, ...apis]) p.child.kill("SIGKILL");
      await Promise.all([...runners, ...apis].map((p) => p.exited));
      await store.close();
      await db.cleanup();
    },
  };
}

async function createBuild(f: Fleet, api: number, branch: string): Promise<string> {
  const r = await fetch(`${f.apis[api]?.base}/client/v4/accounts/${f.account}/builds/triggers/${f.trigger}/builds`, {
    method: "POST",
    headers: { authorization: `Bearer ${f.token}`, "content-type": "application/json" },
    body: JSON.stringify({ branch }),
  });
  const body = (await r.json()) as { result: { build_uuid: string } };
  return body.result.build_uuid;
}

async function allStopped(f: Fleet, uuids: string[]): Promise<boolean> {
  const rows = await Promise.all(uuids.map((u) => f.store.builds.getByUuid(u)));
  return rows.every((b) => b?.status === "stopped");
}

export async function benchFleet(): Promise<Record<string, unknown>> {
  if (!process.env.KILN_TEST_DATABASE_URL) return { skipped: "KILN_TEST_DATABASE_URL is not set" };
  const repo = makeRepo({ name: "fleet-bench", files: { "a.txt": "a" } });
  // Distinct branches: builds of one branch would supersede each other.
  const branches = Array.from({ length: Math.max(BUILDS, CANCELS) }, (_, i) => {
    repo.setBranch(`b${i}`, repo.head("main") as string);
    return `b${i}`;
  });
  const results: Record<string, unknown> = {};
  try {
    // Throughput with 1, 2, 4 runners.
    const perSecond: Record<string, number> = {};
    for (const n of [1, 2, 4]) {
      const f = await startFleet(repo, 1, n, "");
      try {
        const warm = await createBuild(f, 0, "main");
        await waitFor("warm-up", () => allStopped(f, [warm]), 60_000);
        const t0 = performance.now();
        const uuids = await Promise.all(branches.slice(0, BUILDS).map((b) => createBuild(f, 0, b)));
        await waitFor("all builds", () => allStopped(f, uuids), 300_000);
        perSecond[`runners_${n}`] = Math.round((BUILDS / ((performance.now() - t0) / 1000)) * 100) / 100;
        console.log(`throughput: ${n} runner(s), ${BUILDS} trivial builds: ${perSecond[`runners_${n}`]} builds/s`);
      } finally {
        await f.close();
      }
    }
    const one = perSecond.runners_1 ?? 1;
    results.throughput_builds_per_s = { ...perSecond, ratio_2_to_1: Math.round(((perSecond.runners_2 ?? 0) / one) * 100) / 100, ratio_4_to_1: Math.round(((perSecond.runners_4 ?? 0) / one) * 100) / 100 };

    // Cancel across nodes: created on node 0, cancelled through node 1.
    const f = await startFleet(repo, 2, 2, "sleep 300 & echo up; wait");
    try {
      const latencies: number[] = [];
      for (let i = 0; i < CANCELS; i++) {
        const uuid = await createBuild(f, 0, branches[i] as string);
        await waitFor("running", async () => (await f.store.builds.getByUuid(uuid))?.status === "running", 60_000);
        const t0 = performance.now();
        const r = await fetch(`${f.apis[1]?.base}/client/v4/accounts/${f.account}/builds/builds/${uuid}/cancel`, { method: "PUT", headers: { authorization: `Bearer ${f.token}` } });
        latencies.push(performance.now() - t0);
        if (r.status !== 200) throw new Error(`cancel ${uuid}: ${r.status} ${await r.text()}`);
      }
      results.cancel_across_nodes_ms = { n: CANCELS, p50: pct(latencies, 50), p99: pct(latencies, 99) };
      console.log(`cancel across nodes: p50 ${pct(latencies, 50)} ms, p99 ${pct(latencies, 99)} ms`);
    } finally {
      await f.close();
    }

    // Log ingest through PostgreSQL, next to a bare multi-row INSERT of the same rows.
    const g = await startFleet(repo, 1, 1, `i=0; while [ $i -lt ${LOG_LINES / 1000} ]; do seq -f "line %g of the bench log, some padding to look real" 1 1000; i=$((i+1)); done`);
    try {
      const uuid = await createBuild(g, 0, "main");
      await waitFor("log build", () => allStopped(g, [uuid]), 600_000);
      const b = await g.store.builds.getByUuid(uuid);
      const seconds = (Date.parse(b?.stopped_on ?? "") - Date.parse(b?.running_on ?? "")) / 1000;
      const kiln = Math.round((b?.log_lines ?? 0) / seconds);

      const client = new pg.Client({ connectionString: g.db.database });
      await client.connect();
      await client.query("create temporary table bare_logs (build_uuid text, line integer, ts bigint, text text, primary key (build_uuid, line))");
      const id = randomUUID();
      const t0 = performance.now();
      for (let first = 0; first < LOG_LINES; first += 2000) {
        await client.query("begin");
        for (let chunk = first; chunk < first + 2000; chunk += 500) {
          const values: string[] = [];
          const params: unknown[] = [];
          for (let i = chunk; i < chunk + 500; i++) {
            values.push(`($${params.length + 1}, $${params.length + 2}, $${params.length + 3}, $${params.length + 4})`);
            params.push(id, i, Date.now(), `line ${i} of the bench log, some padding to look real`);
          }
          await client.query(`insert into bare_logs values ${values.join(",")}`, params);
        }
        await client.query("commit");
      }
      const bare = Math.round(LOG_LINES / ((performance.now() - t0) / 1000));
      await client.end();
      results.log_ingest_pg = { lines: b?.log_lines, kiln_lines_per_s: kiln, bare_insert_lines_per_s: bare, ratio: Math.round((kiln / bare) * 100) / 100 };
      console.log(`log ingest on PostgreSQL: ${kiln} lines/s through a build; bare INSERTs of the same rows ${bare} lines/s`);
    } finally {
      await g.close();
    }
  } finally {
    repo.cleanup();
  }
  return results;
}

/**
 * Creating builds (`POST …/triggers/{id}/builds` with a branch), in one process (SQLite, or
 * PostgreSQL with BENCH_CREATE_DIALECT=postgres), through Fastify's inject (no socket):
 * latency of one create at a time and of 20 at once, against a local repository (file://) and
 * against a remote that answers every fetch 300 ms late (git's smart HTTP behind a delay, as far
 * as a real provider). Next to it, in the same run, what a create used to wait for before it
 * answered: resolving the branch through the mirror (a fetch per create; fetches of one mirror run
 * one at a time, callers arriving meanwhile sharing the next). Then the runner: twenty builds of twenty branches created while held, released
 * at once, and how many fetches of the mirror resolving them took.
 */
import { setupTrigger, waitForStatus } from "../test/helpers/builds.ts";
import { startGitHttpServer } from "../test/helpers/git-http-server.ts";
import { makeRepo } from "../test/helpers/git-repos.ts";
import { startHarness, type Harness } from "../test/helpers/harness.ts";
import type { RepoConnection } from "../src/domain/config-types.ts";

const ALONE = Number(process.env.BENCH_CREATE_ALONE ?? 50);
const ROUNDS = Number(process.env.BENCH_CREATE_ROUNDS ?? 10);
const CONCURRENT = 20;
const DELAY_MS = Number(process.env.BENCH_CREATE_DELAY_MS ?? 300);
const TOKEN = "ghp_BenchCreateToken0123456789";
/** `postgres` needs KILN_TEST_DATABASE_URL (as the tests do). */
const DIALECT = process.env.BENCH_CREATE_DIALECT === "postgres" ? "postgres" : "sqlite";

const pct = (xs: number[], p: number) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return Math.round((sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0) * 10) / 10;
};
const figures = (xs: number[]) => ({ n: xs.length, p50: pct(xs, 50), p99: pct(xs, 99) });

/** Latencies of `op`: `alone` one after another, then `rounds` rounds of CONCURRENT at once. */
async function measure(op: () => Promise<void>, alone: number, rounds: number) {
  await op(); // warm (the mirror exists, Fastify's route compiled)
  const one: number[] = [];
  for (let i = 0; i < alone; i++) {
    const t = performance.now();
    await op();
    one.push(performance.now() - t);
  }
  const many: number[] = [];
  for (let r = 0; r < rounds; r++) {
    await Promise.all(
      Array.from({ length: CONCURRENT }, async () => {
        const t = performance.now();
        await op();
        many.push(performance.now() - t);
      }),
    );
  }
  return { alone_ms: figures(one), concurrent_ms: figures(many) };
}

async function phase(h: Harness, label: string, repo: ReturnType<typeof makeRepo>, advertisements: () => number) {
  const s = await setupTrigger(h, repo, { deploy: "true" }, `bench-${label}`);
  await h.store.accounts.setLimits(s.accountId, { concurrency_limit: 0 });
  const url = `/client/v4/accounts/${s.accountId}/builds/triggers/${s.triggerUuid}/builds`;
  const create = async () => {
    const r = await h.call("POST", url, { token: s.write, body: { branch: "main" } });
    if (r.status !== 200) throw new Error(`create: ${r.status} ${JSON.stringify(r.body)}`);
  };
  const before = advertisements();
  const now = await measure(create, ALONE, ROUNDS);
  const fetchesByCreates = advertisements() - before;
  // What the create path did before it answered at once: resolve the branch through the mirror.
  const trigger = await h.store.triggers.get(s.accountId, s.triggerUuid);
  const connection = (await h.store.repoConnections.get(s.accountId, trigger?.repo_connection_uuid ?? "")) as RepoConnection;
  const resolve = async () => {
    if (!(await h.kiln.deps.commits.resolve(connection, { branch: "main" }))) throw new Error("main did not resolve");
  };
  const resolution = await measure(resolve, Math.min(ALONE, 20), Math.min(ROUNDS, 3));
  console.log(
    `create (${label}): alone p50 ${now.alone_ms.p50} ms p99 ${now.alone_ms.p99}; ${CONCURRENT} at once p50 ${now.concurrent_ms.p50} ms p99 ${now.concurrent_ms.p99}; ` +
      `fetches during the creates ${fetchesByCreates}. The resolution a create used to wait for: alone p50 ${resolution.alone_ms.p50} ms, ${CONCURRENT} at once p50 ${resolution.concurrent_ms.p50} ms`,
  );
  return { create: now, fetches_during_creates: fetchesByCreates, resolution_before_answering_was: resolution };
}

export async function benchCreate(): Promise<Record<string, unknown>> {
  const results: Record<string, unknown> = { dialect: DIALECT };
  const repo = makeRepo({ name: "bench-create", files: { "a.txt": "a" } });
  const remote = await startGitHttpServer(repo.dir, "x-access-token", TOKEN, { delayMs: DELAY_MS });
  const advertisements = () => remote.requests.filter((r) => r.path.endsWith("/info/refs") && r.status === 200).length;
  try {
    const local = await startHarness(DIALECT, {}, { gitUrlTemplate: repo.template, logLevel: "warn" });
    try {
      results.local = await phase(local, "local", repo, () => 0);
    } finally {
      await local.close();
    }
    const far = await startHarness(DIALECT, {}, { gitUrlTemplate: `${remote.url}/{repo_name}.git`, githubToken: TOKEN, slots: 4, logLevel: "warn" });
    try {
      results[`remote_${DELAY_MS}ms`] = await phase(far, `remote +${DELAY_MS} ms`, repo, advertisements);

      // The runner resolves: twenty builds waiting on one repository, then released together.
      const s = await setupTrigger(far, repo, { deploy: "true" }, "bench-runner");
      const branches = Array.from({ length: CONCURRENT }, (_, i) => `r${i}`);
      for (const b of branches) repo.commit({ [`${b}.txt`]: b }, b, { branch: b });
      await far.store.accounts.setLimits(s.accountId, { concurrency_limit: 0 });
      const url = `/client/v4/accounts/${s.accountId}/builds/triggers/${s.triggerUuid}/builds`;
      const uuids = await Promise.all(branches.map(async (branch) => (await far.call("POST", url, { token: s.write, body: { branch } })).body.result.build_uuid as string));
      const before = advertisements();
      await far.kiln.runner?.start();
      await far.store.accounts.setLimits(s.accountId, { concurrency_limit: null });
      for (const uuid of uuids) far.kiln.signals.queued(uuid);
      const done = await Promise.all(uuids.map((uuid) => waitForStatus(far, s, uuid, "stopped", 300_000)));
      const toRunning = done.map((b) => Date.parse(b.running_on) - Date.parse(b.initializing_on));
      results.runner = {
        builds: CONCURRENT,
        outcomes: [...new Set(done.map((b) => b.build_outcome))],
        mirror_fetches: advertisements() - before,
        initializing_to_running_ms: figures(toRunning),
      };
      console.log(`runner: ${CONCURRENT} builds of ${CONCURRENT} branches released at once: ${advertisements() - before} fetch(es) of the mirror; initializing→running p50 ${pct(toRunning, 50)} ms`);
    } finally {
      await far.close();
    }
  } finally {
    await remote.close();
    repo.cleanup();
  }
  return results;
}

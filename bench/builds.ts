/**
 * Builds end to end, in one process with the real runner, sandbox, git and SQLite:
 * - dispatch latency: created_on → running_on of a trivial build with a warm mirror;
 * - cancel latency: PUT …/cancel until the answer (the tree is gone by then; checked), for a
 *   cooperative tree and for one ignoring SIGTERM (grace 50 ms), next to the baseline of a
 *   bare spawn + kill(-pgid, SIGKILL) + wait of the same tree;
 * - log ingest: a build printing 1,000,000 lines, every line read back through #6 (count and
 *   checksum), with the process's peak RSS.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { allLogs, buildProcesses, getBuild, setupTrigger, startBuild, waitFor, waitForStatus } from "../test/helpers/builds.ts";
import { makeRepo } from "../test/helpers/git-repos.ts";
import { startHarness } from "../test/helpers/harness.ts";

const CANCELS = Number(process.env.BENCH_CANCELS ?? 100);
const DISPATCHES = Number(process.env.BENCH_DISPATCHES ?? 50);
const LOG_LINES = Number(process.env.BENCH_LOG_LINES ?? 1_000_000);

const pct = (xs: number[], p: number) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return Math.round((sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0) * 10) / 10;
};

async function bareKill(): Promise<number> {
  const child = spawn("sh", ["-c", "sleep 300 & sleep 300"], { detached: true, stdio: "ignore" });
  await new Promise((r) => setTimeout(r, 20));
  const started = performance.now();
  const exited = new Promise((r) => child.once("exit", r));
  process.kill(-(child.pid ?? 0), "SIGKILL");
  await exited;
  return performance.now() - started;
}

export async function benchBuilds(): Promise<Record<string, unknown>> {
  const repo = makeRepo({ name: "bench", files: { "a.txt": "a" } });
  const h = await startHarness("sqlite", {}, { runner: true, gitUrlTemplate: repo.template, cancelGrace: 0.05, slots: 2, logLevel: "warn" });
  const results: Record<string, unknown> = {};
  try {
    // Dispatch.
    const trivial = await setupTrigger(h, repo, { deploy: "true" }, "dispatch");
    await waitForStatus(h, trivial, await startBuild(h, trivial), "stopped"); // warms the mirror
    const dispatch: number[] = [];
    const total: number[] = [];
    for (let i = 0; i < DISPATCHES; i++) {
      const b = await waitForStatus(h, trivial, await startBuild(h, trivial), "stopped");
      dispatch.push(Date.parse(b.running_on) - Date.parse(b.created_on));
      total.push(Date.parse(b.stopped_on) - Date.parse(b.created_on));
    }
    results.dispatch_ms = { n: DISPATCHES, p50: pct(dispatch, 50), p99: pct(dispatch, 99), created_to_stopped_p50: pct(total, 50) };
    console.log(`dispatch: created→running p50 ${pct(dispatch, 50)} ms, p99 ${pct(dispatch, 99)} ms; created→stopped p50 ${pct(total, 50)} ms`);

    // Cancel.
    for (const [label, command] of [
      ["cooperative", "sleep 300 & echo up; wait"],
      ["ignores_sigterm", "trap '' TERM; (trap '' TERM; sleep 300) & echo up; while :; do sleep 1; done"],
    ] as const) {
      const s = await setupTrigger(h, repo, { build: command }, `cancel-${label.replace("_", "-")}`);
      const latencies: number[] = [];
      const baseline: number[] = [];
      for (let i = 0; i < CANCELS; i++) {
        const uuid = await startBuild(h, s);
        await waitFor("the tree", async () => buildProcesses(uuid).length >= 2);
        const started = performance.now();
        const r = await h.call("PUT", `/client/v4/accounts/${s.accountId}/builds/builds/${uuid}/cancel`, { token: s.write });
        latencies.push(performance.now() - started);
        if (r.status !== 200 || buildProcesses(uuid).length > 0) throw new Error(`cancel ${uuid}: ${r.status}, left ${buildProcesses(uuid)}`);
        baseline.push(await bareKill());
      }
      results[`cancel_${label}_ms`] = {
        n: CANCELS,
        p50: pct(latencies, 50),
        p99: pct(latencies, 99),
        bare_kill_p50: pct(baseline, 50),
        bare_kill_p99: pct(baseline, 99),
      };
      console.log(
        `cancel (${label}): p50 ${pct(latencies, 50)} ms, p99 ${pct(latencies, 99)} ms; bare spawn+kill+wait p50 ${pct(baseline, 50)} ms, p99 ${pct(baseline, 99)} ms`,
      );
    }

    // Log ingest.
    const logs = await setupTrigger(h, repo, { build: `awk 'BEGIN { for (i = 0; i < ${LOG_LINES}; i++) printf "line %d of the benchmark output, some padding text\\n", i }'` }, "logs");
    let peak = process.memoryUsage().rss;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    const uuid = await startBuild(h, logs);
    const b = await waitForStatus(h, logs, uuid, "stopped", 600_000);
    clearInterval(sampler);
    const seconds = (Date.parse(b.stopped_on) - Date.parse(b.running_on)) / 1000;
    const readStart = performance.now();
    const { lines } = await allLogs(h, logs, uuid);
    const readSeconds = (performance.now() - readStart) / 1000;
    const expected = createHash("sha256");
    for (let i = 0; i < LOG_LINES; i++) expected.update(`line ${i} of the benchmark output, some padding text\n`);
    const got = createHash("sha256");
    let count = 0;
    for (const [, text] of lines) {
      if (text.startsWith("line ")) {
        got.update(`${text}\n`);
        count++;
      }
    }
    const equal = count === LOG_LINES && got.digest("hex") === expected.digest("hex");
    results.log_ingest = {
      lines: LOG_LINES,
      lines_per_second: Math.round(LOG_LINES / seconds),
      peak_rss_mib: Math.round(peak / 1024 / 1024),
      read_back_lines_per_second: Math.round(lines.length / readSeconds),
      read_back_equal: equal,
      outcome: (await getBuild(h, logs, uuid)).build_outcome,
    };
    console.log(
      `log ingest: ${Math.round(LOG_LINES / seconds)} lines/s, peak RSS ${Math.round(peak / 1024 / 1024)} MiB, read back ${Math.round(lines.length / readSeconds)} lines/s, count and checksum ${equal ? "equal" : "DIFFERENT"}`,
    );
  } finally {
    await h.close();
    repo.cleanup();
  }
  return results;
}

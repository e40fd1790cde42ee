/**
 * Cancel latency: abort → runStep resolved (every process of the tree verified gone), over
 * BENCH_CANCELS (default 100) cancels per case:
 * 1. a cooperative tree (SIGTERM ends it) in the sandbox's best mode (namespaces where possible);
 * 2. a tree that ignores SIGTERM, graceMs = 50 (so ≥ 50 ms by design: SIGKILL at the grace);
 * 3. the same cooperative tree in process-group mode (the fallback);
 * against the baseline measured in the same run: a bare `spawn` of the same tree in its own
 * process group + `kill(-pgid, SIGKILL)` + wait for the leader's exit and the group to be empty.
 * Each case also reports the start latency (spawn → the tree's "ready" line).
 *
 * Run alone: `node --import tsx bench/cancel.ts`.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { groupAlive, sleep } from "../src/runner/process-tree.ts";
import { claimUid } from "../src/runner/build-uids.ts";
import { detectSandbox, runStep, type SandboxMode } from "../src/runner/sandbox.ts";

const CANCELS = Number(process.env.BENCH_CANCELS ?? 100);
const COOPERATIVE = "sleep 300 & (sleep 300 & echo forked) & echo ready; wait";
const IGNORING = "trap '' TERM; sleep 300 & (sleep 300 & echo forked) & echo ready; wait";

interface Figures {
  cancels: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  start_p50_ms: number;
}

function percentile(sorted: number[], p: number): number {
  const v = sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? NaN;
  return Math.round(v * 100) / 100;
}

function figures(cancel: number[], start: number[]): Figures {
  const c = [...cancel].sort((a, b) => a - b);
  const s = [...start].sort((a, b) => a - b);
  return { cancels: c.length, p50_ms: percentile(c, 0.5), p99_ms: percentile(c, 0.99), max_ms: percentile(c, 1), start_p50_ms: percentile(s, 0.5) };
}

/** One sandboxed step: start, wait for both ready lines, abort, time until runStep resolves. */
async function sandboxed(mode: SandboxMode, command: string, graceMs: number, dirs: { data: string; work: string }, uid?: number): Promise<[number, number]> {
  const controller = new AbortController();
  let seen = "";
  let ready: () => void = () => undefined;
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  const t0 = performance.now();
  const step = runStep(command, {
    cwd: path.join(dirs.work, "repo"),
    env: { PATH: "/usr/bin:/bin" },
    dirs: { repo: path.join(dirs.work, "repo"), home: path.join(dirs.work, "home"), tmp: path.join(dirs.work, "tmp") },
    ...(uid !== undefined ? { uid } : {}),
    signal: controller.signal,
    graceMs,
    mode,
    onOutput(chunk) {
      seen += chunk;
      if (seen.includes("ready") && seen.includes("forked")) ready();
    },
  });
  await Promise.race([isReady, step.then((r) => Promise.reject(new Error(`step ended early: ${JSON.stringify(r)} ${seen}`)))]);
  const t1 = performance.now();
  controller.abort();
  const result = await step;
  if (result.reason !== "cancelled") throw new Error(`unexpected ${result.reason}`);
  return [performance.now() - t1, t1 - t0];
}

/** The baseline: no sandbox at all, just a process group killed outright. */
async function bare(command: string, cwd: string): Promise<[number, number]> {
  const t0 = performance.now();
  const child = spawn("/bin/sh", ["-e", "-c", command], { cwd, env: { PATH: "/usr/bin:/bin" }, detached: true, stdio: ["ignore", "pipe", "ignore"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let seen = "";
  await new Promise<void>((resolve) =>
    child.stdout.on("data", (c: Buffer) => {
      seen += c.toString();
      if (seen.includes("ready") && seen.includes("forked")) resolve();
    }),
  );
  const t1 = performance.now();
  const pgid = child.pid ?? 0;
  child.stdout.destroy();
  process.kill(-pgid, "SIGKILL");
  await exited;
  // Zombies count as gone (as in the sandbox): some container inits reap orphans late.
  while (groupAlive(pgid)) await sleep(1);
  return [performance.now() - t1, t1 - t0];
}

async function measure(label: string, once: () => Promise<[number, number]>): Promise<Figures> {
  for (let i = 0; i < 3; i++) await once(); // warm-up
  const cancel: number[] = [];
  const start: number[] = [];
  for (let i = 0; i < CANCELS; i++) {
    const [c, s] = await once();
    cancel.push(c);
    start.push(s);
  }
  const f = figures(cancel, start);
  console.log(`${label.padEnd(44)} cancel p50 ${f.p50_ms} ms, p99 ${f.p99_ms} ms, max ${f.max_ms} ms (n=${f.cancels}); start p50 ${f.start_p50_ms} ms`);
  return f;
}

export async function benchCancel(): Promise<Record<string, unknown>> {
  const sandbox = await detectSandbox();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-bench-cancel-"));
  fs.chmodSync(root, 0o755);
  const data = path.join(root, "data");
  const work = path.join(data, "work", "bench");
  fs.mkdirSync(path.join(work, "home"), { recursive: true });
  fs.mkdirSync(path.join(work, "repo"), { recursive: true });
  const dirs = { data, work };
  console.log(`sandbox: ${sandbox.mode} (${sandbox.detail})`);
  const claimed = sandbox.mode === "bubblewrap" ? await claimUid({ first: 1_000_000, last: 1_065_535 }) : undefined;
  try {
    const cooperative = await measure(`${sandbox.mode}, cooperative tree`, () => sandboxed(sandbox.mode, COOPERATIVE, 5000, dirs, claimed?.uid));
    const ignoring = await measure(`${sandbox.mode}, ignores SIGTERM, grace 50 ms`, () => sandboxed(sandbox.mode, IGNORING, 50, dirs, claimed?.uid));
    const group = await measure("process-group, cooperative tree", () => sandboxed("process-group", COOPERATIVE, 5000, dirs));
    const baseline = await measure("baseline: bare spawn + kill(-pgid, SIGKILL)", () => bare(COOPERATIVE, work));
    return {
      mode: sandbox.mode,
      detail: sandbox.detail,
      cooperative,
      ignores_sigterm_grace_50ms: ignoring,
      process_group_cooperative: group,
      baseline_bare_sigkill: baseline,
    };
  } finally {
    await claimed?.release();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  console.log(JSON.stringify(await benchCancel(), null, 2));
}

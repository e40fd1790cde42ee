/**
 * What the sandbox costs per build and per step, against a bare spawn measured in the same run
 * (BENCH_STEPS, default 40, of each):
 * - a step running `true`: bare `spawn("/bin/sh", ["-c", "true"])`, the process-group fallback,
 *   bubblewrap with no network, bubblewrap in a build's isolated network;
 * - per build: the isolated network (namespace + nftables + slirp4netns, made and removed), what
 *   opening costs when the runner's spare network is ready, and the uid claim.
 *
 * Run alone: `node --import tsx bench/sandbox.ts`.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { closeSpareNetwork, detectNetwork, openBuildNetwork } from "../src/runner/build-network.ts";
import { claimUid } from "../src/runner/build-uids.ts";
import { detectSandbox, runStep, type SandboxOptions, type StepNetwork } from "../src/runner/sandbox.ts";

const STEPS = Number(process.env.BENCH_STEPS ?? 40);

function p50(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round((sorted[Math.floor(sorted.length / 2)] ?? NaN) * 100) / 100;
}

async function times(once: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 3; i++) await once();
  const ms: number[] = [];
  for (let i = 0; i < STEPS; i++) {
    const t = performance.now();
    await once();
    ms.push(performance.now() - t);
  }
  return p50(ms);
}

function bare(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("/bin/sh", ["-c", "true"], { stdio: ["ignore", "pipe", "pipe"] });
    child.on("error", reject);
    child.on("close", () => resolve());
  });
}

export async function benchSandbox(): Promise<Record<string, unknown>> {
  const sandbox = await detectSandbox();
  const network = await detectNetwork();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-bench-sandbox-"));
  const work = path.join(root, "data", "work", "b");
  const dirs = { repo: path.join(work, "repo"), home: path.join(work, "home"), tmp: path.join(work, "tmp") };
  for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });
  fs.chmodSync(path.join(root, "data"), 0o700);
  const claimed = sandbox.mode === "bubblewrap" ? await claimUid({ first: 1_000_000, last: 1_065_535 }) : undefined;
  const step = (extra: Partial<SandboxOptions>) => () =>
    runStep("true", { cwd: dirs.repo, env: { PATH: "/usr/bin:/bin" }, dirs, signal: new AbortController().signal, graceMs: 1000, onOutput: () => undefined, ...extra });
  const out: Record<string, unknown> = { mode: sandbox.mode, steps: STEPS };
  try {
    const baseline = await times(bare);
    out.bare_spawn_p50_ms = baseline;
    const ratio = (ms: number) => Math.round((ms / baseline) * 10) / 10;
    const group = await times(step({ mode: "process-group" }));
    out.process_group_p50_ms = group;
    console.log(`step 'true': bare spawn p50 ${baseline} ms; process group ${group} ms (×${ratio(group)})`);
    if (claimed) {
      const none = await times(step({ mode: "bubblewrap", uid: claimed.uid, network: { mode: "none" } }));
      out.bubblewrap_no_network_p50_ms = none;
      console.log(`step 'true': bubblewrap, no network ${none} ms (×${ratio(none)})`);
      if (network.isolated) {
        const net = await openBuildNetwork({ mode: "isolated", allow: [] });
        const stepNet: StepNetwork = { mode: "isolated", ...(net.netnsPath ? { netnsPath: net.netnsPath } : {}), ...(net.resolvConf ? { resolvConf: net.resolvConf } : {}) };
        try {
          const isolated = await times(step({ mode: "bubblewrap", uid: claimed.uid, network: stepNet }));
          out.bubblewrap_isolated_p50_ms = isolated;
          console.log(`step 'true': bubblewrap, isolated network ${isolated} ms (×${ratio(isolated)})`);
        } finally {
          await net.close();
        }
        const perBuild = await times(async () => (await openBuildNetwork({ mode: "isolated", allow: [] }, { spare: false })).close());
        out.network_open_close_p50_ms = perBuild;
        console.log(`per build: isolated network made and removed (namespace, nftables, slirp4netns) ${perBuild} ms (×${ratio(perBuild)})`);
        // What a build waits for when the runner's spare network is ready (taken; the next one is made behind it).
        const opened: { close(): Promise<void> }[] = [];
        const taken = await times(async () => {
          opened.push(await openBuildNetwork({ mode: "isolated", allow: [] }));
          await new Promise((r) => setTimeout(r, 60)); // the spare is made meanwhile, as during a build
        });
        for (const n of opened) await n.close();
        out.network_spare_taken_p50_ms = Math.round((taken - 60) * 100) / 100;
        console.log(`per build: with the spare ready, opening takes ${out.network_spare_taken_p50_ms} ms`);
      }
      const uid = await times(async () => (await claimUid({ first: 1_000_000, last: 1_065_535 })).release());
      out.uid_claim_release_p50_ms = uid;
      console.log(`per build: uid claimed and released ${uid} ms`);
    }
    return out;
  } finally {
    await closeSpareNetwork();
    await claimed?.release();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) console.log(JSON.stringify(await benchSandbox(), null, 2));

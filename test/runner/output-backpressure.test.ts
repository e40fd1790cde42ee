/**
 * Back-pressure from the build log to the build's pipes: while onOutput hands back a
 * promise, the step's output is not read (the process blocks on its full pipe instead of the
 * runner buffering it), and nothing of the output is lost, its end included. Real processes in
 * the process-group sandbox mode; and BuildLog asks to wait only past its mark.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { BuildLog, MAX_PENDING_CHUNKS } from "../../src/runner/build-log.ts";
import { runStep, type SandboxOptions } from "../../src/runner/sandbox.ts";
import type { StorePort } from "../../src/domain/ports.ts";

const roots: string[] = [];
after(() => {
  for (const root of roots) fs.rmSync(root, { recursive: true, force: true });
});

function options(onOutput: SandboxOptions["onOutput"]): SandboxOptions {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-backpressure-"));
  roots.push(root);
  const dirs = { repo: path.join(root, "repo"), home: path.join(root, "home"), tmp: path.join(root, "tmp") };
  for (const d of Object.values(dirs)) fs.mkdirSync(d);
  return { cwd: dirs.repo, env: { PATH: "/usr/bin:/bin" }, dirs, signal: new AbortController().signal, graceMs: 1000, mode: "process-group", onOutput };
}

describe("output back-pressure", () => {
  it("does not read a step's pipe while the consumer asks to wait, and loses nothing (20 MB, end included)", async () => {
    let bytes = 0;
    let waiting = 0;
    let readWhileWaiting = 0;
    let tail = "";
    const result = await runStep(
      "head -c 20000000 /dev/zero | tr '\\0' a; echo END",
      options((chunk) => {
        if (waiting > 0) readWhileWaiting++;
        bytes += chunk.length;
        tail = (tail + chunk.toString()).slice(-8);
        // A slow consumer: every chunk is taken 1 ms later.
        waiting++;
        return new Promise<void>((resolve) => setTimeout(resolve, 1)).finally(() => waiting--);
      }),
    );
    assert.equal(result.exitCode, 0);
    assert.equal(bytes, 20_000_004);
    assert.equal(tail, "aaaaEND\n");
    // Only the rest of the pipe, read once the step's processes are gone, may come while the
    // consumer still waits (without back-pressure: nearly every chunk did, 2,940 in one run).
    assert.ok(readWhileWaiting <= 16, `${readWhileWaiting} chunks arrived while the previous one was being taken`);
  });

  it("reads what is left in the pipe once the step is gone, even while the consumer still waits", async () => {
    let bytes = 0;
    let first = true;
    const t = performance.now();
    const result = await runStep(
      // A first chunk, then less than a pipe holds: the step can write it all and exit while its pipe is not read.
      "printf first; sleep 0.3; head -c 60000 /dev/zero | tr '\\0' b; echo END",
      options((chunk) => {
        bytes += chunk.length;
        if (!first) return undefined;
        first = false;
        // The first chunk is taken only long after the step has ended.
        return new Promise<void>((resolve) => setTimeout(resolve, 5000).unref());
      }),
    );
    assert.equal(result.exitCode, 0);
    assert.equal(bytes, 60_009, "the rest of the pipe was read, not cut off");
    assert.ok(performance.now() - t < 4000, "the step did not wait for the consumer once its processes were gone");
  });

  it("BuildLog hands back a promise only past its mark of pending chunks", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    // A store whose first write waits at the gate: chunks pile up behind it.
    const store = {
      transaction: async (fn: (r: unknown) => Promise<unknown>) => {
        await gate;
        return fn({ builds: { holds: async () => true, appendLogs: async (_u: string, _f: number, lines: unknown[]) => ({ taken: lines.length, rows: lines.length, extraBytes: 0 }) } });
      },
    } as unknown as StorePort;
    const log = new BuildLog(store, "b", "r", 0, 1024 * 1024, []);
    const line = Buffer.from(`${"x".repeat(300 * 1024)}\n`);
    const answers: (Promise<void> | undefined)[] = [];
    for (let i = 0; i < MAX_PENDING_CHUNKS + 8; i++) answers.push(log.chunk(line));
    assert.ok(answers.slice(0, MAX_PENDING_CHUNKS).every((a) => a === undefined));
    assert.ok(answers.slice(MAX_PENDING_CHUNKS).every((a) => a instanceof Promise));
    release();
    await Promise.all(answers);
    assert.equal(log.backlog, 0);
    await log.close();
  });
});

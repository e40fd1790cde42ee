/**
 * What both sandbox modes share once a step's process is started: output, cancel, timeout and
 * grace (`supervise`), and the registry of running sandboxes' process facts (for
 * `listSandboxProcesses`). A mode describes its process tree as a `Tree`.
 */
import type { ChildProcess } from "node:child_process";
import { allPids, environHas, isRunning, pidNamespace, readStat, sleep } from "./process-tree.ts";
import type { SandboxOptions, StepEndReason } from "./sandbox.ts";

export interface Ended {
  exitCode: number | null;
  signal: string | null;
  reason: StepEndReason;
}

/** How a mode signals its tree and knows it is gone. */
export interface Tree {
  /** SIGTERM to every process of the tree. */
  terminate(): void;
  /** SIGKILL to every process of the tree. */
  kill(): void;
  /** After the main process exited: resolves once no process of the tree is left. */
  gone(cancelling: boolean): Promise<void>;
}

/**
 * What identifies a running sandbox's processes besides the environment marker (forgotten when
 * the step ends: its tree is gone then, and a namespace's inode number can be reused).
 */
export const known = new Map<string, { ns?: string; pgid?: number }>();

export function remember(id: string, fact: { ns?: string; pgid?: number }): void {
  known.set(id, { ...known.get(id), ...fact });
}

/**
 * Live (non-zombie) processes of a sandbox: those whose environment carries its
 * KILN_SANDBOX_ID, plus, while this process runs it, those in its PID namespace or process
 * group. For tests and diagnostics (scans /proc).
 */
export function listSandboxProcesses(sandboxId: string): number[] {
  const marker = `KILN_SANDBOX_ID=${sandboxId}`;
  const fact = known.get(sandboxId);
  return allPids().filter((pid) => {
    if (pid === process.pid || !isRunning(pid)) return false;
    if (environHas(pid, marker)) return true;
    if (fact?.ns !== undefined && pidNamespace(pid) === fact.ns) return true;
    return fact?.pgid !== undefined && readStat(pid)?.pgrp === fact.pgid;
  });
}

/** Output, cancel, timeout and grace for one step, the same in both modes. */
export async function supervise(child: ChildProcess, opts: SandboxOptions, tree: Tree, onExit: () => void): Promise<Ended> {
  const streams = [child.stdout, child.stderr];
  // Back-pressure: while the log asks to wait, the pipe is not read. Once the tree is gone what
  // is left in the pipes (a pipe's capacity) is read without waiting, so none of it is cut off.
  let draining = false;
  for (const [stream, name] of [[child.stdout, "stdout"], [child.stderr, "stderr"]] as const) {
    stream?.on("data", (chunk: Buffer) => {
      const wait = opts.onOutput(chunk, name);
      if (wait instanceof Promise && !draining) {
        stream.pause();
        void wait.finally(() => stream.resume());
      }
    });
  }
  const closed = Promise.all(streams.map((s) => (s ? new Promise<void>((resolve) => s.once("close", () => resolve())) : undefined)));

  let reason: StepEndReason = "exit";
  let exited = false;
  let graceTimer: NodeJS.Timeout | undefined;
  const stop = (why: "cancelled" | "timeout") => {
    if (exited || reason !== "exit") return;
    reason = why;
    tree.terminate();
    graceTimer = setTimeout(() => tree.kill(), opts.graceMs);
  };
  const onAbort = () => stop("cancelled");
  opts.signal.addEventListener("abort", onAbort, { once: true });
  const timeoutTimer = opts.timeoutMs !== undefined ? setTimeout(() => stop("timeout"), opts.timeoutMs) : undefined;
  if (opts.signal.aborted) onAbort();

  try {
    const status = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      child.once("exit", (code, signal) => resolve({ code, signal }));
      child.once("error", (error) => {
        if (child.pid === undefined) reject(error); // could not start; 'exit' will not come
      });
    });
    exited = true;
    onExit();
    clearTimeout(timeoutTimer);
    await tree.gone(reason !== "exit");
    draining = true;
    for (const s of streams) s?.resume();
    // Every process of the tree is gone: what remains in the pipes is read; a pipe still held
    // open (only possible by a process that escaped a process group) is cut after a moment.
    await Promise.race([closed, sleep(200)]);
    return { exitCode: status.code, signal: status.signal, reason };
  } catch (error) {
    tree.kill();
    throw error;
  } finally {
    clearTimeout(timeoutTimer);
    clearTimeout(graceTimer);
    opts.signal.removeEventListener("abort", onAbort);
    for (const s of streams) s?.destroy();
    for (const extra of child.stdio.slice(3)) extra?.destroy();
  }
}

/**
 * Mutual exclusion for a mirror: an in-process queue per key (callers in one process wait in
 * order, without polling) plus a lock file created with `wx` for other processes on the same
 * machine (an API process and `kiln runner` sharing a data dir).
 *
 * The lock file holds `pid host time`; its holder touches it every few seconds. A waiter removes
 * it when the holder is a dead process on this host, or when it was not touched for STALE_MS
 * (a holder on another machine sharing the directory that died). Two waiters that both judge the
 * same file stale could race on removing it; that needs a crash first and at worst lets two
 * fetches of one mirror overlap, which git itself tolerates (ref updates are locked by git).
 */
import fs from "node:fs/promises";
import os from "node:os";
import { untilAborted } from "../abort.ts";

const STALE_MS = 60_000;
const HEARTBEAT_MS = 5_000;

const queues = new Map<string, Promise<void>>();

export class LockTimeoutError extends Error {
  constructor(path: string) {
    super(`timed out waiting for the lock ${path}`);
    this.name = "LockTimeoutError";
  }
}

export interface LockOptions {
  /** How long to wait for the lock (default 10 minutes). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Runs fn while holding the lock `lockPath` (in-process queue, then the lock file). */
export async function withLock<T>(lockPath: string, fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const previous = queues.get(lockPath) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => (release = resolve));
  const tail = previous.then(() => mine);
  queues.set(lockPath, tail);
  try {
    // Queued behind a holder that may take long (a fetch from a server that does not answer):
    // the wait ends with the caller's signal; the queue order stays (mine is released below).
    await (options.signal ? untilAborted(previous, options.signal) : previous);
    const unlock = await acquireFile(lockPath, options);
    try {
      return await fn();
    } finally {
      await unlock();
    }
  } finally {
    release();
    if (queues.get(lockPath) === tail) queues.delete(lockPath);
  }
}

async function acquireFile(lockPath: string, options: LockOptions): Promise<() => Promise<void>> {
  const deadline = Date.now() + (options.timeoutMs ?? 10 * 60_000);
  const stamp = `${process.pid} ${os.hostname()} ${Date.now()}`;
  let delay = 10;
  for (;;) {
    if (options.signal?.aborted) throw new Error(`aborted waiting for the lock ${lockPath}`);
    try {
      const handle = await fs.open(lockPath, "wx", 0o600);
      await handle.writeFile(stamp);
      await handle.close();
      const beat = setInterval(() => {
        const now = new Date();
        fs.utimes(lockPath, now, now).catch(() => undefined);
      }, HEARTBEAT_MS);
      beat.unref();
      return async () => {
        clearInterval(beat);
        await fs.rm(lockPath, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    if (await isStale(lockPath)) {
      await fs.rm(lockPath, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new LockTimeoutError(lockPath);
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 250);
  }
}

async function isStale(lockPath: string): Promise<boolean> {
  try {
    const [text, stat] = await Promise.all([fs.readFile(lockPath, "utf8"), fs.stat(lockPath)]);
    if (Date.now() - stat.mtimeMs > STALE_MS) return true;
    const [pid, host] = text.split(" ");
    if (host === os.hostname() && pid && /^\d+$/.test(pid) && Number(pid) !== process.pid) {
      try {
        process.kill(Number(pid), 0);
      } catch (error) {
        return (error as NodeJS.ErrnoException).code === "ESRCH";
      }
    }
    return false;
  } catch {
    // Vanished (released) or half-written: try again.
    return false;
  }
}

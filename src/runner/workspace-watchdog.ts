/**
 * The workspace-size watchdog (a resource limit hit — processes, memory, disk — ends a build
 * `terminated`): while a build's steps run, the build's work dir (workspace and
 * HOME, both under `<data-dir>/work/<uuid>`) is measured every `intervalMs`; the first time it is
 * over `limitBytes`, `onExceeded` is called once and the watchdog stops. The pipeline aborts the
 * build's AbortController from there, so the sandbox's one cancel path ends the tree.
 *
 * How it measures, and why: `du -s -B1 --one-file-system -- <dir>` through execFile (an argv
 * array, no shell). A Node walk (readdir + lstat per entry) would do the same system calls, but
 * each one as a libuv request from the server process: a node_modules of 100 000 files every
 * second means 100 000+ callbacks on the event loop and the thread pool shared with the store
 * and the log pipeline. `du` does the walk in C in another process, off the event loop, and costs
 * one fork per tick. Measurements never overlap (the next tick is scheduled when the previous `du`
 * is done), so a very large tree is measured less often rather than by several `du` at once; a
 * `du` that hangs (a stuck filesystem) is killed after `measureTimeoutMs`.
 *
 * What is counted: allocated blocks (`-B1`, not `-b`'s apparent size), i.e. the disk actually
 * used, which is what fills the host: a sparse `truncate -s 1T` file costs nothing and is not
 * counted. Hard links are counted once, symbolic links are not followed, other filesystems
 * mounted below are skipped. Not counted: files the build deleted but still holds open, and
 * anything it writes outside its work dir (e.g. a world-writable /tmp of the host).
 *
 * `du` exits 1 when an entry vanished during the walk (common while npm installs) or could not
 * be read; the total it printed is still used. A tick without a total is skipped; `onError` hears
 * about it (once per watchdog), so a host without `du` is visible in the logs.
 */
import { execFile } from "node:child_process";

export interface WorkspaceWatchdogOptions {
  /** The build's work dir (workspace and HOME). */
  dir: string;
  limitBytes: number;
  /** Time between the end of one measurement and the start of the next (default 1000 ms). */
  intervalMs?: number;
  /** A `du` running longer is killed and that tick skipped (default 120 s). */
  measureTimeoutMs?: number;
  /** Called once, with the size measured, when it is over the limit. */
  onExceeded(usedBytes: number): void;
  /** A measurement failed (called once per watchdog). */
  onError?(error: Error): void;
  /** Replaces `du` (tests). `signal` fires when the watchdog stops. */
  measure?: (dir: string, timeoutMs: number, signal: AbortSignal) => Promise<number>;
}

export interface WorkspaceWatchdog {
  /** Stops measuring (a `du` in flight is killed); resolves once no measurement is in flight. */
  stop(): Promise<void>;
  /** Whether the limit was exceeded. */
  readonly exceeded: boolean;
  /** The latest size measured, in bytes (undefined before the first). */
  readonly lastBytes: number | undefined;
}

/** Bytes allocated under `dir` (one filesystem, hard links once, symlinks not followed). */
export function measureDiskUsage(dir: string, timeoutMs = 120_000, signal?: AbortSignal): Promise<number> {
  return new Promise((resolve, reject) => {
    execFile(
      "du",
      ["-s", "-B1", "--one-file-system", "--", dir],
      { timeout: timeoutMs, killSignal: "SIGKILL", maxBuffer: 1024 * 1024, encoding: "utf8", env: { PATH: "/usr/bin:/bin", LC_ALL: "C" }, ...(signal ? { signal } : {}) },
      (error, stdout, stderr) => {
        // The total comes last; du still prints it after "cannot access" warnings (exit 1).
        const m = /^(\d+)\t/m.exec(stdout);
        if (m) return resolve(Number(m[1]));
        reject(new Error(`du ${dir}: ${error?.message ?? "no total"}${stderr ? `: ${stderr.trim().split("\n").slice(-1)[0]}` : ""}`));
      },
    );
  });
}

export function watchWorkspace(opts: WorkspaceWatchdogOptions): WorkspaceWatchdog {
  const intervalMs = opts.intervalMs ?? 1000;
  const timeoutMs = opts.measureTimeoutMs ?? 120_000;
  const measure = opts.measure ?? measureDiskUsage;
  let stopped = false;
  let exceeded = false;
  let reported = false;
  let lastBytes: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> | undefined;
  // A build that ends (or is cancelled) does not wait for a walk of a huge tree to finish.
  const stopping = new AbortController();

  const tick = async () => {
    try {
      const used = await measure(opts.dir, timeoutMs, stopping.signal);
      if (stopped) return;
      lastBytes = used;
      if (used > opts.limitBytes) {
        exceeded = true;
        stopped = true;
        opts.onExceeded(used);
      }
    } catch (error) {
      if (!stopped && !reported) {
        reported = true;
        opts.onError?.(error as Error);
      }
    }
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      inFlight = tick().finally(() => {
        inFlight = undefined;
        schedule();
      });
    }, intervalMs);
    timer.unref();
  };
  schedule();

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      stopping.abort();
      await inFlight;
    },
    get exceeded() {
      return exceeded;
    },
    get lastBytes() {
      return lastBytes;
    },
  };
}

/** The build's last log line when the watchdog stopped it. */
export function workspaceLimitLine(limitBytes: number): string {
  return `Build was terminated: it exceeded the workspace limit of ${limitBytes} bytes`;
}

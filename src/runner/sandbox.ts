/**
 * The build sandbox: runs one step (`sh -e -c <command>`) and controls its whole process tree
 * (docs/architecture.md, Sandbox and Cancel). Knows nothing of HTTP, the database or builds.
 *
 * Intended flow: `detectSandbox()` once (cached) and log its answer; then `runStep()` per step
 * (build-sandbox.ts does both for a build, with its uid and network). Modes:
 * - "bubblewrap": the step runs under bwrap as the build's own uid, in new PID, mount, IPC, UTS,
 *   cgroup and user namespaces (no nested user namespaces, no capabilities), in the build's own
 *   network namespace when one is given, on a root made for it (bwrap-args.ts). The chain, all
 *   argv, nothing spliced into a script, the root part with a fixed environment:
 *
 *     setpriv --pdeathsig KILL     root: dies with the runner, even a SIGKILLed one
 *     unshare --mount …            root: a private mount namespace for the staging bind
 *     sh -c STAGE cgroups… --      root: joins the step's cgroups, binds the build's directory where
 *                                  the build uid can reach it (bwrap-args.ts)
 *     nsenter --net=NETNS --       root: enters the build's network namespace (isolated network)
 *     setpriv --reuid U --regid U  drops to the build uid: no groups, no new privileges, empty
 *       --clear-groups …             bounding set; then, as U, `setpriv --pdeathsig KILL` again
 *                                  (the uid change cleared it): dies with the outer bwrap
 *     bwrap --args 3               as U: the sandbox; reads its arguments (the build's environment
 *                                  among them) from fd 3, so no secret is ever in an argv
 *
 *   bwrap's own pid 1 reaps and exits with the command; the kernel then kills whatever is left
 *   in the namespace, double-forked and setsid() daemons included. `--die-with-parent` takes
 *   the sandbox down with a runner killed by SIGKILL.
 * - "process-group": the fallback. The step leads its own process group (`detached: true`) and
 *   is signalled with `kill(-pgid)`. A process that calls setsid() leaves the group and escapes
 *   (unless cgroup limits are on: the step's cgroup is emptied at the end), nothing is hidden,
 *   and the tree survives a SIGKILLed runner.
 *
 * Cancellation: `signal` is the one source of truth. Abort (or `timeoutMs`) → SIGTERM to every
 * process of the tree; the step ends when its main process has exited (bubblewrap: the rest is
 * killed with the namespace) or all of the group has (process group), or at `graceMs` with
 * SIGKILL to all. runStep resolves only once no process of the tree is left (checked through
 * /proc, zombies excepted) and the output pipes are closed or destroyed, so an orphan holding a
 * pipe cannot keep it pending. Without a cancel, a step ends with its main process and whatever
 * it left running is killed at once.
 *
 * Concurrency: steps are independent; any number may run at once. Errors: a step's own failure
 * is its exit code; runStep rejects only when the step could not be started at all.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { runBubblewrap } from "./bubblewrap-step.ts";
import type { BuildNetworkMode } from "./build-network.ts";
import { cgroupLimitHit, createStepCgroup, removeStepCgroup, type StepLimits } from "./cgroup.ts";
import { runGrouped } from "./group-step.ts";
import { detectSandboxSupport, resolveUser, type SandboxMode } from "./sandbox-mode.ts";
import { sandboxView, type SandboxDirs } from "./sandbox-paths.ts";
import { known } from "./step-supervisor.ts";

export { listSandboxProcesses } from "./step-supervisor.ts";
export { sandboxView, viewPath, type SandboxDirs } from "./sandbox-paths.ts";
export type { SandboxMode } from "./sandbox-mode.ts";
export type { StepLimits } from "./cgroup.ts";

export type StepEndReason = "exit" | "cancelled" | "timeout";

export interface StepNetwork {
  mode: BuildNetworkMode;
  /** The build's network namespace (isolated). */
  netnsPath?: string;
  /** /etc/resolv.conf inside (isolated). */
  resolvConf?: string;
}

export interface SandboxOptions {
  /** Working directory of the step, as a host path inside `dirs.repo` or `dirs.home`. */
  cwd: string;
  /** The step's whole environment: nothing is inherited from the runner. HOME and KILN_SANDBOX_ID are added. */
  env: Record<string, string>;
  dirs: SandboxDirs;
  /** bubblewrap mode: the build's own uid (build-uids.ts); required there. */
  uid?: number;
  /** process-group mode with Kiln as root: the user the step runs as (default "nobody"). */
  user?: string;
  /** bubblewrap mode: the network (default none: loopback only). */
  network?: StepNetwork;
  /** bubblewrap mode: the root filesystem whose /usr and /etc the build sees (default "/": the host's). */
  buildRoot?: string;
  /**
   * Build tools (toolchain.ts): the tool cache on the host and the directories of it the step
   * sees, each `<tool>/<version>`; read-only at INSIDE_TOOLS/<tool>/<version> under bubblewrap,
   * at their host paths (root's, not writable by the build user) in the process-group fallback.
   */
  tools?: { root: string; dirs: string[] };
  /** bubblewrap mode: size of the private /dev/shm (default 1 GiB; its pages count toward the memory limit). */
  shmBytes?: number;
  /** cgroup limits, applied where the hierarchy is writable. */
  limits?: StepLimits;
  /** Cancellation: the one source of truth for a build's cancel. */
  signal: AbortSignal;
  /** SIGTERM first, SIGKILL this long after. */
  graceMs: number;
  timeoutMs?: number;
  /**
   * Each chunk the step prints. A promise returned means: stop reading the step's output until
   * it settles (the step then blocks on its full pipe instead of filling the runner's memory).
   */
  onOutput(chunk: Buffer, stream: "stdout" | "stderr"): unknown;
  /** Force a mode (tests, benchmarks); "bubblewrap" throws where it is unavailable. */
  mode?: SandboxMode;
  /** Marker put in every process's environment as KILN_SANDBOX_ID (default: random hex). */
  sandboxId?: string;
}

export interface StepResult {
  /** Exit status of the step's shell (a death by signal n reads 128+n in bubblewrap mode). */
  exitCode: number | null;
  signal: string | null;
  reason: StepEndReason;
  mode: SandboxMode;
  sandboxId: string;
  /** A cgroup limit the step ran into (a fork refused, an OOM kill). */
  limitHit?: "pids" | "memory";
}

/** Probes once (cached) which sandbox this machine allows; `detail` says why when it falls back. */
export async function detectSandbox(): Promise<{ mode: SandboxMode; detail: string }> {
  const { mode, detail } = await detectSandboxSupport();
  return { mode, detail };
}

export async function runStep(command: string, opts: SandboxOptions): Promise<StepResult> {
  const support = await detectSandboxSupport();
  const mode = opts.mode ?? support.mode;
  if (mode === "bubblewrap" && !support.tools) throw new Error(`bubblewrap sandbox unavailable: ${support.detail}`);
  if (mode === "bubblewrap" && (opts.uid === undefined || !Number.isInteger(opts.uid) || opts.uid <= 0)) throw new TypeError("uid: bubblewrap mode runs a step as the build's own uid");
  const sandboxId = opts.sandboxId ?? randomBytes(8).toString("hex");
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(sandboxId)) throw new TypeError("sandboxId: 1-64 letters, digits, _ or -");
  const env = stepEnv(opts, mode, sandboxId);
  const cancelled = (): StepResult => ({ exitCode: null, signal: null, reason: "cancelled", mode, sandboxId });
  if (opts.signal.aborted) return cancelled();

  const dirs = [opts.dirs.repo, opts.dirs.home, opts.dirs.tmp];
  for (const dir of dirs) fs.mkdirSync(dir, { recursive: true });
  fs.chmodSync(opts.dirs.tmp, 0o1777);
  const ids =
    mode === "bubblewrap" ? { uid: opts.uid as number, gid: opts.uid as number } : process.getuid?.() === 0 ? await resolveUser(opts.user ?? "nobody") : undefined;
  if (ids && ids.uid !== 0) await giveTo(dirs, ids.uid, ids.gid, opts.signal);
  if (mode === "process-group" && ids && ids.uid !== 0) allowSearch(path.dirname(opts.dirs.repo));
  const warn = (message: string) => opts.onOutput(Buffer.from(`kiln-sandbox: ${message}\n`), "stderr");
  const cgroup = opts.limits ? await createStepCgroup(sandboxId, opts.limits, warn) : undefined;
  try {
    if (opts.signal.aborted) return cancelled();
    const ended =
      mode === "bubblewrap" && support.tools
        ? await runBubblewrap(support.tools, command, opts, env, sandboxId, ids?.uid as number, cgroup)
        : await runGrouped(command, opts, env, sandboxId, ids, cgroup);
    const limitHit = cgroup ? cgroupLimitHit(cgroup) : undefined;
    return { ...ended, mode, sandboxId, ...(limitHit ? { limitHit } : {}) };
  } finally {
    known.delete(sandboxId);
    if (cgroup) await removeStepCgroup(cgroup);
  }
}

/** The step's environment: exactly `opts.env`, its HOME and the sandbox marker. */
function stepEnv(opts: SandboxOptions, mode: SandboxMode, sandboxId: string): Record<string, string> {
  const env = { ...opts.env, HOME: sandboxView(mode, opts.dirs).home, KILN_SANDBOX_ID: sandboxId };
  for (const [key, value] of Object.entries(env)) {
    if (!key || key.includes("=") || key.includes("\0") || value.includes("\0")) {
      throw new TypeError(`invalid environment variable ${JSON.stringify(key)}`);
    }
  }
  return env;
}

/**
 * Gives the build user its directories: every directory and file not yet its own, as
 * `chown -R` would, but symlinks are neither followed nor changed and a file with several hard
 * links is left alone (a link made by an earlier step could point at any file of the host).
 * Runs between steps, when no process of the build is alive (bubblewrap mode guarantees it).
 * A walk of a tree of millions of files takes seconds: it stops as soon as the build is stopped
 * (the step is then not run), so a cancel or the build timeout never waits for it.
 */
async function giveTo(dirs: string[], uid: number, gid: number, signal: AbortSignal): Promise<void> {
  const visit = async (file: string, st: fs.Stats): Promise<void> => {
    if (signal.aborted) return;
    if (st.isSymbolicLink()) return;
    if (!st.isDirectory() && st.nlink > 1) return;
    if (st.uid !== uid || st.gid !== gid) await fsp.lchown(file, uid, gid);
    if (!st.isDirectory()) return;
    for (const name of await fsp.readdir(file)) {
      if (signal.aborted) return;
      const child = path.join(file, name);
      await visit(child, await fsp.lstat(child));
    }
  };
  for (const dir of dirs) await visit(dir, await fsp.lstat(dir));
}

/**
 * The process-group fallback runs the step as an unprivileged user with host paths, so that user
 * must be able to pass through the (0700) data dir to its workspace: search permission only (no
 * listing) on each directory above it that lacks it. Bubblewrap mode needs none of this.
 */
function allowSearch(dir: string): void {
  // The build's dir, work/ and the data dir (pipeline.ts's layout); what lies above is the operator's.
  for (let d = dir, n = 0; n < 3 && d !== path.dirname(d); d = path.dirname(d), n++) {
    const st = fs.statSync(d);
    if ((st.mode & 0o001) === 0) fs.chmodSync(d, (st.mode & 0o7777) | 0o001);
  }
}


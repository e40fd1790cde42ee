/**
 * The build sandbox: runs one step (`sh -e -c <command>`) and controls its whole process tree
 * (design brief §2.3, Sandbox and Cancel). Knows nothing of HTTP, the database or builds.
 *
 * Intended flow: `detectSandbox()` once (cached) and log its answer; then `runStep()` per step.
 * Modes:
 * - "namespaces": the step is pid 1's child in a new PID + mount namespace, with the data dirs
 *   covered by a tmpfs, as an unprivileged user, under `setpriv --pdeathsig KILL` so a runner
 *   killed with SIGKILL takes the tree with it (see sandbox-mode.ts for the exact chain). When
 *   the namespace's init exits the kernel kills everything left in it, double-forked and
 *   setsid() daemons included, so "init gone" means "tree gone".
 * - "process-group": the fallback. The step leads its own process group (`detached: true`) and
 *   is signalled with `kill(-pgid)`. A process that calls setsid() leaves the group and escapes
 *   (unless cgroup limits are on: the step's cgroup is emptied at the end), nothing is hidden,
 *   and the tree survives a SIGKILLed runner.
 *
 * Cancellation: `signal` is the one source of truth. Abort (or `timeoutMs`) → SIGTERM to every
 * process of the tree; the step ends as soon as all of them have exited, or at `graceMs` with
 * SIGKILL to all. runStep resolves only once no process of the tree is left (checked through
 * /proc, zombies excepted) and the output pipes are closed or destroyed, so an orphan holding a
 * pipe cannot keep it pending. Without a cancel, a step ends with its main process and whatever
 * it left running is killed at once.
 *
 * Concurrency: steps are independent; any number may run at once. Errors: a step's own failure
 * is its exit code; runStep rejects only when the step could not be started at all.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import type { Writable } from "node:stream";
import { cgroupLimitHit, cgroupMembers, createStepCgroup, joinCgroup, removeStepCgroup, type StepCgroup, type StepLimits } from "./cgroup.ts";
import { allPids, childrenOf, environHas, groupAlive, isRunning, pidNamespace, readStat, signalGroup, signalProcess, sleep } from "./process-tree.ts";
import { detectSandboxSupport, namespaceArgv, resolveUser, rootEnv, type SandboxMode, type Tools } from "./sandbox-mode.ts";

export type { SandboxMode } from "./sandbox-mode.ts";
export type { StepLimits } from "./cgroup.ts";

export type StepEndReason = "exit" | "cancelled" | "timeout";

export interface SandboxOptions {
  /** Working directory of the step (inside `workspace`, or visible anyway). */
  cwd: string;
  /** The step's whole environment: nothing is inherited from the runner. HOME and KILN_SANDBOX_ID are added. */
  env: Record<string, string>;
  /** The build's own HOME (created, and given to the build user). */
  home: string;
  /** The build's own workspace (created, and given to the build user). */
  workspace: string;
  /** Directories covered by an empty tmpfs inside the sandbox (Kiln's data dir); workspace and HOME stay visible. */
  hideDirs: string[];
  /**
   * The build's own temporary directory (created, mode 1777): bound over /tmp and /var/tmp in
   * the sandbox, so no build sees what another left there, and it counts toward the workspace.
   */
  tmp?: string;
  /** Build user when the runner is root (default "nobody"); ignored otherwise. */
  user?: string;
  /** cgroup limits, applied where the hierarchy is writable. */
  limits?: StepLimits;
  /** Cancellation: the one source of truth for a build's cancel. */
  signal: AbortSignal;
  /** SIGTERM first, SIGKILL this long after. */
  graceMs: number;
  timeoutMs?: number;
  onOutput(chunk: Buffer, stream: "stdout" | "stderr"): void;
  /** Force a mode (tests, benchmarks); "namespaces" throws where it is unavailable. */
  mode?: SandboxMode;
  /** Marker put in every process's environment as KILN_SANDBOX_ID (default: random hex). */
  sandboxId?: string;
}

export interface StepResult {
  /** Exit status of the step's shell (in namespace mode a death by signal n reads 128+n). */
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

/**
 * What identifies a running sandbox's processes besides the environment marker (forgotten when
 * the step ends: its tree is gone then, and a namespace's inode number can be reused).
 */
const known = new Map<string, { ns?: string; pgid?: number }>();

function remember(id: string, fact: { ns?: string; pgid?: number }): void {
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

export async function runStep(command: string, opts: SandboxOptions): Promise<StepResult> {
  const support = await detectSandboxSupport();
  const mode = opts.mode ?? support.mode;
  if (mode === "namespaces" && !support.tools) throw new Error(`namespace sandbox unavailable: ${support.detail}`);
  const sandboxId = opts.sandboxId ?? randomBytes(8).toString("hex");
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(sandboxId)) throw new TypeError("sandboxId: 1-64 letters, digits, _ or -");
  const env = stepEnv(opts, sandboxId);
  const cancelled = (): StepResult => ({ exitCode: null, signal: null, reason: "cancelled", mode, sandboxId });
  if (opts.signal.aborted) return cancelled();

  fs.mkdirSync(opts.workspace, { recursive: true });
  fs.mkdirSync(opts.home, { recursive: true });
  const ids = process.getuid?.() === 0 ? await resolveUser(opts.user ?? "nobody") : undefined;
  if (ids && ids.uid !== 0) await giveTo([...new Set([opts.workspace, opts.home])], ids.uid, ids.gid);
  const warn = (message: string) => opts.onOutput(Buffer.from(`kiln-sandbox: ${message}\n`), "stderr");
  const cgroup = opts.limits ? await createStepCgroup(sandboxId, opts.limits, warn) : undefined;
  try {
    if (opts.signal.aborted) return cancelled();
    const ended =
      mode === "namespaces" && support.tools
        ? await runNamespaced(support.tools, command, opts, env, sandboxId, ids ?? { uid: 0, gid: 0 }, cgroup)
        : await runGrouped(command, opts, env, sandboxId, ids, cgroup);
    const limitHit = cgroup ? cgroupLimitHit(cgroup) : undefined;
    return { ...ended, mode, sandboxId, ...(limitHit ? { limitHit } : {}) };
  } finally {
    known.delete(sandboxId);
    if (cgroup) await removeStepCgroup(cgroup);
  }
}

/** The step's environment: exactly `opts.env`, its HOME and the sandbox marker. */
function stepEnv(opts: SandboxOptions, sandboxId: string): Record<string, string> {
  const env = { ...opts.env, HOME: opts.home, KILN_SANDBOX_ID: sandboxId };
  for (const [key, value] of Object.entries(env)) {
    if (!key || key.includes("=") || key.includes("\0") || value.includes("\0")) {
      throw new TypeError(`invalid environment variable ${JSON.stringify(key)}`);
    }
  }
  return env;
}

/**
 * Gives the build user its workspace and HOME: every directory and file not yet its own, as
 * `chown -R` would, but symlinks are neither followed nor changed and a file with several hard
 * links is left alone (a link made by an earlier step could point at any file of the host).
 * Runs between steps, when no process of the build is alive (namespace mode guarantees it).
 */
async function giveTo(dirs: string[], uid: number, gid: number): Promise<void> {
  const visit = async (file: string, st: fs.Stats): Promise<void> => {
    if (st.isSymbolicLink()) return;
    if (!st.isDirectory() && st.nlink > 1) return;
    if (st.uid !== uid || st.gid !== gid) await fsp.lchown(file, uid, gid);
    if (!st.isDirectory()) return;
    for (const name of await fsp.readdir(file)) {
      const child = path.join(file, name);
      await visit(child, await fsp.lstat(child));
    }
  };
  for (const dir of dirs) await visit(dir, await fsp.lstat(dir));
}

function realOrSelf(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return p;
  }
}

const inside = (p: string, dir: string) => p === dir || p.startsWith(dir.endsWith("/") ? dir : `${dir}/`);

/**
 * Which dirs the wrapper covers and which it binds back. Kept dirs (workspace, HOME) under a
 * hidden dir are bound back; a hidden dir inside a bound kept dir is covered again after the
 * bind; a hidden dir inside another one needs nothing. With `user`, the highest ancestor of a
 * kept dir that the user cannot traverse (say /root, mode 0700) is hidden too: the user could
 * see nothing under it anyway, and the tmpfs (0755) gives it a path to its workspace.
 */
export function planMounts(
  hideDirs: string[],
  keepDirs: string[],
  user?: { uid: number; gid: number },
): { hide: string[]; keep: string[]; rehide: string[] } {
  const hides = [...new Set(hideDirs.filter((d) => fs.existsSync(d)).map(realOrSelf))];
  if (hides.includes("/")) throw new TypeError("hideDirs: cannot hide /");
  const keeps = [...new Set(keepDirs.map(realOrSelf))];
  if (user) {
    for (const k of keeps) {
      const blocked = ancestors(k).find((a) => !traversable(a, user));
      if (blocked && !hides.some((h) => inside(blocked, h))) hides.push(blocked);
    }
  }
  const keep = keeps
    .filter((k) => hides.some((h) => inside(k, h)))
    .filter((k, _, all) => !all.some((o) => o !== k && inside(k, o)));
  const rehide = hides.filter((h) => keep.some((k) => h !== k && inside(h, k)));
  const rest = hides.filter((h) => !rehide.includes(h) && !keeps.includes(h));
  const hide = rest.filter((h) => !rest.some((o) => o !== h && inside(h, o)));
  return { hide, keep, rehide };
}

/** "/a/b/c" → ["/a", "/a/b"] (not "/", not the dir itself). */
function ancestors(dir: string): string[] {
  const parts = dir.split("/").filter(Boolean);
  return parts.slice(0, -1).map((_, i) => `/${parts.slice(0, i + 1).join("/")}`);
}

/** Search permission by mode bits alone (supplementary groups are cleared by the sandbox). */
function traversable(dir: string, user: { uid: number; gid: number }): boolean {
  try {
    const st = fs.statSync(dir);
    const bit = st.uid === user.uid ? 0o100 : st.gid === user.gid ? 0o010 : 0o001;
    return (st.mode & bit) !== 0;
  } catch {
    return true; // does not exist: nothing to traverse
  }
}

interface Ended {
  exitCode: number | null;
  signal: string | null;
  reason: StepEndReason;
}

/** How a mode signals its tree and knows it is gone. */
interface Tree {
  /** SIGTERM to every process of the tree. */
  terminate(): void;
  /** SIGKILL to every process of the tree. */
  kill(): void;
  /** After the main process exited: resolves once no process of the tree is left. */
  gone(cancelling: boolean): Promise<void>;
}

/** How long init gets to empty its namespace after SIGUSR1 before it is SIGKILLed itself. */
const INIT_KILL_MS = 1000;

async function runNamespaced(
  tools: Tools,
  command: string,
  opts: SandboxOptions,
  env: Record<string, string>,
  sandboxId: string,
  ids: { uid: number; gid: number },
  cgroup: StepCgroup | undefined,
): Promise<Ended> {
  const plan = planMounts(opts.hideDirs, [opts.workspace, opts.home], ids.uid === 0 ? undefined : ids);
  const [file = "", ...args] = namespaceArgv(tools, {
    uid: ids.uid,
    gid: ids.gid,
    cwd: realOrSelf(opts.cwd),
    command,
    cgroupDirs: cgroup?.dirs ?? [],
    keepDirs: plan.keep,
    hideDirs: plan.hide,
    rehideDirs: plan.rehide,
    scratch: opts.tmp ? ["/tmp", "/var/tmp"].filter((d) => fs.existsSync(d)).map((target) => ({ source: realOrSelf(opts.tmp as string), target })) : [],
  });
  const child = spawn(file, args, {
    cwd: "/",
    env: rootEnv(sandboxId),
    detached: true,
    stdio: ["ignore", "pipe", "pipe", "pipe"],
  });
  // The build's environment travels over fd 3 to the loader, which runs as the build user.
  const envPipe = child.stdio[3] as Writable | null;
  envPipe?.on("error", () => undefined); // the chain failed early; its exit status says why
  envPipe?.end(Buffer.from(Object.entries(env).map(([k, v]) => `${k}=${v}\0`).join("")));

  // pid 1 of the namespace, as the host sees it: unshare's only child, found as soon as it exists.
  let init: { pid: number; startTime: string } | undefined;
  let exited = false;
  const findInit = () => {
    if (init || child.pid === undefined) return init;
    const pid = childrenOf(child.pid)[0];
    const stat = pid === undefined ? undefined : readStat(pid);
    if (pid === undefined || !stat) return undefined;
    init = { pid, startTime: stat.startTime };
    const ns = pidNamespace(pid);
    if (ns) remember(sandboxId, { ns });
    return init;
  };
  const whenInit = async () => {
    for (let wait = 1; !exited && !findInit(); wait = Math.min(wait * 2, 20)) await sleep(wait);
    return init;
  };
  void whenInit();

  const tree: Tree = {
    terminate() {
      // Init forwards SIGTERM to the whole namespace (see INIT); it may not exist yet.
      void whenInit().then((found) => found && isRunning(found.pid, found.startTime) && signalProcess(found.pid, "SIGTERM"));
    },
    kill() {
      const found = findInit();
      if (found) {
        // Init SIGKILLs the rest of the namespace on SIGUSR1 and exits; should it not, SIGKILL to
        // init itself empties the namespace.
        if (isRunning(found.pid, found.startTime)) signalProcess(found.pid, "SIGUSR1");
        setTimeout(() => isRunning(found.pid, found.startTime) && signalProcess(found.pid, "SIGKILL"), INIT_KILL_MS).unref();
      } else if (child.pid !== undefined && !exited) {
        signalProcess(child.pid, "SIGKILL"); // before init exists: unshare's death takes it (--kill-child)
      }
    },
    async gone() {
      // unshare exits after reaping init, and init's exit comes after the kernel has emptied the
      // namespace; if unshare itself was killed, init is SIGKILLed (--kill-child) and is
      // waited for here. A zombie init means an empty namespace too.
      const found = init;
      if (!found) return;
      for (let i = 0; isRunning(found.pid, found.startTime); i++) {
        if (i % 50 === 0) signalProcess(found.pid, "SIGKILL");
        await sleep(2);
      }
    },
  };
  return supervise(child, opts, tree, () => (exited = true));
}

/** Process-group mode with a cgroup: wait for the go on fd 3, then become the step. */
const CGROUP_GATE = 'read -r _ <&3 || :; exec 3<&-; exec /bin/sh -e -c "$1"';

async function runGrouped(
  command: string,
  opts: SandboxOptions,
  env: Record<string, string>,
  sandboxId: string,
  ids: { uid: number; gid: number } | undefined,
  cgroup: StepCgroup | undefined,
): Promise<Ended> {
  // With a cgroup, the shell first waits on fd 3 until it has been moved into the cgroup, so
  // nothing it forks can start outside (the command is still one argument, "$1").
  const gated = cgroup !== undefined;
  const child = spawn("/bin/sh", gated ? ["-c", CGROUP_GATE, "kiln-step", command] : ["-e", "-c", command], {
    cwd: opts.cwd,
    env,
    detached: true, // its own process group, led by the shell: pgid = pid
    stdio: gated ? ["ignore", "pipe", "pipe", "pipe"] : ["ignore", "pipe", "pipe"],
    ...(ids && ids.uid !== 0 ? { uid: ids.uid, gid: ids.gid } : {}),
  });
  const pgid = child.pid;
  if (pgid !== undefined) remember(sandboxId, { pgid });
  if (gated) {
    if (pgid !== undefined) joinCgroup(cgroup, pgid);
    const go = child.stdio[3] as Writable | null;
    go?.on("error", () => undefined);
    go?.end("\n");
  }
  const members = (signal: NodeJS.Signals) => {
    if (cgroup) for (const pid of cgroupMembers(cgroup)) signalProcess(pid, signal);
  };
  const tree: Tree = {
    terminate() {
      if (pgid !== undefined) signalGroup(pgid, "SIGTERM");
      members("SIGTERM");
    },
    kill() {
      if (pgid !== undefined) signalGroup(pgid, "SIGKILL");
      members("SIGKILL");
    },
    async gone(cancelling) {
      if (pgid === undefined) return;
      // The leader has exited. Without a cancel the rest dies now; during one it keeps its grace
      // period (the grace timer, still running, SIGKILLs it).
      if (!cancelling) signalGroup(pgid, "SIGKILL");
      while (groupAlive(pgid)) await sleep(2);
    },
  };
  return supervise(child, opts, tree, () => undefined);
}

/** Output, cancel, timeout and grace for one step, the same in both modes. */
async function supervise(child: ChildProcess, opts: SandboxOptions, tree: Tree, onExit: () => void): Promise<Ended> {
  const streams = [child.stdout, child.stderr];
  child.stdout?.on("data", (chunk: Buffer) => opts.onOutput(chunk, "stdout"));
  child.stderr?.on("data", (chunk: Buffer) => opts.onOutput(chunk, "stderr"));
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
    child.stdio[3]?.destroy();
  }
}

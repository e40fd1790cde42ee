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
import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import type { Readable, Writable } from "node:stream";
import { bwrapArgs, INSIDE_HOME, INSIDE_REPO, INSIDE_TMP, maskedPaths, bwrapCommand, etcLayout, STAGE, type EtcLayout } from "./bwrap-args.ts";
import type { BuildNetworkMode } from "./build-network.ts";
import { cgroupLimitHit, cgroupMembers, createStepCgroup, joinCgroup, removeStepCgroup, type StepCgroup, type StepLimits } from "./cgroup.ts";
import { allPids, childrenOf, environHas, groupAlive, isRunning, pidNamespace, readStat, signalGroup, signalProcess, sleep } from "./process-tree.ts";
import { seccompFilter } from "./seccomp.ts";
import { detectSandboxSupport, resolveUser, ROOT_PATH, type SandboxMode, type Tools } from "./sandbox-mode.ts";

export type { SandboxMode } from "./sandbox-mode.ts";
export type { StepLimits } from "./cgroup.ts";

export type StepEndReason = "exit" | "cancelled" | "timeout";

/** A build's own directories on the host. */
export interface SandboxDirs {
  /** The checkout (inside: /opt/buildhome/repo). */
  repo: string;
  /** HOME (inside: /opt/buildhome). */
  home: string;
  /** Its /tmp and /var/tmp, private to the build and measured with its workspace. */
  tmp: string;
}

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
  /** bubblewrap mode: size of the private /dev/shm (default 1 GiB; its pages count toward the memory limit). */
  shmBytes?: number;
  /** cgroup limits, applied where the hierarchy is writable. */
  limits?: StepLimits;
  /** Cancellation: the one source of truth for a build's cancel. */
  signal: AbortSignal;
  /** SIGTERM first, SIGKILL this long after. */
  graceMs: number;
  timeoutMs?: number;
  onOutput(chunk: Buffer, stream: "stdout" | "stderr"): void;
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

/** The build's directories as its steps see them: Cloudflare's paths under bubblewrap, the host's otherwise. */
export function sandboxView(mode: SandboxMode, dirs: SandboxDirs): SandboxDirs {
  return mode === "bubblewrap" ? { repo: INSIDE_REPO, home: INSIDE_HOME, tmp: INSIDE_TMP } : dirs;
}

const inside = (p: string, dir: string) => p === dir || p.startsWith(dir.endsWith("/") ? dir : `${dir}/`);

/** A host path under the build's repo or HOME, as the step sees it. */
export function viewPath(mode: SandboxMode, dirs: SandboxDirs, hostPath: string): string {
  if (mode !== "bubblewrap") return hostPath;
  for (const key of ["repo", "home", "tmp"] as const) {
    if (inside(hostPath, dirs[key])) return path.join(sandboxView(mode, dirs)[key], path.relative(dirs[key], hostPath));
  }
  throw new TypeError(`${hostPath} is outside the build's directories`);
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
  if (ids && ids.uid !== 0) await giveTo(dirs, ids.uid, ids.gid);
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

/**
 * Root part of the chain, in a private mount namespace: join the step's cgroups, bind the build's
 * directory (fd 5) at the staging point, then become the rest of the argv.
 */
const STAGE_SCRIPT = [
  'while [ "$1" != -- ]; do echo 0 > "$1/cgroup.procs" || echo "kiln-sandbox: could not join cgroup $1" >&2; shift; done',
  "shift",
  `mount --bind /proc/self/fd/5 ${STAGE}`,
  "exec 5<&-",
  'exec "$@"',
].join("\n");

/** The sandbox's own user in /etc/passwd and /etc/group, after the root's entries. */
const BUILD_USER = "build";
const HOSTNAME = "kiln-build";
const DEFAULT_SHM_BYTES = 1024 ** 3;
/** This host's seccomp program (undefined: no syscall table for its architecture). */
const SECCOMP = seccompFilter();

const etcCache = new Map<string, { passwd: string; group: string; masked: { files: string[]; dirs: string[] }; layout: EtcLayout }>();

/** The root's passwd, group and masked entries, read once per root (an operator's directory, not the build's). */
function rootEtc(root: string) {
  let found = etcCache.get(root);
  if (!found) {
    const read = (name: string) => {
      try {
        return fs.readFileSync(path.join(root, "etc", name), "utf8");
      } catch {
        return "";
      }
    };
    const withNewline = (text: string) => (text === "" || text.endsWith("\n") ? text : `${text}\n`);
    found = {
      passwd: withNewline(read("passwd")),
      group: withNewline(read("group")),
      masked: maskedPaths((file) => fs.existsSync(path.join(root, file))),
      layout: etcLayout(root),
    };
    etcCache.set(root, found);
  }
  return found;
}

async function runBubblewrap(
  tools: Tools,
  command: string,
  opts: SandboxOptions,
  env: Record<string, string>,
  sandboxId: string,
  uid: number,
  cgroup: StepCgroup | undefined,
): Promise<Ended> {
  const root = opts.buildRoot ?? "/";
  const network = opts.network ?? { mode: "none" };
  const etc = rootEtc(root);
  // The build's directory (repo, HOME and tmp are its entries) is opened here, as root, and bound
  // from the descriptor at the staging point: the build uid could not walk to it through the 0700
  // data dir. It is root's and 0711: the build uid may pass through, not list it.
  const buildDir = path.dirname(opts.dirs.repo);
  if (path.dirname(opts.dirs.home) !== buildDir || path.dirname(opts.dirs.tmp) !== buildDir) throw new TypeError("dirs: repo, home and tmp must be entries of one directory");
  fs.chmodSync(buildDir, 0o711);
  const dirFd = fs.openSync(buildDir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  const inStage = (dir: string) => path.join(STAGE, path.basename(dir));
  const files: [string, string][] = [
    ["passwd", `${etc.passwd}${BUILD_USER}:x:${uid}:${uid}:Kiln build:${INSIDE_HOME}:/bin/sh\n`],
    ["group", `${etc.group}${BUILD_USER}:x:${uid}:\n`],
    ["hosts", `127.0.0.1\tlocalhost ${HOSTNAME}\n::1\tlocalhost ip6-localhost ip6-loopback\n`],
    ...(network.mode === "isolated" && network.resolvConf ? ([["resolv", network.resolvConf]] as [string, string][]) : []),
  ];
  // Child descriptors: 3 arguments, 4 status, 5 the build's directory (closed before bwrap), 6 the
  // seccomp program, 7… generated files.
  const SECCOMP_FD = 6;
  const FIRST_FILE = 7;
  const filter = SECCOMP;
  const fileFd = (name: string) => {
    const i = files.findIndex(([n]) => n === name);
    return i < 0 ? undefined : FIRST_FILE + i;
  };
  const args = bwrapArgs(
    {
      root,
      stage: { repo: inStage(opts.dirs.repo), home: inStage(opts.dirs.home), tmp: inStage(opts.dirs.tmp) },
      files: { passwd: fileFd("passwd") as number, group: fileFd("group") as number, hosts: fileFd("hosts") as number, ...(fileFd("resolv") !== undefined ? { resolvConf: fileFd("resolv") } : {}) },
      statusFd: 4,
      ...(filter ? { seccompFd: SECCOMP_FD } : {}),
      env,
      cwd: viewPath("bubblewrap", opts.dirs, opts.cwd),
      hostname: HOSTNAME,
      shareNet: network.mode !== "none",
      shmBytes: opts.shmBytes ?? DEFAULT_SHM_BYTES,
    },
    etc.masked,
    etc.layout,
  );
  // The whole chain is one process (every part execs the next), Node's child: the parent-death
  // signal is set first, as root, and again as U (a uid change clears it).
  const chain = [
    ...[tools.setpriv, "--pdeathsig", "KILL", "--"],
    ...[tools.unshare, "--mount", "--propagation", "private", "--"],
    ...[tools.sh, "-c", STAGE_SCRIPT, "kiln-sandbox", ...(cgroup?.dirs ?? []), "--"],
    ...(network.mode === "isolated" && network.netnsPath ? [tools.nsenter, `--net=${network.netnsPath}`, "--"] : []),
    ...[tools.setpriv, "--reuid", String(uid), "--regid", String(uid), "--clear-groups", "--no-new-privs", "--bounding-set=-all", "--"],
    ...[tools.setpriv, "--pdeathsig", "KILL", "--"],
    ...[tools.bwrap, "--args", "3", ...bwrapCommand(command)],
  ];
  const [file = "", ...rest] = chain;
  const stdio: StdioOptions = ["ignore", "pipe", "pipe", "pipe", "pipe", dirFd, filter ? "pipe" : "ignore", ...files.map(() => "pipe" as const)];
  let child: ChildProcess;
  try {
    child = spawn(file, rest, { cwd: "/", env: { PATH: ROOT_PATH, KILN_SANDBOX_ID: sandboxId }, detached: true, stdio });
  } finally {
    fs.closeSync(dirFd);
  }
  const feed = (index: number, data: string | Buffer) => {
    const pipe = child.stdio[index] as Writable | null;
    pipe?.on("error", () => undefined); // bwrap failed early; its exit status and stderr say why
    pipe?.end(data);
  };
  feed(3, `${args.join("\0")}\0`);
  files.forEach(([, content], i) => feed(FIRST_FILE + i, content));
  if (filter) feed(SECCOMP_FD, filter);

  // pid 1 of the namespace as the host sees it, from bwrap's status ("child-pid").
  let init: { pid: number; startTime: string } | undefined;
  let exited = false;
  let status = "";
  let found: () => void = () => undefined;
  const initKnown = new Promise<void>((resolve) => (found = resolve));
  const statusPipe = child.stdio[4] as Readable | null;
  statusPipe?.on("error", () => undefined);
  statusPipe?.on("data", (chunk: Buffer) => {
    if (init) return;
    status += chunk.toString();
    const m = /"child-pid"\s*:\s*(\d+)/.exec(status);
    const stat = m ? readStat(Number(m[1])) : undefined;
    if (!m || !stat) return;
    init = { pid: stat.pid, startTime: stat.startTime };
    const ns = pidNamespace(stat.pid);
    if (ns) remember(sandboxId, { ns });
    found();
  });
  child.once("exit", () => found());

  // Every process of the namespace but its pid 1: from the step's cgroup when it has one (no scan
  // of /proc), else by PID namespace.
  const members = () => {
    const ns = known.get(sandboxId)?.ns;
    if (!ns || !init) return [];
    const initPid = init.pid;
    const candidates = cgroup ? cgroupMembers(cgroup) : allPids();
    return candidates.filter((pid) => pid !== initPid && pidNamespace(pid) === ns);
  };
  // After a cancel's SIGTERM: once nothing but pid 1 and the wrapper (pid 2, stopped) is left,
  // SIGKILL to pid 1 ends the step; the grace timer does the same for processes that stay.
  const drain = async (wrapper: number | undefined) => {
    while (!exited && init) {
      if (members().every((pid) => pid === wrapper || !isRunning(pid))) {
        if (isRunning(init.pid, init.startTime)) signalProcess(init.pid, "SIGKILL");
        return;
      }
      await sleep(2);
    }
  };
  const tree: Tree = {
    terminate() {
      // bwrap's pid 1 forwards no signal: the wrapper gets SIGUSR1 (STEP_WRAPPER), every other
      // process of the namespace SIGTERM from here.
      void initKnown.then(() => {
        if (exited || !init) return;
        const wrapper = childrenOf(init.pid)[0];
        if (wrapper !== undefined) signalProcess(wrapper, "SIGUSR1");
        for (const pid of members()) if (pid !== wrapper) signalProcess(pid, "SIGTERM");
        void drain(wrapper);
      });
    },
    kill() {
      // SIGKILL to the namespace's pid 1 takes every process of it; before it exists, bwrap's
      // own death does (--die-with-parent).
      if (init && isRunning(init.pid, init.startTime)) signalProcess(init.pid, "SIGKILL");
      else if (child.pid !== undefined && !exited) signalProcess(child.pid, "SIGKILL");
    },
    async gone() {
      // bwrap exits after its pid 1, and pid 1's exit completes only once the kernel has emptied
      // the namespace. Should bwrap itself have been killed first, pid 1 follows it (parent
      // death signal) and is waited for here.
      const pid1 = init;
      if (!pid1) return;
      for (let i = 0; isRunning(pid1.pid, pid1.startTime); i++) {
        if (i % 50 === 0) signalProcess(pid1.pid, "SIGKILL");
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
    for (const extra of child.stdio.slice(3)) extra?.destroy();
  }
}

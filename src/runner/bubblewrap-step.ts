/**
 * Bubblewrap mode of a step (sandbox.ts has the chain): the root part stages the build's
 * directory and joins its cgroups, then the build uid's bwrap runs the step on a root made for it
 * (bwrap-args.ts). The host signals the namespace's processes on a cancel and kills its pid 1.
 */
import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { Readable, Writable } from "node:stream";
import { bwrapArgs, bwrapCommand, etcLayout, INSIDE_HOME, INSIDE_TOOLS, maskedPaths, STAGE, TOOLS_STAGE, type EtcLayout } from "./bwrap-args.ts";
import { cgroupMembers, type StepCgroup } from "./cgroup.ts";
import { allPids, childrenOf, isRunning, pidNamespace, readStat, signalProcess, sleep } from "./process-tree.ts";
import type { SandboxOptions } from "./sandbox.ts";
import { ROOT_PATH, type Tools } from "./sandbox-mode.ts";
import { viewPath } from "./sandbox-paths.ts";
import { seccompFilter } from "./seccomp.ts";
import { known, remember, supervise, type Ended, type Tree } from "./step-supervisor.ts";

/**
 * Root part of the chain, in a private mount namespace: join the step's cgroups, bind the build's
 * directory (fd 5) at the staging point, then become the rest of the argv.
 */
const stageScript = (toolsFd?: number) =>
  [
    'while [ "$1" != -- ]; do echo 0 > "$1/cgroup.procs" || echo "kiln-sandbox: could not join cgroup $1" >&2; shift; done',
    "shift",
    `mount --bind /proc/self/fd/5 ${STAGE} || { echo "kiln-sandbox: cannot stage the build's directory" >&2; exit 125; }`,
    "exec 5<&-",
    // The tool cache (toolchain.ts), opened by Kiln like the build's directory: bwrap binds parts of it read-only.
    ...(toolsFd !== undefined ? [`mount --bind /proc/self/fd/${toolsFd} ${TOOLS_STAGE} || { echo "kiln-sandbox: cannot stage the build tools" >&2; exit 125; }`, `exec ${toolsFd}<&-`] : []),
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

export async function runBubblewrap(
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
  // seccomp program, 7 the tool cache (closed before bwrap; one digit, which is all sh can close), 8… generated files.
  const SECCOMP_FD = 6;
  const TOOLS_FD = 7;
  const FIRST_FILE = 8;
  const filter = SECCOMP;
  const fileFd = (name: string) => {
    const i = files.findIndex(([n]) => n === name);
    return i < 0 ? undefined : FIRST_FILE + i;
  };
  const toolsFd = opts.tools && opts.tools.dirs.length > 0 ? TOOLS_FD : undefined;
  for (const dir of opts.tools?.dirs ?? []) if (dir.split("/").some((part) => part === ".." || part === "") || path.isAbsolute(dir)) throw new TypeError(`tools: ${dir} is not a relative path`);
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
      ...(toolsFd !== undefined ? { tools: (opts.tools?.dirs ?? []).map((dir) => ({ from: path.join(TOOLS_STAGE, dir), to: path.join(INSIDE_TOOLS, dir) })) } : {}),
    },
    etc.masked,
    etc.layout,
  );
  // The whole chain is one process (every part execs the next), Node's child: the parent-death
  // signal is set first, as root, and again as U (a uid change clears it).
  const chain = [
    ...[tools.setpriv, "--pdeathsig", "KILL", "--"],
    ...[tools.unshare, "--mount", "--propagation", "private", "--"],
    ...[tools.sh, "-c", stageScript(toolsFd), "kiln-sandbox", ...(cgroup?.dirs ?? []), "--"],
    ...(network.mode === "isolated" && network.netnsPath ? [tools.nsenter, `--net=${network.netnsPath}`, "--"] : []),
    ...[tools.setpriv, "--reuid", String(uid), "--regid", String(uid), "--clear-groups", "--no-new-privs", "--bounding-set=-all", "--"],
    ...[tools.setpriv, "--pdeathsig", "KILL", "--"],
    ...[tools.bwrap, "--args", "3", ...bwrapCommand(command)],
  ];
  const [file = "", ...rest] = chain;
  let toolsDirFd: number | undefined;
  if (toolsFd !== undefined && opts.tools) {
    fs.mkdirSync(TOOLS_STAGE, { recursive: true, mode: 0o755 });
    toolsDirFd = fs.openSync(opts.tools.root, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  }
  const stdio: StdioOptions = ["ignore", "pipe", "pipe", "pipe", "pipe", dirFd, filter ? "pipe" : "ignore", toolsDirFd ?? "ignore", ...files.map(() => "pipe" as const)];
  let child: ChildProcess;
  try {
    child = spawn(file, rest, { cwd: "/", env: { PATH: ROOT_PATH, KILN_SANDBOX_ID: sandboxId }, detached: true, stdio });
  } finally {
    fs.closeSync(dirFd);
    if (toolsDirFd !== undefined) fs.closeSync(toolsDirFd);
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
    for (let i = 0; !exited && init; i++) {
      if (members().every((pid) => pid === wrapper || !isRunning(pid))) {
        if (isRunning(init.pid, init.startTime)) signalProcess(init.pid, "SIGKILL");
        return;
      }
      // A cooperative tree is gone within a few milliseconds: look again at once at first.
      await (i < 20 ? new Promise((resolve) => setImmediate(resolve)) : sleep(2));
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


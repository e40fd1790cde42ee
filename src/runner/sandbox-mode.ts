/**
 * Which sandbox this machine allows, decided once per process and proved by a real trial run.
 *
 * "bubblewrap" (docs/architecture.md, Sandbox): needs Linux, Kiln running as root (to switch to
 * a build uid and to make network namespaces), `bwrap` (Debian package `bubblewrap`), util-linux's
 * `setpriv` and `nsenter`, and unprivileged user namespaces (bwrap is not setuid on Debian; it
 * makes the build's namespaces from inside a user namespace of the build uid). Anything less
 * falls back to "process-group", and `detail` says why: the server prints it at start and every
 * build's log carries it.
 *
 * The network (build-network.ts) is probed on its own: a host with bubblewrap but without
 * slirp4netns or nft still isolates files, IPC, processes and users, and runs builds with no
 * network rather than the host's.
 */
import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { detectCgroups, type CgroupSupport } from "./cgroup.ts";
import { seccompFilter } from "./seccomp.ts";

export type SandboxMode = "bubblewrap" | "process-group";

export interface Tools {
  bwrap: string;
  setpriv: string;
  nsenter: string;
  unshare: string;
  mount: string;
  sh: string;
}

export interface SandboxSupport {
  mode: SandboxMode;
  detail: string;
  /** Present when bubblewrap mode is possible. */
  tools?: Tools;
  cgroups: CgroupSupport;
}

/** Environment of the root part of the chain: nothing from the build. */
export const ROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Where the root part of the chain binds a build's directory for bwrap (bwrap-args.ts). */
export const STAGE = "/run/kiln-sandbox";

/** The uid the trial run uses: inside no build range Kiln offers by default, never a real user's. */
const PROBE_UID = 2_147_480_000;

export function which(name: string): string | undefined {
  for (const dir of ROOT_PATH.split(":")) {
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // next
    }
  }
  return undefined;
}

const execFileP = promisify(execFile);
const users = new Map<string, Promise<{ uid: number; gid: number }>>();

/** uid and primary gid of a user name (or number), through `id` so NSS sources count. */
export function resolveUser(user: string): Promise<{ uid: number; gid: number }> {
  let found = users.get(user);
  if (!found) {
    found = (async () => {
      const uid = await execFileP("id", ["-u", "--", user], { env: { PATH: ROOT_PATH } });
      const gid = await execFileP("id", ["-g", "--", user], { env: { PATH: ROOT_PATH } });
      return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
    })();
    found.catch(() => users.delete(user));
    users.set(user, found);
  }
  return found;
}

let detected: Promise<SandboxSupport> | undefined;

/** Probes once per process (the answer is cached) and says why when it falls back. */
export function detectSandboxSupport(): Promise<SandboxSupport> {
  detected ??= probe();
  return detected;
}

function readNumber(file: string): number | undefined {
  try {
    return Number(fs.readFileSync(file, "utf8").trim());
  } catch {
    return undefined;
  }
}

async function probe(): Promise<SandboxSupport> {
  const cgroups = await detectCgroups();
  const fallback = (why: string): SandboxSupport => ({
    mode: "process-group",
    detail: `process group only: ${why}; the build sees the host's files and network, shares one user with every build, and a process that calls setsid() escapes cancel; ${cgroups.detail}`,
    cgroups,
  });
  if (process.platform !== "linux") return fallback("not Linux");
  if (process.getuid?.() !== 0) return fallback("Kiln is not running as root (it switches each build to its own uid)");
  const found = { bwrap: which("bwrap"), setpriv: which("setpriv"), nsenter: which("nsenter"), unshare: which("unshare"), mount: which("mount"), sh: "/bin/sh" };
  const missing = Object.entries(found)
    .filter(([, file]) => file === undefined)
    .map(([name]) => name);
  if (missing.length) return fallback(`${missing.join(", ")} not found (apt-get install bubblewrap)`);
  if (readNumber("/proc/sys/kernel/unprivileged_userns_clone") === 0) return fallback("unprivileged user namespaces are disabled (sysctl kernel.unprivileged_userns_clone=0)");
  if (readNumber("/proc/sys/user/max_user_namespaces") === 0) return fallback("user namespaces are disabled (sysctl user.max_user_namespaces=0)");
  const tools = found as Tools;
  try {
    fs.mkdirSync(STAGE, { recursive: true, mode: 0o755 });
  } catch (error) {
    return fallback(`cannot make ${STAGE}: ${(error as Error).message}`);
  }
  const trial = await trialRun(tools);
  if (trial) return fallback(`bubblewrap trial failed: ${trial}`);
  return {
    mode: "bubblewrap",
    detail: `bubblewrap: own PID, mount, IPC, UTS, cgroup and user namespaces, no capabilities, no nested user namespaces, ${seccompFilter() ? "seccomp filter (keyctl, bpf, io_uring… refused)" : `no seccomp filter (no syscall table for ${os.machine()})`}, a root made for the build; ${cgroups.detail}`,
    tools,
    cgroups,
  };
}

/**
 * One real sandbox through the whole chain as an unprivileged uid: a directory bound from an
 * open descriptor (the data dir around it is 0700), user namespaces refused inside.
 */
async function trialRun(tools: Tools): Promise<string | undefined> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-probe-"));
  let fd: number | undefined;
  try {
    const keep = path.join(dir, "keep");
    fs.mkdirSync(keep);
    fs.chmodSync(dir, 0o700);
    fs.chownSync(keep, PROBE_UID, PROBE_UID);
    fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
    fs.chmodSync(dir, 0o711);
    // The same chain as a step (sandbox.ts), with the directory's descriptor at 3.
    const args = [
      ...["--pdeathsig", "KILL", "--", tools.unshare, "--mount", "--propagation", "private", "--"],
      ...[tools.sh, "-c", `mount --bind /proc/self/fd/3 ${STAGE} && exec 3<&- && exec "$@"`, "kiln-probe"],
      ...[tools.setpriv, "--reuid", String(PROBE_UID), "--regid", String(PROBE_UID), "--clear-groups", "--no-new-privs", "--bounding-set=-all", "--", tools.bwrap],
      ...["--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session", "--clearenv"],
      ...["--ro-bind", "/usr", "/usr", ...systemLinks("/"), "--proc", "/proc", "--dev", "/dev", "--bind", `${STAGE}/keep`, "/probe", "--chdir", "/probe"],
      ...["/bin/sh", "-c", 'test "$(id -u)" != 0 && touch ok && ! unshare -U true 2>/dev/null'],
    ];
    return await new Promise<string | undefined>((resolve) => {
      const child = spawn(tools.setpriv, args, { env: { PATH: ROOT_PATH }, cwd: "/", stdio: ["ignore", "ignore", "pipe", fd as number] });
      let stderr = "";
      child.stderr?.on("data", (c: Buffer) => (stderr += c.toString()));
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      child.on("error", (error) => resolve(error.message));
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        if (code === 0 && fs.existsSync(path.join(keep, "ok"))) resolve(undefined);
        else resolve(stderr.trim().split("\n").pop() || `exit ${code ?? signal}`);
      });
    });
  } catch (error) {
    return (error as Error).message;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Top-level system entries a build root may have besides /usr and /etc. */
const SYSTEM_ENTRIES = ["bin", "sbin", "lib", "lib32", "lib64", "libx32"];

/**
 * bwrap arguments for a root's top-level system entries other than /usr: a symlink (merged
 * /usr, as on Debian and Ubuntu) is recreated as the same symlink, a directory is bound read-only.
 */
export function systemLinks(root: string): string[] {
  const args: string[] = [];
  for (const name of SYSTEM_ENTRIES) {
    const file = path.join(root, name);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(file);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) args.push("--symlink", fs.readlinkSync(file), `/${name}`);
    else if (st.isDirectory()) args.push("--ro-bind", file, `/${name}`);
  }
  return args;
}

/**
 * The bubblewrap command line of one step: a spec in, an argv out (reading only the root's layout).
 *
 * bwrap runs as the build uid and resolves its bind sources by path, which that uid could not
 * walk through the 0700 data dir (or a 0700 /root above it). So the root part of the chain
 * (sandbox.ts) first binds the build's own directory, opened by Kiln, at /run/kiln-sandbox in a
 * private mount namespace; the build uid may traverse that directory (0711) but not list it.
 *
 * bwrap then makes the root the build sees: the system directories of a root filesystem (the
 * host's, or `--build-root`) read-only, the staged directories read-write (the data dir itself
 * is never mounted), a fresh /proc and /dev, a private size-limited
 * /dev/shm, and generated /etc/passwd, /etc/group, /etc/hosts and /etc/resolv.conf. Nothing else
 * of the host exists inside: no /root, /home, /srv, /var/lib, /opt, /run or /sys.
 *
 * Paths inside are Cloudflare's build image's: HOME is /opt/buildhome and the repository is
 * cloned to /opt/buildhome/repo (Cloudflare's docs: Workers Builds, build image).
 */
import fs from "node:fs";
import path from "node:path";
import { systemLinks } from "./sandbox-mode.ts";

export const INSIDE_HOME = "/opt/buildhome";
export const INSIDE_REPO = "/opt/buildhome/repo";
export const INSIDE_TMP = "/tmp";
export { STAGE } from "./sandbox-mode.ts";
/** Where the root part of the chain binds the tool cache (opened by Kiln) for bwrap to reach it. */
export const TOOLS_STAGE = "/run/kiln-tools";
/** The tools inside the sandbox (toolchain.ts INSIDE_TOOLS). */
export const INSIDE_TOOLS = "/opt/kiln/tools";

/**
 * Files of the host's /etc that hold secrets or the host's identity, covered inside the sandbox
 * even though the build uid could not read most of them anyway (defence in depth).
 */
const MASKED_FILES = ["/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/machine-id", "/etc/ssh/ssh_host_rsa_key", "/etc/ssh/ssh_host_ecdsa_key", "/etc/ssh/ssh_host_ed25519_key"];
const MASKED_DIRS = ["/etc/ssl/private", "/etc/sudoers.d"];

export interface BwrapSpec {
  /** Root filesystem whose /usr, /etc and top-level system links the build sees ("/" = the host's). */
  root: string;
  /** The build's repo, HOME and tmp, as staged for bwrap. */
  stage: { repo: string; home: string; tmp: string };

  /** Child descriptors whose contents become these read-only files. */
  files: { passwd: number; group: number; hosts: number; resolvConf?: number };
  /** Child descriptor holding the seccomp program (seccomp.ts), when there is one for this host. */
  seccompFd?: number;
  /** Child descriptor bwrap writes its JSON status to (the sandbox's pid 1 as the host sees it). */
  statusFd: number;
  /** The step's whole environment. */
  env: Record<string, string>;
  /** Working directory inside the sandbox. */
  cwd: string;
  hostname: string;
  /** true: keep the network namespace bwrap starts in (the build's own, or the host's); false: a new one with only loopback. */
  shareNet: boolean;
  shmBytes: number;
  /** Tool directories, each a path under the staged tool cache → where the build sees it, read-only. */
  tools?: { from: string; to: string }[];
}

/** Existing entries of the masked lists under `root` (checked by the caller, who can stat). */
export function maskedPaths(exists: (file: string) => boolean): { files: string[]; dirs: string[] } {
  return { files: MASKED_FILES.filter(exists), dirs: MASKED_DIRS.filter(exists) };
}

/** The files Kiln writes into the build's /etc. */
const GENERATED = ["passwd", "group", "hosts", "resolv.conf"];

/**
 * How the root's /etc is laid out inside: bound whole and read-only when the generated files
 * have regular files to cover there (the host's /etc, a full image); otherwise (a minimal image
 * without /etc/hosts, or a resolv.conf that is a symlink into /run) a tmpfs holding each of its
 * entries, bound or linked one by one, and the generated files, then made read-only.
 */
export type EtcLayout = { whole: true } | { whole: false; entries: { name: string; symlink?: string }[] };

export function etcLayout(root: string): EtcLayout {
  const etc = path.join(root, "etc");
  const regular = (name: string) => {
    try {
      return fs.lstatSync(path.join(etc, name)).isFile();
    } catch {
      return false;
    }
  };
  if (GENERATED.every(regular)) return { whole: true };
  const entries = fs
    .readdirSync(etc)
    .filter((name) => !GENERATED.includes(name) && !MASKED_FILES.includes(`/etc/${name}`))
    .map((name) => {
      const st = fs.lstatSync(path.join(etc, name));
      return st.isSymbolicLink() ? { name, symlink: fs.readlinkSync(path.join(etc, name)) } : { name };
    });
  return { whole: false, entries };
}

function etcArgs(root: string, layout: EtcLayout): string[] {
  const etc = path.join(root, "etc");
  if (layout.whole) return ["--ro-bind", etc, "/etc"];
  return ["--tmpfs", "/etc", ...layout.entries.flatMap((e) => (e.symlink !== undefined ? ["--symlink", e.symlink, `/etc/${e.name}`] : ["--ro-bind", path.join(etc, e.name), `/etc/${e.name}`]))];
}

/** bwrap's options, to be handed over through `--args FD`. */
export function bwrapArgs(spec: BwrapSpec, masked: { files: string[]; dirs: string[] }, layout: EtcLayout = { whole: true }): string[] {
  const env = Object.entries(spec.env).flatMap(([key, value]) => ["--setenv", key, value]);
  return [
    "--unshare-all",
    ...(spec.shareNet ? ["--share-net"] : []),
    "--unshare-user",
    "--disable-userns",
    "--die-with-parent",
    "--new-session",
    "--cap-drop",
    "ALL",
    "--hostname",
    spec.hostname,
    "--ro-bind",
    path.join(spec.root, "usr"),
    "/usr",
    ...systemLinks(spec.root),
    ...etcArgs(spec.root, layout),
    ...masked.files.flatMap((f) => ["--ro-bind", "/dev/null", f]),
    ...masked.dirs.flatMap((d) => ["--tmpfs", d]),
    "--ro-bind-data",
    String(spec.files.passwd),
    "/etc/passwd",
    "--ro-bind-data",
    String(spec.files.group),
    "/etc/group",
    "--ro-bind-data",
    String(spec.files.hosts),
    "/etc/hosts",
    ...(spec.files.resolvConf !== undefined ? ["--ro-bind-data", String(spec.files.resolvConf), "/etc/resolv.conf"] : []),
    ...(layout.whole ? [] : ["--remount-ro", "/etc"]),
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    "--perms",
    "1777",
    "--size",
    String(spec.shmBytes),
    "--tmpfs",
    "/dev/shm",
    "--bind",
    spec.stage.tmp,
    INSIDE_TMP,
    "--dir",
    "/var",
    "--bind",
    spec.stage.tmp,
    "/var/tmp",
    "--dir",
    "/run",
    "--bind",
    spec.stage.home,
    INSIDE_HOME,
    "--bind",
    spec.stage.repo,
    INSIDE_REPO,
    // A build cannot change the tool cache: bound read-only (and root's files besides).
    ...(spec.tools ?? []).flatMap((t) => ["--ro-bind", t.from, t.to]),
    "--chdir",
    spec.cwd,
    "--clearenv",
    ...env,
    ...(spec.seccompFd !== undefined ? ["--seccomp", String(spec.seccompFd)] : []),
    "--json-status-fd",
    String(spec.statusFd),
  ];
}

/**
 * The command after the options: bwrap reads only options through `--args`, so this part is an
 * argv of its own (the build command is configuration, never a secret; the variables are options).
 */
export function bwrapCommand(command: string): string[] {
  return ["--", "/bin/sh", "-c", STEP_WRAPPER, "kiln-step", command];
}

/**
 * pid 2 of the sandbox, the only child of bwrap's pid 1: runs the step (`sh -e -c command`) and
 * exits with its status, so bwrap ends with the step. On a cancel Kiln sends it SIGUSR1 (and
 * SIGTERM to every other process); it then outlives the step, stopped, so that the namespace —
 * which ends with pid 2 — keeps the processes still within their grace period, until Kiln sees
 * none left (or the grace ends) and kills pid 1.
 */
export const STEP_WRAPPER = [
  "trap 'c=1' USR1",
  '/bin/sh -e -c "$1" &',
  "m=$!",
  'while :; do wait "$m"; s=$?; kill -0 "$m" 2>/dev/null || break; done',
  'if [ -n "${c:-}" ]; then kill -STOP $$; fi',
  'exit "$s"',
].join("\n");

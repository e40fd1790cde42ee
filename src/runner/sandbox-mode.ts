/**
 * Which sandbox this machine allows, decided once per process, and the exact argv of the
 * namespace sandbox.
 *
 * Namespace mode needs root, util-linux (`setpriv`, `unshare`, `mount`) and perl, and is proved
 * by running a real, empty step through the whole chain; anything less falls back to a process
 * group and `detail` says why.
 *
 * The chain, outermost first (every value is one argv element; nothing is spliced into a script):
 *
 *   setpriv --pdeathsig KILL --            the tree dies with the runner, even on SIGKILL
 *   unshare --pid --fork --kill-child      new PID namespace; its init dies with unshare
 *           --mount-proc --mount --           and a private mount namespace with its own /proc
 *   /bin/sh -c WRAPPER …                   pid 1, root, clean environment: cgroup join, tmpfs
 *                                          over the hidden dirs, workspace and HOME bound back,
 *   perl -e INIT …                         then pid 1 becomes a tiny init: forwards SIGTERM to
 *                                          the whole namespace, reaps, waits out the grace
 *   setpriv --reuid --regid --clear-groups  the build user, no new privileges, no capabilities
 *           --no-new-privs --bounding-set=-all --
 *   perl -e LOADER cwd command             reads the build's environment from fd 3, cd, exec
 *   /bin/sh -e -c command                  the step
 *
 * Why the environment goes through fd 3: everything up to the privilege drop runs as root, and
 * a build variable such as LD_PRELOAD must never reach a root process. So the root part gets a
 * fixed minimal environment and the build's variables are handed over a pipe to a loader that
 * already runs as the build user; they never appear in an argv (visible in /proc) either.
 */
import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import type { Writable } from "node:stream";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { detectCgroups, type CgroupSupport } from "./cgroup.ts";

export type SandboxMode = "namespaces" | "process-group";

export interface Tools {
  setpriv: string;
  unshare: string;
  mount: string;
  perl: string;
  sh: string;
}

export interface SandboxSupport {
  mode: SandboxMode;
  detail: string;
  /** Present when namespace mode is possible. */
  tools?: Tools;
  cgroups: CgroupSupport;
}

/** Environment of the root part of the chain: nothing from the build. */
export const ROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * First process of the sandbox (pid 1, root, clean environment). Arguments: mount setpriv perl
 * init loader uid gid cwd command, then pairs `cgroup DIR`, `keep DIR`, `hide DIR`, `rehide DIR`
 * (a hidden dir inside a kept one, covered again once the kept dir is bound back, since a bind
 * does not carry the mounts beneath it). It joins the cgroups, covers the hidden dirs, binds
 * the kept dirs back, then execs INIT, which runs the rest of the chain.
 *
 * A kept dir (workspace, HOME) under a hidden dir is opened before the tmpfs covers it and bound
 * back from the open descriptor (`mount -c` so mount does not re-resolve the now hidden path).
 * The final `cd` happens inside the loader, after the mounts, so `..` from the working directory
 * cannot walk into the covered directory. A SIGTERM during the setup ends it before the build
 * starts.
 */
export const WRAPPER = `
term=0
trap 'term=1' TERM USR1
set -eu
mnt=$1 setpriv=$2 perl=$3 init=$4 loader=$5 uid=$6 gid=$7 cwd=$8 cmd=$9
shift 9
each() {
  tag=$1 fn=$2
  shift 2
  while [ $# -ge 2 ]; do
    if [ "$1" = "$tag" ]; then "$fn" "$2"; fi
    shift 2
  done
}
count() {
  tag=$1 n=0
  shift
  while [ $# -ge 2 ]; do
    if [ "$1" = "$tag" ]; then n=$((n + 1)); fi
    shift 2
  done
  echo "$n"
}
join_cgroup() { echo 0 > "$1/cgroup.procs" || echo "kiln-sandbox: could not join cgroup $1" >&2; }
opened=3
open_keep() {
  opened=$((opened + 1))
  if [ "$opened" -gt 9 ]; then echo "kiln-sandbox: too many kept directories" >&2; exit 125; fi
  eval "exec $opened<\"\$1\""
}
hide_dir() { mkdir -p -- "$1"; "$mnt" -t tmpfs -o size=1m,mode=0755,nosuid,nodev,noexec kiln-hidden "$1"; }
bound=3
bind_keep() {
  bound=$((bound + 1))
  mkdir -p -- "$1"
  "$mnt" -c --bind "/proc/self/fd/$bound" "$1"
  eval "exec $bound<&-"
}
bind_scratch() {
  bound=$((bound + 1))
  "$mnt" -c --bind "/proc/self/fd/$bound" "$1"
  eval "exec $bound<&-"
}
each cgroup join_cgroup "$@"
each keep open_keep "$@"
each scratchsrc open_keep "$@"
bound=$((bound + $(count keep "$@")))
each scratch bind_scratch "$@"
bound=3
each hide hide_dir "$@"
each keep bind_keep "$@"
each rehide hide_dir "$@"
if [ "$term" = 1 ]; then exit 143; fi
exec "$perl" -e "$init" -- "$setpriv" --reuid="$uid" --regid="$gid" --clear-groups --no-new-privs --bounding-set=-all -- "$perl" -e "$loader" -- "$cwd" "$cmd"
`;

/**
 * pid 1 of the sandbox, after the setup: forks the build (its argv: setpriv … loader) and reaps
 * every process of the namespace (orphans are reparented to it).
 * - SIGTERM (cancel): SIGTERM to every other process of the namespace (`kill -1` from a
 *   namespace's init reaches all of it, setsid() daemons included); then, once the build's main
 *   process has exited, it waits for the others too (they are within their grace period):
 *   waitpid(-1) failing with ECHILD means the namespace is empty.
 * - SIGUSR1 (end of the grace period): SIGKILL to every other process, then the same wait.
 *   (The runner SIGKILLs init itself only if that fails: unshare reports a killed init with a
 *   confusing message.)
 * - Without a cancel it exits with the main process's status (128+n for a signal), and the
 *   kernel kills whatever was left behind.
 */
export const INIT = `
use strict;
my $term = 0;
$SIG{TERM} = sub { $term = 1; kill "TERM", -1; };
$SIG{USR1} = sub { $term = 1; kill "KILL", -1; };
my $main = fork;
die "kiln-sandbox: fork: $!\n" unless defined $main;
if ($main == 0) {
  $SIG{TERM} = $SIG{USR1} = "DEFAULT";
  exec { $ARGV[0] } @ARGV;
  die "kiln-sandbox: cannot run $ARGV[0]: $!\n";
}
if (open(my $pipe, "<&=", 3)) { close $pipe; } # the environment pipe is for the build only
my $status = 0;
while (1) {
  my $pid = waitpid(-1, 0);
  last if $pid == -1;
  next unless $pid == $main;
  $status = $?;
  last unless $term;
}
exit($status & 127 ? 128 + ($status & 127) : $status >> 8);
`;

/**
 * Runs as the build user: reads NUL-separated KEY=value entries from fd 3 into an environment
 * that holds exactly them, enters the working directory and execs `/bin/sh -e -c command`.
 */
export const LOADER = `
use strict;
my ($cwd, $cmd) = @ARGV;
open(my $in, "<&=", 3) or die "kiln-sandbox: no environment pipe: $!\\n";
my %env;
{
  local $/ = "\\0";
  while (defined(my $kv = <$in>)) {
    chomp $kv;
    my $i = index($kv, "=");
    $env{substr($kv, 0, $i)} = substr($kv, $i + 1) if $i > 0;
  }
}
close $in;
chdir $cwd or die "kiln-sandbox: cannot enter $cwd: $!\\n";
%ENV = %env;
exec { "/bin/sh" } "sh", "-e", "-c", $cmd;
die "kiln-sandbox: cannot run /bin/sh: $!\\n";
`;

export interface NamespaceParams {
  uid: number;
  gid: number;
  cwd: string;
  command: string;
  cgroupDirs: string[];
  keepDirs: string[];
  hideDirs: string[];
  /** Hidden dirs that lie inside a kept dir: covered again after the kept dirs are bound. */
  rehideDirs: string[];
  /** A build's private dir bound over a shared one (/tmp): opened before the hiding, bound first. */
  scratch?: { source: string; target: string }[];
}

/** The argv of a namespace step (file = args[0]). */
export function namespaceArgv(tools: Tools, p: NamespaceParams): string[] {
  const pairs = [
    ...p.cgroupDirs.flatMap((d) => ["cgroup", d]),
    ...p.keepDirs.flatMap((d) => ["keep", d]),
    ...p.hideDirs.flatMap((d) => ["hide", d]),
    ...p.rehideDirs.flatMap((d) => ["rehide", d]),
    ...(p.scratch ?? []).flatMap((x) => ["scratchsrc", x.source, "scratch", x.target]),
  ];
  return [
    tools.setpriv,
    "--pdeathsig",
    "KILL",
    "--",
    tools.unshare,
    "--pid",
    "--fork",
    "--kill-child",
    "--mount-proc",
    "--mount",
    "--propagation",
    "private",
    "--",
    tools.sh,
    "-c",
    WRAPPER,
    "kiln-sandbox",
    tools.mount,
    tools.setpriv,
    tools.perl,
    INIT,
    LOADER,
    String(p.uid),
    String(p.gid),
    p.cwd,
    p.command,
    ...pairs,
  ];
}

/** The fixed environment of the root part of the chain. */
export function rootEnv(sandboxId: string): Record<string, string> {
  return { PATH: ROOT_PATH, KILN_SANDBOX_ID: sandboxId };
}

function which(name: string): string | undefined {
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

async function probe(): Promise<SandboxSupport> {
  const cgroups = await detectCgroups();
  const fallback = (why: string): SandboxSupport => ({
    mode: "process-group",
    detail: `process group only: ${why}; data dir not hidden, build not isolated, a process that calls setsid() escapes cancel; ${cgroups.detail}`,
    cgroups,
  });
  if (process.platform !== "linux") return fallback("not Linux");
  if (process.getuid?.() !== 0) return fallback("not running as root (PID and mount namespaces need root)");
  const found = { setpriv: which("setpriv"), unshare: which("unshare"), mount: which("mount"), perl: which("perl"), sh: "/bin/sh" };
  const missing = Object.entries(found)
    .filter(([, file]) => file === undefined)
    .map(([name]) => name);
  if (missing.length) return fallback(`${missing.join(", ")} not found`);
  const tools = found as Tools;
  const trial = await trialRun(tools);
  if (trial) return fallback(`namespace trial failed: ${trial}`);
  return {
    mode: "namespaces",
    detail: `PID + mount namespaces (unshare), data dir hidden, unprivileged build user (setpriv); ${cgroups.detail}`,
    tools,
    cgroups,
  };
}

/** One real step through the whole chain: a hidden dir and a kept dir inside it. */
async function trialRun(tools: Tools): Promise<string | undefined> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-probe-"));
  try {
    fs.mkdirSync(path.join(dir, "keep"));
    fs.writeFileSync(path.join(dir, "secret"), "x");
    const { uid, gid } = await resolveUser("nobody");
    const argv = namespaceArgv(tools, {
      uid,
      gid,
      cwd: "/",
      // Succeeds only when the secret is hidden, the kept dir is back and we are not root.
      command: 'test ! -e "$PROBE/secret" && test -d "$PROBE/keep" && test "$(id -u)" != 0 && test "$ONLY" = yes',
      cgroupDirs: [],
      keepDirs: [path.join(dir, "keep")],
      hideDirs: [dir],
      rehideDirs: [],
    });
    const [file = "", ...args] = argv;
    return await new Promise<string | undefined>((resolve) => {
      const child = spawn(file, args, { env: rootEnv("probe"), cwd: "/", stdio: ["ignore", "ignore", "pipe", "pipe"] });
      let stderr = "";
      child.stderr?.on("data", (c: Buffer) => (stderr += c.toString()));
      const envPipe = child.stdio[3] as Writable | null;
      envPipe?.on("error", () => undefined);
      envPipe?.end(`PROBE=${dir}\0ONLY=yes\0`);
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      child.on("error", (error) => resolve(error.message));
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        resolve(code === 0 ? undefined : stderr.trim().split("\n").pop() || `exit ${code ?? signal}`);
      });
    });
  } catch (error) {
    return (error as Error).message;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

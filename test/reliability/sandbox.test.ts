/**
 * Build sandbox escapes, through the real API, runner and bubblewrap sandbox, with
 * real processes and real sockets. Builds that try to reach what is the host's and not theirs
 * fail to:
 * - files: Kiln's database, WAL, key file and mirrors (the data dir does not exist inside at all),
 *   another running server's data dir, a file under /var/lib, another build's workspace and HOME,
 *   the staging point; /tmp, /var/tmp and /dev/shm are the build's own;
 * - processes and the environment: the server's environment, other builds' processes;
 * - IPC: the host's unix sockets (filesystem and abstract, Kiln's own uid claims among them),
 *   another build's SysV shared memory and message queues and /dev/shm files;
 * - the network: the host's loopback and own addresses (TCP servers the test opens), link-local
 *   (cloud metadata refused at once, not after a timeout), private ranges — while the internet
 *   (a peer of the test's own in a network namespace, DNS, the npm registry) is reached, and a
 *   private range named by --build-network-allow is reached too; `--build-network none` has
 *   loopback only and `--build-network host` the runner's network, each named in the sandbox line;
 * - privilege: each running build has its own uid of --build-uids, no capabilities, and no
 *   user namespaces (`unshare -r` fails); its CPU time is held to --build-cpus;
 * - limits: a fork bomb ends `terminated` on the pids limit while the server keeps answering and
 *   the next build succeeds; a build filling its workspace past --workspace-limit ends
 *   `terminated` with the watchdog's line and its disk is freed.
 *
 * Every escape attempt is a line of the build's own output: "BLOCKED <name>: <its error>" when
 * the command failed, "LEAK <name>: <what it read>" when it succeeded. Egress that should work
 * prints "REACHED <name>" or "REFUSED <name>". The tests assert on the build log and outcome, and
 * on the host's side of each boundary (connection counters, ipcs, /dev/shm, /proc).
 *
 * The escape suite runs on every database of dialects(); the network, uid, IPC and CPU suites
 * on SQLite only (the database plays no part in them). Nothing is left behind: no files in /tmp,
 * /var/lib or /dev/shm, no SysV objects, no processes, no network namespaces (checked at the end).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { detectNetwork } from "../../src/runner/build-network.ts";
import { detectSandbox } from "../../src/runner/sandbox.ts";
import { detectSandboxSupport } from "../../src/runner/sandbox-mode.ts";
import { KEY_FILE, loadSecretKey } from "../../src/secret-key.ts";
import { allLogs, buildProcesses, setupTrigger, startBuild, waitFor, waitForStatus, type BuildSetup } from "../helpers/builds.ts";
import { dialects } from "../helpers/databases.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";
import { startHarness, type Harness } from "../helpers/harness.ts";
import { peerLeftovers, startPeer, type NetnsPeer } from "../helpers/netns-peer.ts";

const detected = await detectSandbox();
const support = await detectSandboxSupport();
const network = await detectNetwork();
const isRoot = process.getuid?.() === 0;
const noBubblewrap = detected.mode !== "bubblewrap" ? `bubblewrap sandbox unavailable here: ${detected.detail}` : !isRoot ? "build uids and network namespaces need Kiln to run as root" : false;
const noPidsLimit = noBubblewrap || (support.cgroups.version === null ? `no cgroup pids limit here: ${support.cgroups.detail}` : false);
const cgroups = support.cgroups;
const hasCpu = (cgroups.version === 2 && cgroups.controllers.includes("cpu")) || (cgroups.version === 1 && cgroups.parents.cpu !== undefined);
const noCpuLimit = noBubblewrap || (!hasCpu ? `no cgroup cpu controller here: ${cgroups.detail}` : false);
const noNetwork = noBubblewrap || (!network.isolated ? `isolated build network unavailable here: ${network.detail}` : false);

/** The default --build-uids. */
const UIDS = { first: 1_000_000, last: 1_065_535 };
const MB = 1024 * 1024;
const WORKSPACE_LIMIT = 50 * MB;
const texts = (lines: [number, string][]) => lines.map(([, t]) => t);
const hex = (n: number) => randomBytes(n).toString("hex");
const ROOT_ENV = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" };

/**
 * `try NAME CMD…`: prints `BLOCKED NAME: <its error>` when CMD fails, `LEAK NAME: <its first
 * output>` when it succeeds. Defined at the start of every escape script.
 */
const TRY = `try() { name=$1; shift; if out=$("$@" 2>&1); then echo "LEAK $name: $(printf '%s' "$out" | tr -c '[:print:]' '?' | head -c 160)"; else echo "BLOCKED $name: $(printf '%s' "$out" | tr -c '[:print:]' '?' | head -c 160)"; fi; }`;
/** `reach NAME CMD…`: the same for egress that may be allowed: `REACHED NAME: …` or `REFUSED NAME: …`. */
const REACH = `reach() { name=$1; shift; if out=$("$@" 2>&1); then echo "REACHED $name: $(printf '%s' "$out" | tr -c '[:print:]' '?' | head -c 160)"; else echo "REFUSED $name: $(printf '%s' "$out" | tr -c '[:print:]' '?' | head -c 160)"; fi; }`;

/**
 * Connects to a TCP (HOST PORT) or unix (PATH, or @NAME for an abstract one) socket; prints
 * "connected", or exits with the error's name and message. An abstract name is tried both as
 * written and padded to the whole sun_path, as Node binds it (so the name of a Node server).
 */
const CONNECT_PY = [
  "import socket, sys",
  "def unix(a):",
  "    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)",
  "    s.settimeout(3)",
  "    s.connect(a)",
  "try:",
  "    if len(sys.argv) == 3:",
  "        socket.create_connection((sys.argv[1], int(sys.argv[2])), 3)",
  '    elif sys.argv[1].startswith("@"):',
  '        name = "\\0" + sys.argv[1][1:]',
  "        try:",
  "            unix(name)",
  "        except OSError:",
  '            unix(name.ljust(108, "\\0"))',
  "    else:",
  "        unix(sys.argv[1])",
  "except OSError as e:",
  '    sys.exit(type(e).__name__ + ": " + str(e))',
  'print("connected")',
  "",
].join("\n");

/**
 * SysV IPC by key or id, as a process of this IPC namespace sees it: `shm-key|msq-key KEY`
 * (hex, as ipcs prints it) or `shm-id|msq-id ID`; prints the id and exits 0 when it exists.
 */
const SYSV_PY = [
  "import ctypes, os, sys",
  "libc = ctypes.CDLL(None, use_errno=True)",
  "kind, arg = sys.argv[1], sys.argv[2]",
  "buf = ctypes.create_string_buffer(512)",
  'if kind.endswith("-key"):',
  "    k = int(arg, 16)",
  "    k = k - (1 << 32) if k >= (1 << 31) else k",
  '    r = libc.shmget(k, 0, 0) if kind == "shm-key" else libc.msgget(k, 0)',
  "else:",
  '    r = libc.shmctl(int(arg), 2, buf) if kind == "shm-id" else libc.msgctl(int(arg), 2, buf)',
  "if r < 0:",
  '    sys.exit(kind + " " + arg + ": " + os.strerror(ctypes.get_errno()))',
  'print(kind, arg, "exists:", r)',
  "",
].join("\n");

/** The escape scripts, committed to the test repository (a build command is at most 512 characters). */
const SCRIPTS: Record<string, string> = {
  "connect.py": CONNECT_PY,
  "sysv.py": SYSV_PY,
  "escape-data.sh": [
    TRY,
    'try db cat "$DATA/kiln.db"',
    'try db-wal cat "$DATA/kiln.db-wal"',
    `try key cat "$DATA/${KEY_FILE}"`,
    "try dotdot-db cat ../../../kiln.db",
    `try dotdot-key cat ../../../${KEY_FILE}`,
    'try proc1-root-db cat "/proc/1/root$DATA/kiln.db"',
    `try proc-self-root-key cat "/proc/self/root$DATA/${KEY_FILE}"`,
    'try mirrors ls -A "$DATA/mirrors"',
    'try data-list ls -A "$DATA"',
    'try work-list ls -A "$DATA/work"',
    'try own-work-by-host-path ls -A "$DATA/work/$WORKERS_CI_BUILD_UUID"',
    "try stage ls -A /run/kiln-sandbox",
    `try find-kiln-files sh -c 'f=$(find / -path /proc -prune -o \\( -name "kiln.db*" -o -name ${KEY_FILE} -o -name mirrors \\) -print 2>/dev/null | head -3); [ -n "$f" ] && echo "$f"'`,
    'try umount umount "$DATA"',
    `try userns-umount unshare -rm sh -c 'umount -l "$DATA" && cat "$DATA/${KEY_FILE}"'`,
    `try nsenter nsenter -t 1 -m cat "$DATA/${KEY_FILE}"`,
    // umount2(2) itself (x86_64: 166, aarch64: 39), as root of a fresh user namespace.
    `try userns-umount2 unshare -rm perl -e 'my $n = $ARGV[1] eq "aarch64" ? 39 : 166; syscall($n, $ARGV[0], 2) == 0 or die "umount2: $!\\n"; open my $f, "<", "$ARGV[0]/${KEY_FILE}" or die "open: $!\\n"; print <$f>' "$DATA" "$(uname -m)"`,
    'echo "WHOAMI: $(id -u)"',
    'echo "PWD: $(pwd) HOME: $HOME"',
  ].join("\n"),
  "escape-workspace.sh": [
    TRY,
    'try a-repo-file cat "$DATA/work/$A_UUID/repo/a-marker.txt"',
    'try a-home-file cat "$DATA/work/$A_UUID/home/.config/a.txt"',
    'try a-workdir ls -A "$DATA/work/$A_UUID"',
    'try a-dotdot cat "../../$A_UUID/repo/a-marker.txt"',
    "try a-inside-repo cat /opt/buildhome/repo/a-marker.txt",
    "try a-inside-home cat /opt/buildhome/.config/a.txt",
    `try a-processes sh -c 'for p in /proc/[0-9]*; do grep -qas "WORKERS_CI_BUILD_UUID=$A_UUID" "$p/environ" && { echo "$p"; exit 0; }; done; exit 1'`,
    `try a-proc-cwd sh -c 'cat /proc/[0-9]*/cwd/a-marker.txt'`,
    'echo "PIDS-VISIBLE: $(ls /proc | grep -c "^[0-9]")"',
    'echo "UIDS-VISIBLE: $(for p in /proc/[0-9]*; do awk \'/^Uid:/ { print $2 }\' "$p/status" 2>/dev/null; done | sort -u | tr "\\n" " ")"',
  ].join("\n"),
  "escape-env.sh": [
    TRY,
    // pid 1 is the sandbox's own init (bwrap's), not the host's: readable, holding only the sandbox's variables.
    'echo "INIT-ENVIRON: $(tr "\\0" " " < /proc/1/environ)"',
    'echo "INIT-UID: $(awk \'/^Uid:/ { print $2 }\' /proc/1/status) $(id -u)"',
    'try server-environ cat "/proc/$SERVER_PID/environ"',
    'try server-cmdline cat "/proc/$SERVER_PID/cmdline"',
    'try parent-environ sh -c \'cat "/proc/$(ps -o ppid= -p 1 2>&1 | tr -d " ")/environ"\'',
    "echo ENV-START; env; echo ENV-END",
    "for p in /proc/[0-9]*; do tr '\\0' '\\n' < \"$p/environ\" 2>&1 || :; done",
    "echo ENVIRON-SCAN-DONE",
  ].join("\n"),
  "escape-host-net.sh": [
    TRY,
    'try loopback curl -sS -m 3 "http://127.0.0.1:$LO_PORT/"',
    'try loopback-name curl -sS -m 3 "http://localhost:$LO_PORT/"',
    'try loopback-python python3 ./connect.py 127.0.0.1 "$LO_PORT"',
    `try loopback-devtcp bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "GET / HTTP/1.0\\r\\n\\r\\n" >&3 && cat <&3' bash "$LO_PORT"`,
    'try loopback-any-server curl -sS -m 3 "http://127.0.0.1:$ANY_PORT/"',
    'try slirp-gateway-lo curl -sS -m 3 "http://10.0.2.2:$LO_PORT/"',
    'try slirp-gateway-any curl -sS -m 3 "http://10.0.2.2:$ANY_PORT/"',
    'for a in $HOST_IPS; do try "host-$a" curl -sS -m 3 "http://$a:$ANY_PORT/"; try "host-python-$a" python3 ./connect.py "$a" "$ANY_PORT"; done',
    'try loopback6 curl -g -sS -m 3 "http://[::1]:$LO6_PORT/"',
    'for a in $HOST_IPS6; do try "host6-$(echo "$a" | tr : _)" curl -g -sS -m 3 "http://[$a]:$ANY6_PORT/"; done',
    's=$(date +%s%N); try metadata curl -sS -m 10 http://169.254.169.254/latest/meta-data/; echo "METADATA-MS: $(( ($(date +%s%N) - s) / 1000000 ))"',
    's=$(date +%s%N); try metadata-python python3 ./connect.py 169.254.169.254 80; echo "METADATA-PY-MS: $(( ($(date +%s%N) - s) / 1000000 ))"',
  ].join("\n"),
  "escape-unix.sh": [
    TRY,
    'try fs-socket python3 ./connect.py "$SOCK"',
    'try fs-socket-socat socat -T 3 -u "UNIX-CONNECT:$SOCK" STDOUT',
    'try abstract python3 ./connect.py "@$ABSTRACT"',
    'try abstract-socat socat -T 3 -u "ABSTRACT-CONNECT:$ABSTRACT" STDOUT',
    'try abstract-socat-padded socat -T 3 -u "ABSTRACT-CONNECT:$ABSTRACT,unix-tightsocklen=0" STDOUT',
    'try own-uid-claim python3 ./connect.py "@kiln-build-uid-$(id -u)"',
    'try abstract-listed grep -F "@$ABSTRACT" /proc/net/unix',
    "try uid-claims-listed grep -F @kiln-build-uid- /proc/net/unix",
    'try var-lib-file cat "$FILE"',
    'try var-lib-dir ls -A "$VAR_DIR"',
    'try proc-root-var-lib-file cat "/proc/1/root$FILE"',
    "try var-lib ls -A /var/lib",
  ].join("\n"),
  "escape-other-server.sh": [
    TRY,
    'try other-list ls -A "$OTHER"',
    'try other-db cat "$OTHER/kiln.db"',
    'try other-db-wal cat "$OTHER/kiln.db-wal"',
    `try other-key cat "$OTHER/${KEY_FILE}"`,
    'try other-work ls -A "$OTHER/work"',
    'try other-proc-root-db cat "/proc/1/root$OTHER/kiln.db"',
    'try other-python python3 -c \'import sys; print(open(sys.argv[1], "rb").read(16))\' "$OTHER/kiln.db"',
  ].join("\n"),
  "ipc-a.sh": [
    'printf "%s\\n" "$MARK" > "/dev/shm/kiln-shm-$MARK_ID"',
    "ipcmk -M 1024",
    "ipcmk -Q",
    "ipcs -m | awk '$1 ~ /^0x/ { print \"SHM-ROW: \" $1 \" \" $2 }'",
    "ipcs -q | awk '$1 ~ /^0x/ { print \"MSQ-ROW: \" $1 \" \" $2 }'",
    'echo "SHM-LIST: $(ls -A /dev/shm | tr "\\n" " ")"',
    "echo A-ready",
    "while [ ! -e gate-open ]; do sleep 0.05; done",
    "echo A-done",
  ].join("\n"),
  "ipc-b.sh": [
    TRY,
    'echo "SHM-LIST: $(ls -A /dev/shm | tr "\\n" " ")"',
    'echo "SHM-ROWS: $(ipcs -m | grep -c "^0x")"',
    'echo "MSQ-ROWS: $(ipcs -q | grep -c "^0x")"',
    'echo "SEM-ROWS: $(ipcs -s | grep -c "^0x")"',
    'try a-shm-file cat "/dev/shm/kiln-shm-$MARK_ID"',
    'try a-shm-key python3 ./sysv.py shm-key "$A_SHM_KEY"',
    'try a-msq-key python3 ./sysv.py msq-key "$A_MSQ_KEY"',
    'try a-shm-id python3 ./sysv.py shm-id "$A_SHM_ID"',
    'try a-msq-id python3 ./sysv.py msq-id "$A_MSQ_ID"',
  ].join("\n"),
  "escape-userns.sh": [
    TRY,
    "try unshare-r unshare -r true",
    "try unshare-U unshare -U true",
    "try unshare-Urm unshare -Urm true",
    "try unshare-m unshare -m true",
    "try unshare-n unshare -n true",
    // unshare(CLONE_NEWUSER) itself (x86_64: 272, aarch64: 97).
    `try unshare-syscall perl -e 'my $n = $ARGV[0] eq "aarch64" ? 97 : 272; syscall($n, 0x10000000) == 0 or die "unshare: $!\\n"; print "in a new user namespace\\n"' "$(uname -m)"`,
    "try nested-bwrap bwrap --ro-bind /usr /usr --symlink usr/bin /bin /bin/true",
    "try setuid-root python3 -c 'import os; os.setuid(0); print(os.getuid())'",
    "grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs):' /proc/self/status | tr -s '\\t ' ' ' | sed 's/^/STATUS /'",
  ].join("\n"),
  "egress.sh": [
    REACH,
    'reach public-peer curl -sS -m 5 "http://$PEER_PUBLIC:$PEER_PORT/"',
    'reach private-peer curl -sS -m 5 "http://$PEER_PRIVATE:$PEER_PORT/"',
    'reach veth-host-public curl -sS -m 5 "http://$VETH_PUBLIC:$ANY_PORT/"',
    'reach veth-host-private curl -sS -m 5 "http://$VETH_PRIVATE:$ANY_PORT/"',
    "reach dns getent hosts registry.npmjs.org",
  ].join("\n"),
};

/** Attempts of an escape script: names blocked (with their error) and lines leaked. */
function attempts(t: string[]): { blocked: string[]; leaked: string[]; why: Map<string, string> } {
  if (process.env.KILN_TEST_SHOW_ATTEMPTS === "1") console.log(t.filter((l) => /^(BLOCKED|LEAK|REACHED|REFUSED|PIDS|UIDS|WHOAMI|PWD|STATUS|METADATA|SHM|MSQ|SEM)/.test(l)).join("\n"));
  const why = new Map<string, string>();
  const blocked: string[] = [];
  for (const l of t.filter((x) => x.startsWith("BLOCKED "))) {
    const name = l.slice(8, l.indexOf(":"));
    blocked.push(name);
    why.set(name, l.slice(l.indexOf(":") + 2));
  }
  return { blocked, leaked: t.filter((l) => l.startsWith("LEAK ")), why };
}

/** Egress probes of a `reach` script: name → "REACHED …" / "REFUSED …" with what it printed. */
function reaches(t: string[]): Map<string, { reached: boolean; out: string }> {
  attempts(t);
  const found = new Map<string, { reached: boolean; out: string }>();
  for (const l of t) {
    const m = /^(REACHED|REFUSED) ([^:]+): ?(.*)$/.exec(l);
    if (m) found.set(m[2] as string, { reached: m[1] === "REACHED", out: m[3] as string });
  }
  return found;
}

/** A line `PREFIX<value>` of the log, its value; fails when there is none. */
function value(t: string[], prefix: string): string {
  const line = t.find((l) => l.startsWith(prefix));
  assert.ok(line !== undefined, `no "${prefix}" line in:\n${t.join("\n")}`);
  return line.slice(prefix.length);
}

async function runBuild(h: Harness, s: BuildSetup, timeoutMs = 60_000) {
  const uuid = await startBuild(h, s);
  const b = await waitForStatus(h, s, uuid, "stopped", timeoutMs);
  return { uuid, b, t: texts((await allLogs(h, s, uuid)).lines) };
}

async function waitForLine(h: Harness, s: BuildSetup, uuid: string, line: string, timeoutMs = 30_000): Promise<string[]> {
  return waitFor(`build ${uuid} to print ${line}`, async () => {
    const t = texts((await allLogs(h, s, uuid)).lines);
    return t.includes(line) ? t : undefined;
  }, timeoutMs);
}

async function cancel(h: Harness, s: BuildSetup, uuid: string): Promise<void> {
  await h.call("PUT", `/client/v4/accounts/${s.accountId}/builds/builds/${uuid}/cancel`, { token: s.write });
  await waitForStatus(h, s, uuid, "stopped");
}

const openGate = (dataDir: string, uuid: string) => fs.writeFileSync(path.join(dataDir, "work", uuid, "repo", "gate-open"), "");

/** An HTTP server of the test's on the host, answering a secret, counting every connection. */
async function hostHttp(host: string, secret: string): Promise<{ port: number; connections: () => number; close(): Promise<void> }> {
  let connections = 0;
  const server = http.createServer((_req, res) => res.end(`${secret}\n`));
  server.on("connection", () => connections++);
  await new Promise<void>((resolve) => server.listen(0, host, () => resolve()));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => connections,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** A unix socket server (a path, or "\0name" for an abstract one) greeting with a secret, counting connections. */
async function hostUnix(address: string, secret: string): Promise<{ connections: () => number; close(): Promise<void> }> {
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    socket.on("error", () => undefined); // a client that only connects and leaves
    socket.end(`${secret}\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(address, () => resolve());
  });
  return { connections: () => connections, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** Non-loopback IPv4 addresses of this machine's interfaces. */
function hostIPv4(): string[] {
  return Object.values(os.networkInterfaces())
    .flatMap((list) => list ?? [])
    .filter((a) => a.family === "IPv4" && !a.internal)
    .map((a) => a.address);
}

/** Non-loopback, non-link-local IPv6 addresses of this machine's interfaces. */
function hostIPv6(): string[] {
  return Object.values(os.networkInterfaces())
    .flatMap((list) => list ?? [])
    .filter((a) => a.family === "IPv6" && !a.internal && !/^fe[89ab]/i.test(a.address))
    .map((a) => a.address);
}

/** The host's SysV objects, from its own `ipcs`: key (hex) → id. */
function hostIpcs(kind: "-m" | "-q"): Map<string, string> {
  const out = execFileSync("ipcs", [kind], { env: ROOT_ENV }).toString();
  const rows = new Map<string, string>();
  for (const line of out.split("\n")) {
    const m = /^(0x[0-9a-f]+)\s+(\d+)\s/.exec(line);
    if (m) rows.set(m[1] as string, m[2] as string);
  }
  return rows;
}

/** Processes of the machine in any of these namespaces (`ipc:[…]`, `mnt:[…]` as /proc/PID/ns/* reads). */
function namespaceHolders(namespaces: string[]): number[] {
  const holders: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    for (const ns of ["ipc", "mnt"]) {
      try {
        if (namespaces.includes(fs.readlinkSync(`/proc/${entry}/ns/${ns}`))) holders.push(Number(entry));
      } catch {
        /* gone, or a kernel thread */
      }
    }
  }
  return holders;
}

/** `sysv.py` run on the host: whether a key exists in the host's IPC namespace. */
function hostSysv(kind: "shm-key" | "msq-key", key: string): boolean {
  try {
    execFileSync("/usr/bin/python3", ["-c", SYSV_PY, kind, key], { env: ROOT_ENV, stdio: ["ignore", "pipe", "pipe"] });
    return true;
  } catch {
    return false;
  }
}

/** Live descendants of this process that a build could have left (the sandbox chain, slirp4netns, the peer's server). */
function strayChildren(): string[] {
  const parent = new Map<number, number>();
  const comm = new Map<number, string>();
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const m = /^\d+ \((.*)\) (\S) (\d+)/s.exec(stat);
      if (m && m[2] !== "Z") {
        parent.set(Number(entry), Number(m[3]));
        comm.set(Number(entry), m[1] as string);
      }
    } catch {
      /* gone */
    }
  }
  const mine = (pid: number): boolean => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) if (p === process.pid) return true;
    return false;
  };
  return [...parent.keys()].filter((pid) => mine(pid) && comm.get(pid) !== "esbuild").map((pid) => `${pid} ${comm.get(pid)}`);
}

/**
 * Everything this process puts in the temp dir (harness data dirs, test repositories, the git
 * helper's empty config) goes to one directory of its own, removed at the end: other processes
 * of the machine share /tmp, and the check at the end must see only this file's leftovers. It is
 * under /var/lib, where an operator keeps a data dir (/var/lib/kiln), so that a data dir is not
 * hidden merely by the build's private /tmp: it must not exist inside because /var/lib does not.
 */
const savedTmpdir = process.env.TMPDIR;
const ownTmp = fs.mkdtempSync(isRoot ? "/var/lib/kiln-test-sbx-" : path.join(os.tmpdir(), "kiln-test-sbx-"));
process.env.TMPDIR = ownTmp;
const listing = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir) : []);
/** What the tests make on the host outside it, to be gone at the end. */
const made = { varLib: [] as string[], shm: [] as string[], netns: [] as string[] };

/** Escape attempts blocked over the whole file, by test, for docs/reliability.md. */
const tally: Record<string, number> = {};

for (const dialect of dialects()) {
  describe(`${dialect}: sandbox escapes through the real runner (${detected.mode}: ${detected.detail})`, { skip: noBubblewrap }, () => {
    let h: Harness;
    let repo: TestRepo;
    let dataDir: string;
    const sentinelKey = `KILN_TEST_SENTINEL_${hex(4).toUpperCase()}`;
    const sentinelValue = `server-only-${hex(12)}`;
    const run = (s: BuildSetup, timeoutMs?: number) => runBuild(h, s, timeoutMs);

    before(async () => {
      // In the test process's environment before the server starts: the server's environment.
      process.env[sentinelKey] = sentinelValue;
      repo = makeRepo({ name: `escape-${dialect}`, files: { "README.md": "hello\n", ...SCRIPTS } });
      h = await startHarness(dialect, {}, { runner: true, gitUrlTemplate: repo.template, cancelGrace: 1, slots: 4, buildTimeout: 90, workspaceLimit: WORKSPACE_LIMIT });
      dataDir = h.db.dataDir;
      // The key file as a server without --secret-key has it (the harness passes the key).
      loadSecretKey({ dataDir });
    });
    after(async () => {
      delete process.env[sentinelKey];
      await h?.close();
      repo?.cleanup();
    });

    it("the data dir does not exist inside: no database, WAL, key file or mirrors by any path; the build is its own uid", async () => {
      const key = fs.readFileSync(path.join(dataDir, KEY_FILE), "utf8").trim();
      if (dialect === "sqlite") assert.ok(fs.existsSync(path.join(dataDir, "kiln.db")), "the database is there on the host");
      const names = ["db", "db-wal", "key", "dotdot-db", "dotdot-key", "proc1-root-db", "proc-self-root-key", "mirrors", "data-list", "work-list", "own-work-by-host-path", "stage", "find-kiln-files", "umount", "userns-umount", "nsenter", "userns-umount2"];
      const s = await setupTrigger(h, repo, { build: "sh ./escape-data.sh", env: { DATA: { is_secret: false, value: dataDir } } }, "db-reader");
      const { b, t } = await run(s);
      assert.equal(b.build_outcome, "success", t.join("\n"));
      const { blocked, leaked, why } = attempts(t);
      assert.deepEqual(leaked, [], t.join("\n"));
      assert.deepEqual(blocked.sort(), [...names].sort(), t.join("\n"));
      // Not a permission error: the paths are not there at all.
      for (const name of ["db", "key", "proc1-root-db", "proc-self-root-key", "mirrors", "data-list", "work-list", "own-work-by-host-path", "stage"]) {
        assert.match(why.get(name) ?? "", /No such file or directory/, `${name}: ${why.get(name)}`);
      }
      assert.equal(why.get("data-list"), `ls: cannot access '${dataDir}': No such file or directory`);
      assert.equal(why.get("find-kiln-files"), "", "find found nothing of the kind");
      const uid = Number(value(t, "WHOAMI: "));
      assert.ok(uid >= UIDS.first && uid <= UIDS.last, `build uid ${uid} in --build-uids`);
      assert.equal(value(t, "PWD: "), "/opt/buildhome/repo HOME: /opt/buildhome");
      const all = t.join("\n");
      assert.ok(!all.includes(key), "the key never reaches the log");
      assert.doesNotMatch(all, /SQLite format/);
      // Still there, untouched, on the host.
      assert.equal(fs.readFileSync(path.join(dataDir, KEY_FILE), "utf8").trim(), key);
      tally["data dir"] = blocked.length;
    });

    it("cannot read another build's workspace or HOME, or see its processes", async () => {
      const mark = `a-private-${hex(8)}`;
      const a = await setupTrigger(h, repo, {
        build: 'printf "%s\\n" "$MARK" > a-marker.txt; mkdir -p "$HOME/.config"; printf "%s\\n" "$MARK" > "$HOME/.config/a.txt"; echo A-ready; sleep 60',
        env: { MARK: { is_secret: false, value: mark } },
      }, "tenant-a");
      const aUuid = await startBuild(h, a);
      await waitForLine(h, a, aUuid, "A-ready");
      const aRepo = path.join(dataDir, "work", aUuid, "repo");
      assert.equal(fs.readFileSync(path.join(aRepo, "a-marker.txt"), "utf8").trim(), mark, "A's file is there on the host");
      try {
        const names = ["a-repo-file", "a-home-file", "a-workdir", "a-dotdot", "a-inside-repo", "a-inside-home", "a-processes", "a-proc-cwd"];
        const bSetup = await setupTrigger(h, repo, {
          build: "sh ./escape-workspace.sh",
          env: { DATA: { is_secret: false, value: dataDir }, A_UUID: { is_secret: false, value: aUuid } },
        }, "tenant-b");
        const { b, t } = await run(bSetup);
        assert.equal(b.build_outcome, "success", t.join("\n"));
        const { blocked, leaked } = attempts(t);
        assert.deepEqual(leaked, [], t.join("\n"));
        assert.deepEqual(blocked.sort(), [...names].sort(), t.join("\n"));
        assert.ok(!t.join("\n").includes(mark), "A's data never reaches B's log");
        const visible = Number(value(t, "PIDS-VISIBLE: "));
        assert.ok(visible > 0 && visible < 10, `B sees only its own namespace's processes (${visible})`);
        // Every process B sees is its own uid's.
        const uids = value(t, "UIDS-VISIBLE: ").trim().split(" ");
        assert.equal(uids.length, 1, `one uid among B's processes: ${uids.join(",")}`);
        assert.ok(Number(uids[0]) >= UIDS.first && Number(uids[0]) <= UIDS.last);
        tally["another build"] = blocked.length;
      } finally {
        await cancel(h, a, aUuid);
      }
    });

    it("each build has its own /tmp and /var/tmp: what one build leaves there is neither on the host nor there for the next", async () => {
      const mark = `tmp-drop-${hex(8)}`;
      const id = mark.slice(-8);
      const a = await setupTrigger(h, repo, {
        build: 'printf "%s\\n" "$MARK" > "/tmp/kiln-drop-$MARK_ID"; printf "%s\\n" "$MARK" > "/var/tmp/kiln-drop-$MARK_ID"; cat "/tmp/kiln-drop-$MARK_ID"',
        env: { MARK: { is_secret: false, value: mark }, MARK_ID: { is_secret: false, value: id } },
      }, "tmp-a");
      const b = await setupTrigger(h, repo, {
        build: 'cat "/tmp/kiln-drop-$MARK_ID" || echo tmp-not-there; cat "/var/tmp/kiln-drop-$MARK_ID" || echo var-tmp-not-there',
        env: { MARK_ID: { is_secret: false, value: id } },
      }, "tmp-b");
      try {
        const ra = await run(a);
        assert.equal(ra.b.build_outcome, "success", ra.t.join("\n"));
        assert.ok(ra.t.includes(mark), "A wrote to its /tmp");
        assert.ok(!fs.existsSync(`/tmp/kiln-drop-${id}`), "A's /tmp file is not in the host's /tmp");
        assert.ok(!fs.existsSync(`/var/tmp/kiln-drop-${id}`), "A's /var/tmp file is not in the host's /var/tmp");
        const rb = await run(b);
        assert.equal(rb.b.build_outcome, "success", rb.t.join("\n"));
        assert.ok(!rb.t.includes(mark), "build B read what build A left in /tmp or /var/tmp");
        assert.ok(rb.t.includes("tmp-not-there") && rb.t.includes("var-tmp-not-there"), rb.t.join("\n"));
        tally["private /tmp"] = 2;
      } finally {
        fs.rmSync(`/tmp/kiln-drop-${id}`, { force: true });
        fs.rmSync(`/var/tmp/kiln-drop-${id}`, { force: true });
      }
    });

    it("cannot see the server's environment: env, /proc/1/environ, /proc/<server pid>/environ, every /proc/*/environ", async () => {
      const names = ["server-environ", "server-cmdline", "parent-environ"];
      const s = await setupTrigger(h, repo, { build: "sh ./escape-env.sh", env: { SERVER_PID: { is_secret: false, value: String(process.pid) } } }, "env-reader");
      const { b, t } = await run(s);
      assert.equal(b.build_outcome, "success", t.join("\n"));
      const { blocked, leaked } = attempts(t);
      assert.deepEqual(leaked, [], t.join("\n"));
      assert.deepEqual(blocked.sort(), [...names].sort(), t.join("\n"));
      assert.ok(t.includes("ENVIRON-SCAN-DONE"));
      const sandboxId = value(t, "KILN_SANDBOX_ID=");
      assert.match(sandboxId, /^[0-9a-f]{16}$/);
      assert.equal(value(t, "INIT-ENVIRON: "), `KILN_SANDBOX_ID=${sandboxId} PATH=${ROOT_ENV.PATH} PWD=/ `, "pid 1 is the sandbox's own");
      const [initUid, ownUid] = value(t, "INIT-UID: ").split(" ");
      assert.equal(initUid, ownUid, "pid 1 runs as the build's own uid");
      const all = t.join("\n");
      assert.ok(!all.includes(sentinelValue) && !all.includes(sentinelKey), "the server's own variable never reaches the build");
      for (const [k, v] of Object.entries(process.env)) {
        if (v && v.length >= 12 && !["PATH", "HOME", "LANG", "PWD"].includes(k)) assert.ok(!all.includes(v), `server variable ${k} leaked`);
      }
      // What the build does see: exactly the injected variables and its own.
      const env = t.slice(t.indexOf("ENV-START") + 1, t.indexOf("ENV-END"));
      const keys = env.map((l) => l.slice(0, l.indexOf("="))).filter(Boolean).sort();
      const allowed = new Set(["PATH", "HOME", "LANG", "PWD", "OLDPWD", "SHLVL", "CI", "WORKERS_CI", "WORKERS_CI_BUILD_UUID", "WORKERS_CI_COMMIT_SHA", "WORKERS_CI_BRANCH", "CLOUDFLARE_ACCOUNT_ID", "CLOUDFLARE_API_TOKEN", "WRANGLER_CI_OVERRIDE_NAME", "WRANGLER_CI_MATCH_TAG", "KILN_SANDBOX_ID", "SERVER_PID"]);
      assert.deepEqual(keys.filter((k) => !allowed.has(k)), [], `unexpected variables: ${keys.join(",")}`);
      tally["server environment"] = blocked.length + 3;
    });

    // The bomb tests the sandbox's limit, not the database: once (on SQLite) is enough, and it is
    // the suite's slowest build (4,096 processes to start and kill on a 2-core machine).
    if (dialect === "sqlite") it("a fork bomb ends terminated on the pids limit; the server keeps answering; the next build succeeds", { skip: noPidsLimit }, async () => {
      const bomb = await setupTrigger(h, repo, { build: "bomb() { bomb | bomb & }; bomb; sleep 5" }, "bomber");
      const fine = await setupTrigger(h, repo, { build: "echo still-fine" }, "bystander");
      const t0 = performance.now();
      const uuid = await startBuild(h, bomb);
      // While the bomb runs, the API answers (in-process: the event loop is not starved).
      let worst = 0;
      let answered = 0;
      let status = "";
      while (status !== "stopped") {
        const t = performance.now();
        const health = await h.call("GET", "/healthz");
        const build = await h.call("GET", `/client/v4/accounts/${bomb.accountId}/builds/builds/${uuid}`, { token: bomb.read });
        worst = Math.max(worst, performance.now() - t);
        assert.equal(health.status, 200);
        assert.equal(build.status, 200);
        answered++;
        status = build.body.result.status;
        assert.ok(performance.now() - t0 < 60_000, "the bomb build ended");
        await new Promise((r) => setTimeout(r, 50));
      }
      const ms = performance.now() - t0;
      const b = (await h.call("GET", `/client/v4/accounts/${bomb.accountId}/builds/builds/${uuid}`, { token: bomb.read })).body.result;
      const t = texts((await allLogs(h, bomb, uuid)).lines);
      assert.equal(b.build_outcome, "terminated", t.join("\n"));
      assert.equal(t.at(-1), "Build was terminated: it hit the process limit of the build environment");
      assert.deepEqual(buildProcesses(uuid), [], "nothing of the bomb survives");
      // The bomb is held to --build-cpus (default 4, capped at the machine's count), which may be
      // all of a small machine; the bound only says the server keeps answering.
      assert.ok(worst < 10_000, `API answered within ${worst.toFixed(0)} ms during the bomb`);
      const next = await run(fine);
      assert.equal(next.b.build_outcome, "success", next.t.join("\n"));
      assert.ok(next.t.includes("still-fine"));
      console.log(`# fork bomb: terminated after ${ms.toFixed(0)} ms; ${answered} API round trips meanwhile, worst ${worst.toFixed(0)} ms`);
      tally["fork bomb"] = 1;
    });

    it(`a build filling its workspace past --workspace-limit (${WORKSPACE_LIMIT} bytes) ends terminated; its disk is freed`, async () => {
      // 5 MB a file every 0.1 s, at most 400 MB in all should the watchdog fail; `yes` rather than a device.
      const s = await setupTrigger(h, repo, {
        build: "i=0; while [ $i -lt 80 ]; do yes kiln-fill-kiln-fill | head -c 5000000 > fill-$i.bin; i=$((i+1)); sleep 0.1; done; echo filled-everything; sleep 30",
      }, "filler");
      const t0 = performance.now();
      const uuid = await startBuild(h, s);
      const work = path.join(dataDir, "work", uuid);
      let peak = 0;
      const sampler = setInterval(() => {
        try {
          const dir = path.join(work, "repo");
          const size = fs.readdirSync(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
          peak = Math.max(peak, size);
        } catch {
          /* not there yet, or gone */
        }
      }, 100);
      let b;
      try {
        b = await waitForStatus(h, s, uuid, "stopped", 60_000);
      } finally {
        clearInterval(sampler);
      }
      const ms = performance.now() - t0;
      const t = texts((await allLogs(h, s, uuid)).lines);
      assert.equal(b.build_outcome, "terminated", t.join("\n"));
      assert.equal(t.at(-1), `Build was terminated: it exceeded the workspace limit of ${WORKSPACE_LIMIT} bytes`);
      assert.ok(!t.includes("filled-everything"), "stopped before the end");
      assert.deepEqual(buildProcesses(uuid), []);
      await waitFor("the workspace to be deleted", async () => !fs.existsSync(work) && !fs.existsSync(`${work}.removing`), 30_000);
      console.log(`# workspace fill: terminated after ${ms.toFixed(0)} ms, peak seen ${(peak / MB).toFixed(0)} MiB over a ${WORKSPACE_LIMIT / MB} MiB limit; workspace deleted`);
      tally["workspace limit"] = 1;
    });
  });
}

describe("sqlite: host boundaries of a build (sockets, files, another server, IPC, uids, user namespaces)", { skip: noBubblewrap }, () => {
  let h: Harness;
  let repo: TestRepo;
  let dataDir: string;
  const run = (s: BuildSetup, timeoutMs?: number) => runBuild(h, s, timeoutMs);

  before(async () => {
    repo = makeRepo({ name: "boundaries", files: { "README.md": "hello\n", ...SCRIPTS } });
    h = await startHarness("sqlite", {}, { runner: true, gitUrlTemplate: repo.template, cancelGrace: 1, slots: 4, buildTimeout: 90 });
    dataDir = h.db.dataDir;
  });
  after(async () => {
    await h?.close();
    repo?.cleanup();
  });

  it("cannot reach the host's loopback or own addresses over TCP; cloud metadata is refused at once", { skip: noNetwork }, async () => {
    const secret = `host-tcp-${hex(8)}`;
    const lo = await hostHttp("127.0.0.1", secret);
    const any = await hostHttp("0.0.0.0", secret);
    const lo6 = await hostHttp("::1", secret);
    const any6 = await hostHttp("::", secret);
    try {
      const ips = hostIPv4();
      const ips6 = hostIPv6();
      assert.ok(ips.length > 0, "this machine has a non-loopback IPv4 address");
      // The servers answer on the host, so a build that got through would read the secret.
      const seen = await new Promise<string>((resolve, reject) => http.get({ host: ips[0], port: any.port, agent: false }, (r) => {
        let body = "";
        r.on("data", (c: Buffer) => (body += c.toString()));
        r.on("end", () => resolve(body));
      }).on("error", reject));
      assert.equal(seen, `${secret}\n`);
      const seenBefore = { lo: lo.connections(), any: any.connections(), lo6: lo6.connections(), any6: any6.connections() };
      const s = await setupTrigger(h, repo, {
        build: "sh ./escape-host-net.sh",
        env: { LO_PORT: { is_secret: false, value: String(lo.port) }, ANY_PORT: { is_secret: false, value: String(any.port) }, HOST_IPS: { is_secret: false, value: ips.join(" ") },
          LO6_PORT: { is_secret: false, value: String(lo6.port) }, ANY6_PORT: { is_secret: false, value: String(any6.port) }, HOST_IPS6: { is_secret: false, value: ips6.join(" ") },
        },
      }, "net-prober");
      const { b, t } = await run(s);
      assert.equal(b.build_outcome, "success", t.join("\n"));
      const { blocked, leaked, why } = attempts(t);
      const names = ["loopback", "loopback-name", "loopback-python", "loopback-devtcp", "loopback-any-server", "slirp-gateway-lo", "slirp-gateway-any", ...ips.flatMap((a) => [`host-${a}`, `host-python-${a}`]), "loopback6", ...ips6.map((a) => `host6-${a.replaceAll(":", "_")}`), "metadata", "metadata-python"];
      assert.deepEqual(leaked, [], t.join("\n"));
      assert.deepEqual(blocked.sort(), [...names].sort(), t.join("\n"));
      assert.ok(!t.join("\n").includes(secret));
      // Refused, not timed out: curl's "(7) Failed to connect", python's ConnectionRefusedError.
      for (const name of names.filter((n) => !n.includes("python") && n !== "loopback-devtcp")) assert.match(why.get(name) ?? "", /^curl: \(7\) Failed to connect/, `${name}: ${why.get(name)}`);
      for (const name of names.filter((n) => n.includes("python"))) assert.match(why.get(name) ?? "", /ConnectionRefusedError/, `${name}: ${why.get(name)}`);
      assert.match(why.get("loopback-devtcp") ?? "", /Connection refused/);
      const metadataMs = Number(value(t, "METADATA-MS: "));
      const metadataPyMs = Number(value(t, "METADATA-PY-MS: "));
      assert.ok(metadataMs < 3000 && metadataPyMs < 3000, `169.254.169.254 refused at once (curl ${metadataMs} ms, python ${metadataPyMs} ms)`);
      // Not one connection reached either server.
      assert.deepEqual({ lo: lo.connections(), any: any.connections(), lo6: lo6.connections(), any6: any6.connections() }, seenBefore);
      console.log(`# host tcp: ${blocked.length} attempts refused; host addresses ${[...ips, ...ips6].join(", ")}; metadata refused in ${metadataMs} ms (curl), ${metadataPyMs} ms (python)`);
      tally["host tcp"] = blocked.length;
    } finally {
      await lo.close();
      await any.close();
      await lo6.close();
      await any6.close();
    }
  });

  it("cannot connect to the host's unix sockets (a path under /var/lib, an abstract name, Kiln's uid claims) or read a file under /var/lib", async () => {
    const secret = `host-unix-${hex(8)}`;
    const dir = fs.mkdtempSync("/var/lib/kiln-test-sbx-");
    made.varLib.push(dir);
    const abstract = `kiln-test-${hex(6)}`;
    let fsServer: Awaited<ReturnType<typeof hostUnix>> | undefined;
    let abServer: Awaited<ReturnType<typeof hostUnix>> | undefined;
    try {
      fs.chmodSync(dir, 0o755);
      const file = path.join(dir, "secret.txt");
      fs.writeFileSync(file, `${secret}\n`, { mode: 0o644 });
      fs.chmodSync(file, 0o644);
      const sock = path.join(dir, "sock");
      fsServer = await hostUnix(sock, secret);
      fs.chmodSync(sock, 0o777);
      abServer = await hostUnix(`\0${abstract}`, secret);
      // Both answer on the host (the test's own check uses the same script the build runs).
      const hostConnect = (addr: string) => execFileSync("/usr/bin/python3", ["-c", CONNECT_PY, addr], { env: ROOT_ENV }).toString().trim();
      assert.equal(hostConnect(sock), "connected");
      assert.equal(hostConnect(`@${abstract}`), "connected");
      await waitFor("the host's two connections", async () => fsServer?.connections() === 1 && abServer?.connections() === 1, 5000);
      const s = await setupTrigger(h, repo, {
        build: "sh ./escape-unix.sh",
        env: { SOCK: { is_secret: false, value: sock }, ABSTRACT: { is_secret: false, value: abstract }, FILE: { is_secret: false, value: file }, VAR_DIR: { is_secret: false, value: dir } },
      }, "unix-prober");
      const { b, t } = await run(s);
      assert.equal(b.build_outcome, "success", t.join("\n"));
      const { blocked, leaked, why } = attempts(t);
      const names = ["fs-socket", "fs-socket-socat", "abstract", "abstract-socat", "abstract-socat-padded", "own-uid-claim", "abstract-listed", "uid-claims-listed", "var-lib-file", "var-lib-dir", "proc-root-var-lib-file", "var-lib"];
      assert.deepEqual(leaked, [], t.join("\n"));
      assert.deepEqual(blocked.sort(), [...names].sort(), t.join("\n"));
      assert.ok(!t.join("\n").includes(secret));
      // The path is not there; the abstract names are the build's network namespace's, where none is bound.
      assert.match(why.get("fs-socket") ?? "", /FileNotFoundError/);
      assert.match(why.get("abstract") ?? "", /ConnectionRefusedError/);
      assert.match(why.get("own-uid-claim") ?? "", /ConnectionRefusedError/);
      for (const name of ["var-lib-file", "var-lib-dir", "proc-root-var-lib-file", "var-lib"]) assert.match(why.get(name) ?? "", /No such file or directory/, `${name}: ${why.get(name)}`);
      assert.equal(why.get("var-lib-file"), `cat: ${file}: No such file or directory`);
      assert.deepEqual([fsServer.connections(), abServer.connections()], [1, 1], "no connection from the build");
      assert.equal(fs.readFileSync(file, "utf8"), `${secret}\n`, "the file is still there on the host");
      tally["host unix sockets and /var/lib"] = blocked.length;
    } finally {
      await fsServer?.close();
      await abServer?.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("cannot read another running server's data dir or database", async () => {
    const other = await startHarness("sqlite");
    try {
      const otherDir = other.db.dataDir;
      loadSecretKey({ dataDir: otherDir });
      await other.account("other-tenant");
      assert.ok(fs.existsSync(path.join(otherDir, "kiln.db")) && fs.existsSync(path.join(otherDir, KEY_FILE)), "the other server's database and key are there on the host");
      const otherKey = fs.readFileSync(path.join(otherDir, KEY_FILE), "utf8").trim();
      const s = await setupTrigger(h, repo, { build: "sh ./escape-other-server.sh", env: { OTHER: { is_secret: false, value: otherDir } } }, "other-reader");
      const { b, t } = await run(s);
      assert.equal(b.build_outcome, "success", t.join("\n"));
      const { blocked, leaked, why } = attempts(t);
      const names = ["other-list", "other-db", "other-db-wal", "other-key", "other-work", "other-proc-root-db", "other-python"];
      assert.deepEqual(leaked, [], t.join("\n"));
      assert.deepEqual(blocked.sort(), [...names].sort(), t.join("\n"));
      assert.equal(why.get("other-list"), `ls: cannot access '${otherDir}': No such file or directory`);
      assert.equal(why.get("other-db"), `cat: ${otherDir}/kiln.db: No such file or directory`);
      assert.match(why.get("other-python") ?? "", /FileNotFoundError/);
      const all = t.join("\n");
      assert.ok(!all.includes(otherKey));
      assert.doesNotMatch(all, /SQLite format/);
      tally["another server"] = blocked.length;
    } finally {
      await other.close();
    }
  });

  it("/dev/shm and SysV IPC are the build's own: another build sees neither, the host has neither", async () => {
    const mark = `shm-${hex(8)}`;
    const id = mark.slice(-8);
    made.shm.push(`/dev/shm/kiln-shm-${id}`);
    const a = await setupTrigger(h, repo, { build: "sh ./ipc-a.sh", env: { MARK: { is_secret: false, value: mark }, MARK_ID: { is_secret: false, value: id } } }, "ipc-a");
    const aUuid = await startBuild(h, a);
    let aOpen = true;
    try {
      const ta = await waitForLine(h, a, aUuid, "A-ready");
      const shmId = value(ta, "Shared memory id: ");
      const msqId = value(ta, "Message queue id: ");
      const [shmKey, shmRowId] = value(ta, "SHM-ROW: ").split(" ");
      const [msqKey, msqRowId] = value(ta, "MSQ-ROW: ").split(" ");
      assert.equal(shmRowId, shmId);
      assert.equal(msqRowId, msqId);
      assert.equal(ta.filter((l) => l.startsWith("SHM-ROW: ")).length, 1, "A's namespace holds only its own segment");
      assert.equal(value(ta, "SHM-LIST: "), `kiln-shm-${id} `);
      assert.ok(shmKey && msqKey && shmKey !== "0x00000000" && msqKey !== "0x00000000", ta.join("\n"));
      // While A holds them: the host's IPC namespace and /dev/shm have neither.
      assert.ok(!hostIpcs("-m").has(shmKey), `host ipcs -m lists A's segment ${shmKey}`);
      assert.ok(!hostIpcs("-q").has(msqKey), `host ipcs -q lists A's queue ${msqKey}`);
      assert.equal(hostSysv("shm-key", shmKey), false);
      assert.equal(hostSysv("msq-key", msqKey), false);
      assert.ok(!fs.existsSync(`/dev/shm/kiln-shm-${id}`), "A's /dev/shm file is in the host's /dev/shm");
      // Where they are: A's own /dev/shm (seen from the host through one of A's processes), in
      // A's own IPC and mount namespaces.
      const aPid = buildProcesses(aUuid)[0];
      assert.ok(aPid !== undefined, "A's processes are there");
      assert.equal(fs.readFileSync(`/proc/${aPid}/root/dev/shm/kiln-shm-${id}`, "utf8"), `${mark}\n`);
      const aNamespaces = ["ipc", "mnt"].map((ns) => fs.readlinkSync(`/proc/${aPid}/ns/${ns}`));
      const hostNamespaces = ["ipc", "mnt"].map((ns) => fs.readlinkSync(`/proc/self/ns/${ns}`));
      assert.deepEqual(aNamespaces.filter((ns) => hostNamespaces.includes(ns)), []);

      // B, running at the same time, sees nothing of A's.
      const bs = await setupTrigger(h, repo, {
        build: "sh ./ipc-b.sh",
        env: {
          MARK_ID: { is_secret: false, value: id },
          A_SHM_KEY: { is_secret: false, value: shmKey },
          A_MSQ_KEY: { is_secret: false, value: msqKey },
          A_SHM_ID: { is_secret: false, value: shmId },
          A_MSQ_ID: { is_secret: false, value: msqId },
        },
      }, "ipc-b");
      const { b, t } = await run(bs);
      assert.equal(b.build_outcome, "success", t.join("\n"));
      const { blocked, leaked, why } = attempts(t);
      const names = ["a-shm-file", "a-shm-key", "a-msq-key", "a-shm-id", "a-msq-id"];
      assert.deepEqual(leaked, [], t.join("\n"));
      assert.deepEqual(blocked.sort(), [...names].sort(), t.join("\n"));
      assert.equal(value(t, "SHM-LIST: "), "", "B's /dev/shm is empty");
      assert.equal(value(t, "SHM-ROWS: "), "0");
      assert.equal(value(t, "MSQ-ROWS: "), "0");
      assert.equal(value(t, "SEM-ROWS: "), "0");
      assert.equal(why.get("a-shm-key"), `shm-key ${shmKey}: No such file or directory`);
      assert.equal(why.get("a-msq-key"), `msq-key ${msqKey}: No such file or directory`);
      assert.equal(why.get("a-shm-id"), `shm-id ${shmId}: Invalid argument`);
      assert.equal(why.get("a-msq-id"), `msq-id ${msqId}: Invalid argument`);
      assert.ok(!t.join("\n").includes(mark));

      openGate(dataDir, aUuid);
      const done = await waitForStatus(h, a, aUuid, "stopped");
      aOpen = false;
      assert.equal(done.build_outcome, "success");
      // After A: still nothing on the host.
      assert.ok(!hostIpcs("-m").has(shmKey) && !hostIpcs("-q").has(msqKey));
      assert.ok(!fs.existsSync(`/dev/shm/kiln-shm-${id}`));
      // Gone with A: no process is left in A's IPC or mount namespace, so the kernel has freed
      // them, A's SysV objects and its /dev/shm tmpfs (its pages) with them.
      await waitFor("A's namespaces to be gone", async () => namespaceHolders(aNamespaces).length === 0, 5000);
      // The next build sees nothing of A's either.
      const next = await run(bs);
      assert.equal(next.b.build_outcome, "success", next.t.join("\n"));
      assert.deepEqual(attempts(next.t).leaked, [], next.t.join("\n"));
      assert.deepEqual(attempts(next.t).blocked.sort(), [...names].sort(), next.t.join("\n"));
      assert.equal(value(next.t, "SHM-LIST: "), "");
      assert.equal(value(next.t, "SHM-ROWS: "), "0");
      assert.equal(value(next.t, "MSQ-ROWS: "), "0");
      console.log(`# ipc: A made shm ${shmKey} (id ${shmId}), msq ${msqKey} (id ${msqId}) and /dev/shm/kiln-shm-${id}; B, the next build and the host saw none; A's namespaces died with it`);
      tally["ipc"] = blocked.length + 3;
    } finally {
      if (aOpen) await cancel(h, a, aUuid);
    }
  });

  it("two running builds have different uids of --build-uids, on the host too", async () => {
    const cmd = 'echo "IDS: $(id -u) $(id -g) $(id -G)"; echo ready; while [ ! -e gate-open ]; do sleep 0.05; done';
    const setups = [await setupTrigger(h, repo, { build: cmd }, "uid-a"), await setupTrigger(h, repo, { build: cmd }, "uid-b")];
    const uuids = [await startBuild(h, setups[0] as BuildSetup), await startBuild(h, setups[1] as BuildSetup)];
    const open = new Set(uuids);
    try {
      const uids: number[] = [];
      for (let i = 0; i < 2; i++) {
        const s = setups[i] as BuildSetup;
        const uuid = uuids[i] as string;
        const t = await waitForLine(h, s, uuid, "ready");
        const [u, g, groups] = value(t, "IDS: ").split(" ");
        const uid = Number(u);
        assert.ok(uid >= UIDS.first && uid <= UIDS.last, `uid ${uid} in --build-uids`);
        assert.equal(g, String(uid), "its gid is its uid");
        assert.equal(groups, String(uid), "no supplementary groups");
        assert.ok(t.some((l) => l.startsWith("Sandbox: bubblewrap (") && l.includes(`; uid ${uid}; `)), "the sandbox line names the uid");
        // On the host: every process of the build runs as that uid, its workspace is that uid's,
        // and the runner holds the uid's claim.
        const pids = buildProcesses(uuid);
        assert.ok(pids.length > 0);
        for (const pid of pids) {
          const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
          assert.match(status, new RegExp(`^Uid:\\t${uid}\\t${uid}\\t${uid}\\t${uid}$`, "m"), `pid ${pid}`);
          assert.match(status, new RegExp(`^Gid:\\t${uid}\\t${uid}\\t${uid}\\t${uid}$`, "m"), `pid ${pid}`);
        }
        assert.equal(fs.statSync(path.join(dataDir, "work", uuid, "repo")).uid, uid);
        assert.match(fs.readFileSync("/proc/net/unix", "utf8"), new RegExp(`@kiln-build-uid-${uid}(@|\\s|$)`, "m"), `claim of ${uid} held`);
        uids.push(uid);
      }
      assert.notEqual(uids[0], uids[1], `two builds, two uids: ${uids.join(", ")}`);
      for (const uuid of uuids) openGate(dataDir, uuid);
      for (let i = 0; i < 2; i++) {
        const b = await waitForStatus(h, setups[i] as BuildSetup, uuids[i] as string, "stopped");
        open.delete(uuids[i] as string);
        assert.equal(b.build_outcome, "success");
      }
      // Released with the builds.
      await waitFor("the uid claims to be released", async () => {
        const unix = fs.readFileSync("/proc/net/unix", "utf8");
        // Node binds an abstract name padded with NULs to the whole sun_path: "@kiln-build-uid-N@@@…".
        return uids.every((u) => !new RegExp(`@kiln-build-uid-${u}(@|\\s|$)`, "m").test(unix));
      }, 5000);
      console.log(`# uids: two concurrent builds ran as ${uids.join(" and ")}`);
      tally["uids"] = 1;
    } finally {
      for (let i = 0; i < 2; i++) if (open.has(uuids[i] as string)) await cancel(h, setups[i] as BuildSetup, uuids[i] as string);
    }
  });

  it("no user namespaces, no capabilities, no way back to root: unshare -r and unshare -U fail", async () => {
    const s = await setupTrigger(h, repo, { build: "sh ./escape-userns.sh" }, "userns");
    const { b, t } = await run(s);
    assert.equal(b.build_outcome, "success", t.join("\n"));
    const { blocked, leaked, why } = attempts(t);
    const names = ["unshare-r", "unshare-U", "unshare-Urm", "unshare-m", "unshare-n", "unshare-syscall", "nested-bwrap", "setuid-root"];
    assert.deepEqual(leaked, [], t.join("\n"));
    assert.deepEqual(blocked.sort(), [...names].sort(), t.join("\n"));
    // bwrap --disable-userns: the build's user namespace allows no nested one (ENOSPC); without
    // capabilities, no other namespace either (EPERM).
    for (const name of ["unshare-r", "unshare-U", "unshare-Urm"]) assert.equal(why.get(name), "unshare: unshare failed: No space left on device", name);
    for (const name of ["unshare-m", "unshare-n"]) assert.equal(why.get(name), "unshare: unshare failed: Operation not permitted", name);
    assert.equal(why.get("unshare-syscall"), "unshare: No space left on device");
    // uid 0 is not mapped in the build's user namespace.
    assert.match(why.get("setuid-root") ?? "", /OSError: \[Errno 22\] Invalid argument$/);
    const status = t.filter((l) => l.startsWith("STATUS ")).map((l) => l.slice(7));
    assert.deepEqual(status, ["CapInh: 0000000000000000", "CapPrm: 0000000000000000", "CapEff: 0000000000000000", "CapBnd: 0000000000000000", "CapAmb: 0000000000000000", "NoNewPrivs: 1"]);
    tally["user namespaces and privilege"] = blocked.length;
  });
});

describe("sqlite: a build's CPU time is held to --build-cpus", { skip: noCpuLimit }, () => {
  let h: Harness;
  let repo: TestRepo;
  const CPUS = 0.5;

  before(async () => {
    repo = makeRepo({ name: "cpu", files: { "README.md": "hello\n" } });
    h = await startHarness("sqlite", {}, { runner: true, gitUrlTemplate: repo.template, slots: 2, buildTimeout: 60, buildCpus: CPUS });
  });
  after(async () => {
    await h?.close();
    repo?.cleanup();
  });

  it(`two busy loops for 2 s get at most ${CPUS} CPU between them`, async () => {
    const s = await setupTrigger(h, repo, {
      build: "s=$(date +%s%N); timeout 2 sh -c 'while :; do :; done' & timeout 2 sh -c 'while :; do :; done' & wait; echo \"WALL-MS: $(( ($(date +%s%N) - s) / 1000000 ))\"; times",
    }, "burner");
    const { b, t } = await runBuild(h, s);
    assert.equal(b.build_outcome, "success", t.join("\n"));
    assert.ok(t.some((l) => l.startsWith("Sandbox: bubblewrap (") && l.endsWith("; 0.5 CPUs)")), t.join("\n"));
    const wallMs = Number(value(t, "WALL-MS: "));
    // `times`: the shell's own user and system time, then its children's (every busy loop, waited for).
    const rows = t.map((l) => /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/.exec(l)).filter((m) => m !== null);
    assert.equal(rows.length, 2, t.join("\n"));
    const [, um, us, sm, ss] = rows[1] as RegExpExecArray;
    const cpuMs = (Number(um) * 60 + Number(us) + Number(sm) * 60 + Number(ss)) * 1000;
    const ratio = cpuMs / wallMs;
    console.log(`# cpu quota: ${CPUS} CPU asked; two busy loops used ${cpuMs.toFixed(0)} ms of CPU in ${wallMs} ms wall: ${ratio.toFixed(3)} CPU (unlimited: up to ${os.availableParallelism()})`);
    assert.ok(wallMs >= 1900 && wallMs < 5000, `the loops ran ~2 s (${wallMs} ms)`);
    assert.ok(ratio <= CPUS * 1.3, `CPU/wall ${ratio.toFixed(3)} over ${CPUS} × 1.3`);
    // A loaded machine gives the loops less; none at all would mean the measurement is broken.
    assert.ok(ratio >= 0.1, `the loops did burn CPU (${ratio.toFixed(3)})`);
    tally["cpu quota"] = 1;
  });
});

describe("sqlite: egress of an isolated build (a peer namespace of the test's own, DNS, the npm registry)", { skip: noNetwork }, () => {
  let peer: NetnsPeer;
  let h: Harness;
  let allowed: Harness;
  let none: Harness;
  let hostNet: Harness;
  let repo: TestRepo;
  let any: Awaited<ReturnType<typeof hostHttp>>;
  const anySecret = `veth-host-${hex(8)}`;
  // TEST-NET-2 (documentation, never routed on the internet) and a private range: both only on the veth.
  const PUBLIC = { host: "198.51.100.1", peer: "198.51.100.2" };
  const PRIVATE = { host: "10.99.0.1", peer: "10.99.0.2" };

  before(async () => {
    peer = await startPeer({ host: [`${PUBLIC.host}/24`, `${PRIVATE.host}/24`], peer: [`${PUBLIC.peer}/24`, `${PRIVATE.peer}/24`] });
    made.netns.push(peer.name);
    // From the host first: both of the peer's addresses answer, over the veth.
    assert.equal(await peer.get(PUBLIC.peer), `kiln-peer ${peer.token} ${PUBLIC.peer}\n`);
    assert.equal(await peer.get(PRIVATE.peer), `kiln-peer ${peer.token} ${PRIVATE.peer}\n`);
    await waitFor("the peer's two hits", async () => peer.hits.length === 2, 5000);
    assert.deepEqual(peer.hits.splice(0), [PUBLIC.peer, PRIVATE.peer]);
    any = await hostHttp("0.0.0.0", anySecret);
    repo = makeRepo({ name: "egress", files: { "README.md": "hello\n", ...SCRIPTS } });
    h = await startHarness("sqlite", {}, { runner: true, gitUrlTemplate: repo.template, slots: 2, buildTimeout: 180 });
    allowed = await startHarness("sqlite", {}, { runner: true, gitUrlTemplate: repo.template, slots: 2, buildTimeout: 60, buildNetworkAllow: "10.99.0.0/24" });
    none = await startHarness("sqlite", {}, { runner: true, gitUrlTemplate: repo.template, slots: 1, buildTimeout: 60, buildNetwork: "none" });
    hostNet = await startHarness("sqlite", {}, { runner: true, gitUrlTemplate: repo.template, slots: 1, buildTimeout: 60, buildNetwork: "host" });
  });
  after(async () => {
    await h?.close();
    await allowed?.close();
    await none?.close();
    await hostNet?.close();
    await any?.close();
    repo?.cleanup();
    if (peer) {
      await peer.close();
      assert.deepEqual(peerLeftovers(peer), []);
    }
  });

  const env = () => ({
    PEER_PUBLIC: { is_secret: false, value: PUBLIC.peer },
    PEER_PRIVATE: { is_secret: false, value: PRIVATE.peer },
    PEER_PORT: { is_secret: false, value: String(peer.port) },
    VETH_PUBLIC: { is_secret: false, value: PUBLIC.host },
    VETH_PRIVATE: { is_secret: false, value: PRIVATE.host },
    ANY_PORT: { is_secret: false, value: String(any.port) },
  });

  it("reaches a public address and resolves names; a private address and the host's own are refused", async () => {
    const s = await setupTrigger(h, repo, { build: "sh ./egress.sh", env: env() }, "egress");
    peer.hits.splice(0); // each test counts its own
    const before = any.connections();
    const { b, t } = await runBuild(h, s);
    assert.equal(b.build_outcome, "success", t.join("\n"));
    assert.ok(t.some((l) => l.startsWith("Sandbox: bubblewrap (") && l.includes("network: isolated (") && !l.includes("allowed:")), t.join("\n"));
    const r = reaches(t);
    assert.deepEqual([...r.keys()].sort(), ["dns", "private-peer", "public-peer", "veth-host-private", "veth-host-public"]);
    assert.deepEqual(r.get("public-peer"), { reached: true, out: `kiln-peer ${peer.token} ${PUBLIC.peer}` });
    assert.equal(r.get("private-peer")?.reached, false);
    assert.match(r.get("private-peer")?.out ?? "", /^curl: \(7\) Failed to connect/);
    for (const name of ["veth-host-public", "veth-host-private"]) {
      assert.equal(r.get(name)?.reached, false, `${name}: ${r.get(name)?.out}`);
      assert.match(r.get(name)?.out ?? "", /^curl: \(7\) Failed to connect/);
    }
    assert.equal(r.get("dns")?.reached, true);
    assert.match(r.get("dns")?.out ?? "", /^\S+\s+registry\.npmjs\.org$/);
    await waitFor("the peer's hit", async () => peer.hits.length >= 1, 5000);
    assert.deepEqual(peer.hits.splice(0), [PUBLIC.peer], "only the public address got through");
    assert.equal(any.connections(), before, "nothing reached the host's own addresses");
    tally["egress refused"] = 3;
  });

  it("`npm view` reaches the npm registry from inside a build", async () => {
    // A published version never changes: the registry's answer is known exactly.
    const s = await setupTrigger(h, repo, { build: 'echo "NPM: $(npm view is-number@7.0.0 version)"; echo "NPM-NAME: $(npm view is-number@7.0.0 name)"' }, "npm");
    const { b, t } = await runBuild(h, s, 150_000);
    assert.equal(b.build_outcome, "success", t.join("\n"));
    assert.equal(value(t, "NPM: "), "7.0.0");
    assert.equal(value(t, "NPM-NAME: "), "is-number");
  });

  it("with --build-network-allow 10.99.0.0/24, the private peer is reached too", async () => {
    const s = await setupTrigger(allowed, repo, { build: "sh ./egress.sh", env: env() }, "egress-allowed");
    peer.hits.splice(0);
    const before = any.connections();
    const { b, t } = await runBuild(allowed, s);
    assert.equal(b.build_outcome, "success", t.join("\n"));
    assert.ok(t.some((l) => l.startsWith("Sandbox: bubblewrap (") && l.includes("allowed: 10.99.0.0/24)")), t.join("\n"));
    const r = reaches(t);
    assert.deepEqual(r.get("public-peer"), { reached: true, out: `kiln-peer ${peer.token} ${PUBLIC.peer}` });
    assert.deepEqual(r.get("private-peer"), { reached: true, out: `kiln-peer ${peer.token} ${PRIVATE.peer}` });
    assert.equal(r.get("veth-host-public")?.reached, false, "the host's own address outside the allowed range stays refused");
    assert.equal(r.get("dns")?.reached, true);
    await waitFor("the peer's hits", async () => peer.hits.length >= 2, 5000);
    assert.deepEqual(peer.hits.splice(0).sort(), [PRIVATE.peer, PUBLIC.peer].sort());
    // The host's own address inside the allowed range stays refused: allowing a range never opens the runner itself.
    assert.equal(r.get("veth-host-private")?.reached, false, "the host's own address inside the allowed range stays refused");
    assert.equal(any.connections() - before, 0, "no connection reached the host's own servers");
    console.log(`# egress allow: 10.99.0.2 reached; the host's own ${PRIVATE.host} (inside the allowed range) refused`);
  });

  /** Network interfaces the build sees, then what a public peer, DNS and the host's loopback answer. */
  const modeProbe = [
    REACH,
    `echo "NETDEVS: $(awk -F: 'NR > 2 { gsub(/ /, "", $1); print $1 }' /proc/net/dev | sort | tr '\\n' ' ')"`,
    'reach public-peer curl -sS -m 5 "http://$PEER_PUBLIC:$PEER_PORT/"',
    "reach dns getent hosts registry.npmjs.org",
    'reach host-loopback curl -sS -m 5 "http://127.0.0.1:$ANY_PORT/"',
  ].join("; ");

  it("--build-network none: loopback only, said in the sandbox line; no peer, no DNS, not the host", async () => {
    const s = await setupTrigger(none, repo, { build: modeProbe, env: env() }, "net-none");
    peer.hits.splice(0);
    const before = any.connections();
    const { b, t } = await runBuild(none, s);
    assert.equal(b.build_outcome, "success", t.join("\n"));
    const line = t.find((l) => l.startsWith("Sandbox: bubblewrap ("));
    assert.ok(line?.includes("; network: none (loopback only); "), t.join("\n"));
    assert.equal(value(t, "NETDEVS: "), "lo ");
    const r = reaches(t);
    for (const name of ["public-peer", "dns", "host-loopback"]) assert.equal(r.get(name)?.reached, false, `${name}: ${r.get(name)?.out}`);
    assert.deepEqual(peer.hits, []);
    assert.equal(any.connections(), before);
  });

  it("--build-network host: the runner's network, loopback included, said in the sandbox line", async () => {
    const s = await setupTrigger(hostNet, repo, { build: modeProbe, env: env() }, "net-host");
    peer.hits.splice(0);
    const before = any.connections();
    const { b, t } = await runBuild(hostNet, s);
    assert.equal(b.build_outcome, "success", t.join("\n"));
    const line = t.find((l) => l.startsWith("Sandbox: bubblewrap ("));
    assert.ok(line?.includes("; network: the host's (--build-network host): the build reaches the runner's loopback and private networks; "), t.join("\n"));
    const r = reaches(t);
    assert.deepEqual(r.get("public-peer"), { reached: true, out: `kiln-peer ${peer.token} ${PUBLIC.peer}` });
    assert.deepEqual(r.get("host-loopback"), { reached: true, out: anySecret });
    assert.equal(any.connections() - before, 1);
  });
});

after(() => {
  if (Object.keys(tally).length) console.log(`# escape attempts blocked: ${JSON.stringify(tally)}`);
  // Nothing left behind: in the temp dir only the git helper's empty config (it keeps one per
  // process), which goes with the directory.
  const leftInTmp = listing(ownTmp).filter((n) => !n.startsWith("kiln-gitcfg-"));
  fs.rmSync(ownTmp, { recursive: true, force: true });
  if (savedTmpdir === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmpdir;
  assert.deepEqual(leftInTmp, [], "left in the temp dir");
  assert.deepEqual([...made.varLib, ...made.shm].filter((f) => fs.existsSync(f)), [], "files left");
  const netns = listing("/run/netns");
  assert.deepEqual(netns.filter((n) => made.netns.includes(n) || n.startsWith(`kiln-${process.pid}-`) || n.startsWith(`kiln-probe-${process.pid}-`)), [], "network namespaces left");
  if (isRoot) {
    // SysV objects of a build uid in the host's IPC namespace (builds have namespaces of their own).
    const owned = execFileSync("ipcs", ["-m", "-q", "-c"], { env: ROOT_ENV }).toString().split("\n").filter((l) => /^\d+\s/.test(l));
    const byBuild = owned.filter((l) => l.trim().split(/\s+/).slice(1).some((f) => /^\d+$/.test(f) && Number(f) >= UIDS.first && Number(f) <= UIDS.last));
    assert.deepEqual(byBuild, [], "SysV objects of a build uid left");
  }
  assert.deepEqual(strayChildren(), [], "processes left");
});

/**
 * The build sandbox with real processes: exit codes, output, environment, the root the build
 * sees, its uid, and above all that cancel, timeout and a killed runner leave no process behind
 * (checked in /proc, not by trusting the code). Bubblewrap tests are skipped (with the reason)
 * where the machine only allows the process-group fallback.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { detectSandboxSupport } from "../../src/runner/sandbox-mode.ts";
import { claimUid, type ClaimedUid } from "../../src/runner/build-uids.ts";
import { detectSandbox, listSandboxProcesses, runStep, sandboxView, type SandboxMode, type SandboxOptions, type StepResult } from "../../src/runner/sandbox.ts";

const detected = await detectSandbox();
const support = await detectSandboxSupport();
const noNamespaces = detected.mode === "bubblewrap" ? false : `bubblewrap unavailable here: ${detected.detail}`;
const noCgroups = noNamespaces || (support.cgroups.version === null ? support.cgroups.detail : false);
const isRoot = process.getuid?.() === 0;

let seq = 0;
const roots: string[] = [];
const uids: ClaimedUid[] = [];

/** A data dir with a secret and one build's workspace (repo + home) inside it, as the runner lays it out. */
function layout() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-sandbox-"));
  roots.push(root);
  const data = path.join(root, "data");
  const work = path.join(data, "work", `b${++seq}`);
  const repo = path.join(work, "repo");
  fs.mkdirSync(repo, { recursive: true });
  fs.mkdirSync(path.join(work, "home"));
  fs.chmodSync(data, 0o700);
  fs.writeFileSync(path.join(data, "secret.key"), "top secret");
  fs.writeFileSync(path.join(repo, "package.json"), "{}\n");
  return { root, data, work, repo, home: path.join(work, "home"), tmp: path.join(work, "tmp") };
}

interface Run {
  result: StepResult;
  stdout: string;
  stderr: string;
  ms: number;
}

async function options(mode: SandboxMode, extra: Partial<SandboxOptions> = {}) {
  const l = layout();
  let uid: number | undefined;
  if (mode === "bubblewrap") {
    const claimed = await claimUid({ first: 1_000_000, last: 1_065_535 });
    uids.push(claimed);
    uid = claimed.uid;
  }
  let stdout = "";
  let stderr = "";
  const opts: SandboxOptions = {
    cwd: l.repo,
    env: { PATH: "/usr/bin:/bin", DATA: l.data, WS: l.work },
    dirs: { repo: l.repo, home: l.home, tmp: l.tmp },
    ...(uid !== undefined ? { uid } : {}),
    signal: new AbortController().signal,
    graceMs: 2000,
    mode,
    sandboxId: `t${process.pid}x${++seq}`,
    onOutput: (chunk, stream) => (stream === "stdout" ? (stdout += chunk) : (stderr += chunk)),
    ...extra,
  };
  return { l, opts, out: () => ({ stdout, stderr }) };
}

async function run(mode: SandboxMode, command: string, extra: Partial<SandboxOptions> = {}): Promise<Run & { l: ReturnType<typeof layout> }> {
  const { l, opts, out } = await options(mode, extra);
  const t = performance.now();
  const result = await runStep(command, opts);
  return { result, ...out(), ms: performance.now() - t, l };
}

/** Starts `command`, waits until its output holds every marker, aborts, and times the cancel. */
async function cancelAfter(mode: SandboxMode, command: string, markers: string[], graceMs: number) {
  const controller = new AbortController();
  let seen = "";
  let ready: () => void = () => undefined;
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  const { opts } = await options(mode, {
    signal: controller.signal,
    graceMs,
    onOutput: (chunk) => {
      seen += chunk;
      if (markers.every((m) => seen.includes(m))) ready();
    },
  });
  const id = opts.sandboxId ?? "";
  const step = runStep(command, opts);
  await Promise.race([isReady, step.then(() => assert.fail(`step ended before it was ready: ${seen}`))]);
  const running = listSandboxProcesses(id);
  const t = performance.now();
  controller.abort();
  const result = await step;
  return { result, ms: performance.now() - t, running, left: listSandboxProcesses(id), id };
}

function killAll(pids: number[]) {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

async function until(check: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 20))) if (check()) return true;
  return check();
}

// The double fork: `( sleep & )` leaves an orphan in the same process group and session; the
// setsid() daemon is in neither, so only a PID namespace (or a cgroup) can find it.
const IGNORES_TERM = `(trap '' TERM; echo child-ready; exec sleep 300) &`;
const DOUBLE_FORK = `( sleep 300 & echo fork-ready ) &`;
const SETSID_DAEMON = `setsid sh -c 'trap "" TERM; echo daemon-ready; exec sleep 300' &`;

after(async () => {
  for (const root of roots) fs.rmSync(root, { recursive: true, force: true });
  for (const uid of uids) await uid.release();
});

describe(`sandbox (this machine: ${detected.mode}: ${detected.detail})`, () => {
  it("detectSandbox answers once and says why", async () => {
    assert.deepEqual(await detectSandbox(), detected);
    assert.ok(detected.detail.length > 10);
  });

  it("an aborted signal starts nothing", async () => {
    const controller = new AbortController();
    controller.abort();
    const { result, stdout } = await run("process-group", "echo ran", { signal: controller.signal });
    assert.equal(result.reason, "cancelled");
    assert.equal(stdout, "");
  });
});

for (const mode of ["bubblewrap", "process-group"] as const) {
  const skip = mode === "bubblewrap" ? noNamespaces : false;

  describe(`runStep (${mode})`, { skip }, () => {
    it("reports exit codes; sh -e stops at the first failure", async () => {
      assert.equal((await run(mode, "exit 0")).result.exitCode, 0);
      const seven = await run(mode, "exit 7");
      assert.equal(seven.result.exitCode, 7);
      assert.equal(seven.result.reason, "exit");
      assert.equal(seven.result.mode, mode);
      const failed = await run(mode, "false; echo never");
      assert.equal(failed.result.exitCode, 1);
      assert.equal(failed.stdout, "");
    });

    it("captures stdout and stderr, each in order", async () => {
      const { stdout, stderr, result } = await run(mode, 'i=0; while [ $i -lt 300 ]; do i=$((i+1)); echo "out $i"; echo "err $i" >&2; done');
      assert.equal(result.exitCode, 0);
      const expected = (s: string) => Array.from({ length: 300 }, (_, i) => `${s} ${i + 1}`).join("\n") + "\n";
      assert.equal(stdout, expected("out"));
      assert.equal(stderr, expected("err"));
    });

    it("passes exactly the given environment (plus HOME and the marker), honours cwd", async () => {
      const value = "two words\nand a 'quoted' $line; `no` $(expansion)";
      const { stdout, l, result } = await run(mode, "pwd; /usr/bin/env -0", { env: { ODD: value, PATH: "/usr/bin:/bin" } });
      assert.equal(result.exitCode, 0);
      const [pwd, ...rest] = stdout.split("\n");
      const view = sandboxView(mode, { repo: l.repo, home: l.home, tmp: l.tmp });
      assert.equal(pwd, mode === "bubblewrap" ? "/opt/buildhome/repo" : l.repo);
      const env = new Map(
        rest
          .join("\n")
          .split("\0")
          .filter(Boolean)
          .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)] as const),
      );
      env.delete("PWD"); // the shell's own
      assert.deepEqual([...env.keys()].sort(), ["HOME", "KILN_SANDBOX_ID", "ODD", "PATH"]);
      assert.equal(env.get("ODD"), value);
      assert.equal(env.get("HOME"), view.home);
      assert.equal(view.home, mode === "bubblewrap" ? "/opt/buildhome" : l.home);
      const leaked = Object.keys(process.env).filter((k) => !["HOME", "PATH", "PWD"].includes(k) && env.has(k));
      assert.deepEqual(leaked, []);

      const bare = await run(mode, "/usr/bin/env", { env: {} });
      assert.doesNotMatch(bare.stdout, /^PATH=/m, "PATH only when given");
    });

    it("the command is one argument: metadata in the environment is never evaluated", async () => {
      const { stdout } = await run(mode, 'printf "%s\\n" "$BRANCH"', { env: { PATH: "/usr/bin:/bin", BRANCH: "x; echo pwned $(id)" } });
      assert.equal(stdout, "x; echo pwned $(id)\n");
    });

    it("cancel: SIGTERM to the tree; a TERM-ignoring step gets the grace period, then SIGKILL", async () => {
      const graceMs = 600;
      // The main process ignores TERM too: bubblewrap ends a step with its main process.
      // In a process group the setsid() daemon would escape (tested below), so it is left out here.
      const tree = mode === "bubblewrap" ? `trap '' TERM; ${IGNORES_TERM} ${DOUBLE_FORK} ${SETSID_DAEMON} wait` : `trap '' TERM; ${IGNORES_TERM} ${DOUBLE_FORK} wait`;
      const markers = mode === "bubblewrap" ? ["child-ready", "fork-ready", "daemon-ready"] : ["child-ready", "fork-ready"];
      const c = await cancelAfter(mode, tree, markers, graceMs);
      assert.equal(c.result.reason, "cancelled");
      assert.ok(c.running.length >= markers.length + 1, `tree was running: ${c.running.join(",")}`);
      assert.deepEqual(c.left, [], "no process of the sandbox survives");
      assert.ok(c.ms >= graceMs, `waited the grace period (${c.ms.toFixed(0)} ms)`);
      assert.ok(c.ms < graceMs + 1000, `then killed (${c.ms.toFixed(0)} ms)`);
    });

    it("cancel: a child cleaning up on SIGTERM gets to finish though the step's main shell exits at once", async () => {
      const graceMs = 4000;
      const tree = `(trap 'sleep 0.4; echo cleaned; exit 0' TERM; echo child-ready; while :; do sleep 0.05; done) & echo main-ready; wait`;
      let out = "";
      const controller = new AbortController();
      let ready: () => void = () => undefined;
      const isReady = new Promise<void>((resolve) => (ready = resolve));
      const { opts } = await options(mode, { signal: controller.signal, graceMs, onOutput: (chunk) => ((out += chunk), out.includes("child-ready") && out.includes("main-ready") && ready()) });
      const step = runStep(tree, opts);
      await isReady;
      const t = performance.now();
      controller.abort();
      const result = await step;
      const ms = performance.now() - t;
      assert.equal(result.reason, "cancelled");
      assert.match(out, /cleaned/, "the cleanup ran to its end");
      assert.ok(ms >= 380 && ms < graceMs, `${ms.toFixed(0)} ms: after the cleanup, before the grace`);
      assert.deepEqual(listSandboxProcesses(result.sandboxId), []);
    });

    it("cancel: a cooperative tree ends well before the grace period", async () => {
      const graceMs = 3000;
      const tree = `sleep 300 & ${DOUBLE_FORK} echo main-ready; wait`;
      const c = await cancelAfter(mode, tree, ["fork-ready", "main-ready"], graceMs);
      assert.equal(c.result.reason, "cancelled");
      assert.deepEqual(c.left, []);
      assert.ok(c.ms < graceMs / 3, `took ${c.ms.toFixed(0)} ms`);
    });

    it("timeout: same path, reason timeout, tree gone", async () => {
      const { opts } = await options(mode, { timeoutMs: 300, graceMs: 300 });
      const t = performance.now();
      const result = await runStep(`trap '' TERM; ${IGNORES_TERM} ${DOUBLE_FORK} wait`, opts);
      const ms = performance.now() - t;
      assert.equal(result.reason, "timeout");
      assert.ok(ms >= 600 && ms < 2000, `${ms.toFixed(0)} ms`);
      assert.deepEqual(listSandboxProcesses(opts.sandboxId ?? ""), []);
    });

    it("a cancel at any moment of the start leaves nothing behind", async () => {
      for (const delay of [0, 1, 2, 4, 7, 10, 15, 25]) {
        const controller = new AbortController();
        const { opts } = await options(mode, { signal: controller.signal, graceMs: 200 });
        const step = runStep(`${IGNORES_TERM} ${DOUBLE_FORK} wait`, opts);
        setTimeout(() => controller.abort(), delay);
        const result = await step;
        assert.equal(result.reason, "cancelled", `delay ${delay}`);
        assert.deepEqual(listSandboxProcesses(opts.sandboxId ?? ""), [], `delay ${delay}`);
      }
    });

    it("a normal exit kills what the step left running", async () => {
      const { result, ms, stdout } = await run(mode, `${DOUBLE_FORK} sleep 300 & sleep 0.2; echo done`);
      assert.equal(result.exitCode, 0);
      assert.match(stdout, /fork-ready/);
      assert.ok(ms < 1500, `${ms.toFixed(0)} ms`);
      assert.deepEqual(listSandboxProcesses(result.sandboxId), []);
    });

    it("a failing step: its exit code, and what it left running is killed too", async () => {
      const { result, ms, stdout } = await run(mode, `${DOUBLE_FORK} ${IGNORES_TERM} sleep 0.2; exit 3`);
      assert.equal(result.exitCode, 3);
      assert.equal(result.reason, "exit");
      assert.match(stdout, /fork-ready/);
      assert.match(stdout, /child-ready/);
      assert.ok(ms < 1500, `${ms.toFixed(0)} ms`);
      assert.deepEqual(listSandboxProcesses(result.sandboxId), []);
    });
  });
}

describe("runStep (bubblewrap): isolation", { skip: noNamespaces }, () => {
  it("sees a root made for it: no data dir, no host dirs; workspace and HOME writable; its own uid", { skip: !isRoot && "needs root" }, async () => {
    const { stdout, stderr, result, l, } = await run(
      "bubblewrap",
      [
        'test ! -e "$DATA" && echo data-absent',
        "for d in /root /home /srv /var/lib /opt/buildhome/.. /work /sys; do test -e $d/. && ls -A $d | head -3 | tr '\\n' ' '; echo \"$d:\"; done",
        'cat package.json; touch "$HOME/.npmrc" new-file',
        "touch /usr/x 2>/dev/null || echo usr-read-only",
        "touch /etc/x 2>/dev/null || echo etc-read-only",
        "id -u",
      ].join("\n"),
    );
    assert.equal(result.exitCode, 0, stderr);
    const lines = stdout.trim().split("\n");
    assert.equal(lines[0], "data-absent");
    // /root, /home, /srv, /var/lib, /work, /sys do not exist; /opt holds only buildhome.
    assert.deepEqual(lines.slice(1, 8), ["/root:", "/home:", "/srv:", "/var/lib:", "buildhome /opt/buildhome/..:", "/work:", "/sys:"]);
    assert.deepEqual(lines.slice(8, 11), ["{}", "usr-read-only", "etc-read-only"]);
    const uid = Number(lines[11]);
    assert.ok(uid >= 1_000_000 && uid <= 1_065_535, `uid ${uid} from the range`);
    assert.equal(fs.readFileSync(path.join(l.data, "secret.key"), "utf8"), "top secret");
    assert.equal(fs.statSync(path.join(l.repo, "new-file")).uid, uid);
    assert.ok(fs.existsSync(path.join(l.home, ".npmrc")));
    assert.equal(fs.statSync(path.join(l.repo, "package.json")).uid, uid, "the checkout was given to the build uid");
  });

  it("/etc without the host's secrets: shadow, gshadow, machine-id and host keys cannot be read, /etc/ssl/private is empty", { skip: !isRoot && "needs root" }, async () => {
    const secrets = ["/etc/shadow", "/etc/gshadow", "/etc/machine-id", "/etc/ssh/ssh_host_rsa_key", "/etc/ssh/ssh_host_ecdsa_key", "/etc/ssh/ssh_host_ed25519_key"].filter((f) => fs.existsSync(f) && fs.statSync(f).size > 0);
    assert.ok(secrets.includes("/etc/shadow"), "this host has an /etc/shadow to hide");
    const dirs = ["/etc/ssl/private"].filter((d) => fs.existsSync(d));
    const { stdout, stderr, result } = await run(
      "bubblewrap",
      [
        `for f in ${secrets.join(" ")}; do if c=$(cat "$f" 2>/dev/null); then echo "$f read $(printf %s "$c" | wc -c)"; else echo "$f unreadable"; fi; done`,
        `for d in ${dirs.join(" ")}; do echo "$d [$(ls -A "$d" 2>&1 | tr '\\n' ' ')]"; done`,
        "grep -c '^root:' /etc/passwd",
      ].join("\n"),
    );
    assert.equal(result.exitCode, 0, stderr);
    // Covered by /dev/null, which bwrap binds without device access (nodev): nothing to read. The
    // build uid could not read shadow anyway; machine-id is world-readable on the host.
    const lines = stdout.trim().split("\n");
    assert.deepEqual(lines.slice(secrets.length), [...dirs.map((d) => `${d} []`), "1"]);
    secrets.forEach((f, i) => assert.match(lines[i] ?? "", new RegExp(`^${f} (unreadable|read 0)$`), `${f}: ${lines[i]}`));
    const machineId = fs.existsSync("/etc/machine-id") ? fs.readFileSync("/etc/machine-id", "utf8").trim() : "";
    if (machineId) assert.ok(!stdout.includes(machineId));
  });

  it("--build-root: the build sees the prepared root's /usr and /etc, not the host's", { skip: !isRoot && "needs root (bind mount)" }, async () => {
    // A prepared root as debootstrap would leave it, its /usr borrowed from the host by a bind
    // mount (a real image's would be its own), its /etc its own.
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-build-root-"));
    roots.push(root);
    fs.chmodSync(root, 0o755); // builds run as unprivileged uids: the root must be readable by all
    fs.mkdirSync(path.join(root, "usr"));
    fs.mkdirSync(path.join(root, "etc"));
    for (const [link, target] of [["bin", "usr/bin"], ["lib", "usr/lib"], ["lib64", "usr/lib64"], ["sbin", "usr/sbin"]] as const) {
      if (fs.existsSync(`/${target}`)) fs.symlinkSync(target, path.join(root, link));
    }
    fs.writeFileSync(path.join(root, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\nimage-user:x:4242:4242::/nonexistent:/bin/sh\n");
    fs.writeFileSync(path.join(root, "etc", "group"), "root:x:0:\n");
    fs.writeFileSync(path.join(root, "etc", "image-release"), "kiln-test-image 1\n");
    execFileSync("mount", ["--bind", "/usr", path.join(root, "usr")]);
    try {
      const { stdout, stderr, result } = await run("bubblewrap", "cat /etc/image-release; grep -c image-user /etc/passwd; test -e /etc/debian_version && echo host-etc || echo no-host-etc; whoami", { buildRoot: root });
      assert.equal(result.exitCode, 0, stderr);
      assert.deepEqual(stdout.trim().split("\n"), ["kiln-test-image 1", "1", "no-host-etc", "build"]);
    } finally {
      execFileSync("umount", [path.join(root, "usr")]);
    }
  });

  it("/dev/shm is a private tmpfs of the given size: writing past it fails with ENOSPC", { skip: !isRoot && "needs root" }, async () => {
    const { stdout, stderr, result } = await run(
      "bubblewrap",
      "head -c 16000000 /dev/zero > /dev/shm/fill 2>/dev/null || echo full; echo \"SIZE: $(wc -c < /dev/shm/fill)\"; df -k /dev/shm | awk 'NR == 2 { print \"KB: \" $2 }'",
      { shmBytes: 8 * 1024 * 1024 },
    );
    assert.equal(result.exitCode, 0, stderr);
    assert.deepEqual(stdout.trim().split("\n"), ["full", `SIZE: ${8 * 1024 * 1024}`, `KB: ${8 * 1024}`]);
  });

  it("seccomp: keyctl, add_key, bpf and io_uring_setup answer EPERM inside; ordinary calls work", { skip: os.machine() !== "x86_64" && "syscall numbers of the test are x86_64's" }, async () => {
    // x86_64 numbers: keyctl 250, add_key 248, bpf 321, io_uring_setup 425; getpid 39. Outside the
    // sandbox keyctl(0, 0) answers EINVAL (22), so EPERM (1) is the filter's.
    const script = "import ctypes; l = ctypes.CDLL(None, use_errno=True)\nfor n in (250, 248, 321, 425):\n    r = l.syscall(n, 0, 0, 0, 0, 0); print(n, r, ctypes.get_errno())\nprint('getpid', l.syscall(39) > 0)";
    const { stdout, stderr, result } = await run("bubblewrap", `python3 -c "$PY"`, { env: { PATH: "/usr/bin:/bin", PY: script } });
    assert.equal(result.exitCode, 0, stderr);
    assert.deepEqual(stdout.trim().split("\n"), ["250 -1 1", "248 -1 1", "321 -1 1", "425 -1 1", "getpid True"]);
  });

  it("gives the workspace to the build user without following links out of it", { skip: !isRoot && "needs root" }, async () => {
    const { opts, l } = await options("bubblewrap");
    const outside = path.join(l.root, "outside.txt");
    fs.writeFileSync(outside, "host file");
    fs.linkSync(outside, path.join(l.repo, "hardlink"));
    fs.symlinkSync(outside, path.join(l.repo, "symlink"));
    const result = await runStep("id -u", opts);
    assert.equal(result.exitCode, 0);
    assert.equal(fs.statSync(outside).uid, 0, "a hard-linked or symlinked host file stays root's");
    assert.notEqual(fs.statSync(path.join(l.repo, "package.json")).uid, 0);
  });

  it("cancel catches a setsid() daemon, which a process group cannot", async () => {
    const ns = await cancelAfter("bubblewrap", `${SETSID_DAEMON} echo main-ready; wait`, ["daemon-ready", "main-ready"], 300);
    assert.deepEqual(ns.left, []);

    const group = await cancelAfter("process-group", `${SETSID_DAEMON} echo main-ready; wait`, ["daemon-ready", "main-ready"], 300);
    try {
      assert.equal(group.result.reason, "cancelled");
      // Documented limitation of the fallback: the daemon left the process group with setsid()
      // and survives the cancel (it still carries the marker, so it can be found and killed).
      assert.ok(group.left.length > 0, "the setsid daemon escaped the process group");
    } finally {
      killAll(group.left);
    }
  });

  it("a SIGKILLed runner takes its step's whole tree with it", async () => {
    const l = layout();
    fs.mkdirSync(path.join(l.root, "work", "home"), { recursive: true });
    const id = `t${process.pid}kill9`;
    const fixture = fileURLToPath(new URL("fixtures/sandbox-runner.ts", import.meta.url));
    const runner = spawn(process.execPath, ["--import", "tsx", fixture, id, l.root], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve, reject) => {
      runner.stdout.on("data", (c: Buffer) => c.toString().includes("ready") && resolve());
      runner.once("exit", (code) => reject(new Error(`fixture exited early (${code})`)));
    });
    assert.ok(listSandboxProcesses(id).length >= 3, "tree running");
    runner.kill("SIGKILL");
    const gone = await until(() => listSandboxProcesses(id).length === 0, 5000);
    const left = listSandboxProcesses(id);
    killAll(left);
    assert.ok(gone, `survivors: ${left.join(",")}`);
  });
});

describe("runStep: cgroup limits", { skip: noCgroups }, () => {
  let dirsBefore: string[] = [];
  const kilnDirs = () => {
    const c = support.cgroups;
    const parents = c.version === 2 ? [c.parent] : c.version === 1 ? Object.values(c.parents) : [];
    return parents.flatMap((p) => fs.readdirSync(p, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => path.join(p, e.name)));
  };
  before(() => (dirsBefore = kilnDirs()));
  // A step's cgroup is removed when it ends, or (zombies of a process group still count in it
  // until the host's init reaps them) a little later in the background.
  const removed = () => until(() => kilnDirs().length <= dirsBefore.length, 10_000);

  for (const mode of ["bubblewrap", "process-group"] as const) {
    it(`pids limit (${mode}): forks beyond it fail, the step says so, the cgroup is removed`, async () => {
      const { result, stderr } = await run(mode, "i=0; while [ $i -lt 40 ]; do i=$((i+1)); sleep 2 & done; wait", { limits: { pids: 10 } });
      assert.notEqual(result.exitCode, 0, stderr);
      assert.equal(result.limitHit, "pids", stderr);
      assert.ok(await removed(), `left: ${kilnDirs().join(", ")}`);
    });
  }

  it("memory limit counts /dev/shm: filling it past the limit is stopped, and the file is gone with the step", async () => {
    const { result, stderr, stdout } = await run("bubblewrap", "head -c 200000000 /dev/zero > /dev/shm/fill; ls -l /dev/shm/fill", { limits: { memoryBytes: 64 * 1024 * 1024 } });
    assert.notEqual(result.exitCode, 0, `${stdout}${stderr}`);
    assert.equal(result.limitHit, "memory", stderr);
    assert.ok(await removed(), `left: ${kilnDirs().join(", ")}`);
  });

  it("memory limit: the step is OOM-killed and the result says so", async () => {
    const { result, stderr } = await run("bubblewrap", `perl -e '$x = "x" x 400_000_000; print length $x'`, { limits: { memoryBytes: 64 * 1024 * 1024 } });
    assert.notEqual(result.exitCode, 0, stderr);
    assert.equal(result.limitHit, "memory", stderr);
    assert.ok(await removed(), `left: ${kilnDirs().join(", ")}`);
  });
});

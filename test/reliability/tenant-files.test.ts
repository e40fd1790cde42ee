/**
 * Hostile builds against what the server reads and waits for, through the real
 * API, runner and sandbox, with real FIFOs, symlinks, sparse files, git and TCP sockets:
 * - the deploy step makes WRANGLER_OUTPUT_FILE_PATH a FIFO, a symlink to /dev/zero, a symlink
 *   to a root-only file holding a deploy entry, or a 10 GiB sparse file: each build ends at
 *   once, with a warning line, no version taken from the file, and the server's memory flat;
 * - four such builds at once leave libuv's thread pool (4 threads) free: another tenant's
 *   `POST …/builds` is answered and its build runs;
 * - the build's cache dir holds a FIFO, a /dev/zero link, a link to a root-only file and an
 *   11 GiB sparse file: the save ends at once and copies none of it, the next build restores;
 * - a cache restore that outlasts --build-timeout: the build is terminated at the timeout plus
 *   the grace;
 * - a git server that accepts and never answers: a cancel answers within the grace plus a margin
 *   (outcome cancelled), an uncancelled build is terminated at --build-timeout plus the grace,
 *   and no git process is left.
 * Each case prints what it measured ("# …" lines).
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { allLogs, setupTrigger, startBuild, waitFor, waitForStatus, type BuildSetup } from "../helpers/builds.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";
import { startHarness, type Harness } from "../helpers/harness.ts";
import { cacheRoot, save } from "../../src/runner/build-cache.ts";

const MB = 1024 * 1024;
const GRACE_S = 0.2;
/** What a stop may take beyond the grace on a loaded CI machine (the failures this guards against took 8 s, or forever). */
const MARGIN_MS = 3000;
const texts = (lines: [number, string][]) => lines.map(([, t]) => t);
const ms = (from: number) => Date.now() - from;

/** created_on → stopped_on of a stopped build, in ms. */
async function buildSpan(h: Harness, uuid: string): Promise<number> {
  const b = await h.store.builds.getByUuid(uuid);
  assert.ok(b?.stopped_on, "stopped");
  return Date.parse(b.stopped_on) - Date.parse(b.created_on);
}

/** Pids of git processes whose command line names `needle`. */
function gitProcesses(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      if (cmd[0]?.endsWith("git") && cmd.some((a) => a.includes(needle))) pids.push(Number(entry));
    } catch {
      /* gone */
    }
  }
  return pids;
}

describe("hostile files of a build, read by the server", () => {
  let h: Harness;
  let repo: TestRepo;
  let secretDir: string;
  const W = '"$WRANGLER_OUTPUT_FILE_PATH"';
  before(async () => {
    repo = makeRepo({ name: "tenant-files", files: { "package.json": JSON.stringify({ name: "app", version: "1.0.0" }) } });
    h = await startHarness("sqlite", {}, { runner: true, gitUrlTemplate: repo.template, cancelGrace: GRACE_S, slots: 6, buildTimeout: 60 });
    secretDir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-tenant-secret-"));
    fs.chmodSync(secretDir, 0o700);
  });
  after(async () => {
    await h.close();
    repo.cleanup();
    fs.rmSync(secretDir, { recursive: true, force: true });
  });

  /** One build of its own trigger; its outcome, log, stored record and span. */
  async function run(name: string, deploy: string, extra: { build?: string; env?: Record<string, { is_secret: boolean; value: string }> } = {}) {
    const s = await setupTrigger(h, repo, { deploy, ...extra }, name);
    const uuid = await startBuild(h, s);
    const b = await waitForStatus(h, s, uuid, "stopped", 60_000);
    return { s, uuid, b, log: texts((await allLogs(h, s, uuid)).lines), record: await h.store.builds.getByUuid(uuid), spanMs: await buildSpan(h, uuid) };
  }

  it("WRANGLER_OUTPUT_FILE_PATH a FIFO with no writer: the build ends (success, version from the output lines)", async () => {
    const r = await run("fifo", `rm -f ${W}; mkfifo ${W}; echo "Version ID: 44444444-4444-4444-8444-444444444444"`);
    assert.equal(r.b.build_outcome, "success", r.log.join("\n"));
    assert.ok(r.log.includes("Warning: the deploy's WRANGLER_OUTPUT_FILE_PATH was not read: it is not a regular file"), r.log.join("\n"));
    assert.equal(r.record?.version_id, "44444444-4444-4444-8444-444444444444");
    assert.ok(r.spanMs < 20_000, `${r.spanMs} ms`);
    console.log(`# wrangler output a FIFO: build success in ${r.spanMs} ms (before: never ended)`);
  });

  it("WRANGLER_OUTPUT_FILE_PATH a symlink to /dev/zero: the build ends, the server's memory stays flat", async () => {
    const rss = process.memoryUsage().rss;
    const r = await run("devzero", `ln -sf /dev/zero ${W}`);
    const grew = (process.memoryUsage().rss - rss) / MB;
    assert.equal(r.b.build_outcome, "success", r.log.join("\n"));
    assert.ok(r.log.includes("Warning: the deploy's WRANGLER_OUTPUT_FILE_PATH was not read: it is a symbolic link (only a regular file is read)"), r.log.join("\n"));
    assert.ok(grew < 64, `RSS grew by ${grew.toFixed(0)} MB`);
    console.log(`# wrangler output → /dev/zero: build success in ${r.spanMs} ms, server RSS ${grew >= 0 ? "+" : ""}${grew.toFixed(1)} MB (before the fix: +530 MB)`);
  });

  it("WRANGLER_OUTPUT_FILE_PATH a symlink to a root-only file of the host: not read, its version not taken", async () => {
    const secret = path.join(secretDir, "other-build-output.ndjson");
    fs.writeFileSync(secret, '{"version":1,"type":"deploy","version_id":"55555555-5555-4555-8555-555555555555"}\n', { mode: 0o600 });
    const r = await run("rootonly", `ln -sf ${secret} ${W}`);
    assert.equal(r.b.build_outcome, "success", r.log.join("\n"));
    assert.equal(r.record?.version_id ?? null, null);
    assert.ok(r.log.some((l) => l.startsWith("Warning: the deploy's WRANGLER_OUTPUT_FILE_PATH was not read: it is a symbolic link")));
    // The warning names no host path (the command line itself is the build's own).
    assert.ok(!r.log.filter((l) => l.startsWith("Warning")).join("\n").includes(secretDir), "the host path is not in the warning");
  });

  it("WRANGLER_OUTPUT_FILE_PATH a 10 GiB sparse file: refused by its size at once", async () => {
    const rss = process.memoryUsage().rss;
    const r = await run("sparse", `truncate -s 10G ${W}`);
    const grew = (process.memoryUsage().rss - rss) / MB;
    assert.equal(r.b.build_outcome, "success", r.log.join("\n"));
    assert.ok(r.log.includes("Warning: the deploy's WRANGLER_OUTPUT_FILE_PATH was not read: it is larger than 4194304 bytes"), r.log.join("\n"));
    assert.ok(grew < 64, `RSS grew by ${grew.toFixed(0)} MB`);
    console.log(`# wrangler output a 10 GiB sparse file: build success in ${r.spanMs} ms, server RSS ${grew >= 0 ? "+" : ""}${grew.toFixed(1)} MB`);
  });

  it("four FIFO builds at once: another tenant's POST …/builds is answered and its build runs", async () => {
    const hostile = await Promise.all([0, 1, 2, 3].map((i) => setupTrigger(h, repo, { deploy: `rm -f ${W}; mkfifo ${W}` }, `hostile${i}`)));
    const other = await setupTrigger(h, repo, { build: "echo other tenant" }, "bystander");
    const uuids = await Promise.all(hostile.map((s) => startBuild(h, s)));
    // Every hostile build has reached (or passed) the read of its FIFO before the other tenant asks.
    await waitFor("the hostile deploys", async () => {
      for (const [i, uuid] of uuids.entries()) {
        const log = texts((await allLogs(h, hostile[i] as BuildSetup, uuid)).lines);
        if (!log.some((l) => l.startsWith("Success: Deploy command completed"))) return false;
      }
      return true;
    }, 60_000);
    const asked = Date.now();
    const created = await startBuild(h, other);
    const answeredMs = ms(asked);
    const b = await waitForStatus(h, other, created, "stopped", 30_000);
    assert.equal(b.build_outcome, "success");
    assert.ok(answeredMs < 5000, `POST answered in ${answeredMs} ms`);
    const spans: number[] = [];
    for (const [i, uuid] of uuids.entries()) {
      const hb = await waitForStatus(h, hostile[i] as BuildSetup, uuid, "stopped", 30_000);
      assert.equal(hb.build_outcome, "success");
      spans.push(await buildSpan(h, uuid));
    }
    console.log(`# 4 FIFO builds at once: the other tenant's POST answered in ${answeredMs} ms, its build ${await buildSpan(h, created)} ms; hostile builds ${spans.join(", ")} ms`);
  });

  it("a PATH variable naming a host path the tenant wrote never makes the server run the tenant's `node` (the tool probe)", async () => {
    // Build A puts an executable `node` in its workspace and keeps running; build B's trigger sets
    // PATH to where that file is on the host. The server probes `node --version` (as root) before
    // B's install step: it must not be A's file.
    const marker = path.join(secretDir, "ran-as");
    const fake = `#!/bin/sh\nid -u > ${marker}\necho v99.0.0\n`;
    const a = await setupTrigger(h, repo, { build: `mkdir -p bin && printf '${fake.replace(/\n/g, "\\n")}' > bin/node && chmod 755 bin/node && sleep 8` }, "pathplanter");
    const planted = await startBuild(h, a);
    await waitFor("the planted node", async () => fs.existsSync(path.join(h.config.dataDir, "work", planted, "repo", "bin", "node")), 30_000);
    const hostBin = path.join(h.config.dataDir, "work", planted, "repo", "bin");
    const b = await setupTrigger(h, repo, { build: "node --version", env: { PATH: { is_secret: false, value: `${hostBin}:/usr/local/bin:/usr/bin:/bin` }, SKIP_DEPENDENCY_INSTALL: { is_secret: false, value: "1" } } }, "pathuser");
    const uuid = await startBuild(h, b);
    const done = await waitForStatus(h, b, uuid, "stopped", 60_000);
    const log = texts((await allLogs(h, b, uuid)).lines);
    assert.equal(fs.existsSync(marker), false, `the server ran the tenant's file: ${fs.existsSync(marker) ? fs.readFileSync(marker, "utf8") : ""}`);
    assert.ok(!log.some((l) => l.includes("nodejs@99.0.0")), log.join("\n"));
    assert.equal(done.build_outcome, "success", log.join("\n"));
    await h.call("PUT", `/client/v4/accounts/${a.accountId}/builds/builds/${planted}/cancel`, { token: a.write });
    await waitForStatus(h, a, planted, "stopped", 30_000);
  });

  it("a cancel during a slow cache restore (20 000 files): the build stops within the grace, the restore stops at its next file", async () => {
    const env = { SKIP_DEPENDENCY_INSTALL: { is_secret: false, value: "1" } };
    const s = await setupTrigger(h, repo, { build: 'if [ ! -d ~/.npm/d0 ]; then mkdir -p ~/.npm && cd ~/.npm && for i in $(seq 0 19); do mkdir d$i && (cd d$i && seq 1 1000 | xargs touch); done; else sleep 30; fi', env }, "slowrestore");
    const patched = await h.call("PATCH", `/client/v4/accounts/${s.accountId}/builds/triggers/${s.triggerUuid}`, { token: s.write, body: { build_caching_enabled: true } });
    assert.equal(patched.status, 200);
    const first = await startBuild(h, s);
    const b1 = await waitForStatus(h, s, first, "stopped", 120_000);
    assert.equal(b1.build_outcome, "success");
    assert.ok(texts((await allLogs(h, s, first)).lines).includes("Success: Dependencies cache saved."));
    const second = await startBuild(h, s);
    await waitFor("the restore to start", async () => texts((await allLogs(h, s, second)).lines).includes("Restoring from dependencies cache"), 60_000);
    await new Promise((r) => setTimeout(r, 200));
    const asked = Date.now();
    const answer = await h.call("PUT", `/client/v4/accounts/${s.accountId}/builds/builds/${second}/cancel`, { token: s.write });
    assert.equal(answer.status, 200);
    const b2 = await waitForStatus(h, s, second, "stopped", 30_000);
    const stoppedMs = ms(asked);
    assert.equal(b2.build_outcome, "cancelled");
    const log = texts((await allLogs(h, s, second)).lines);
    assert.ok(!log.includes("Success: Dependencies restored from build cache."), "the restore had not finished when the cancel came");
    assert.ok(stoppedMs < GRACE_S * 1000 + MARGIN_MS, `stopped ${stoppedMs} ms after the cancel`);
    // The work dir goes once the copy has stopped; the entry is still there for the next build.
    await waitFor("the workspace removed", async () => !fs.existsSync(path.join(h.config.dataDir, "work", second)) && !fs.existsSync(path.join(h.config.dataDir, "work", `${second}.removing`)), 30_000);
    assert.ok(fs.existsSync(path.join(h.config.dataDir, "cache", s.triggerUuid, "g0-deps", "manifest.json")));
    console.log(`# cancel during the restore of a 20 000-file cache: stopped ${stoppedMs} ms after the cancel (first build, with the save: ${await buildSpan(h, first)} ms)`);
  });

  it("a cancel while the server walks 300 000 files of the build (giving them to its uid before the next step): the build stops within the grace", async () => {
    const s = await setupTrigger(h, repo, { build: "mkdir many && cd many && seq 1 300000 | xargs touch", deploy: "sleep 30" }, "manyfiles");
    const uuid = await startBuild(h, s);
    await waitFor("the deploy step to be next", async () => texts((await allLogs(h, s, uuid)).lines).some((l) => l.startsWith("Executing user deploy command")), 60_000);
    await new Promise((r) => setTimeout(r, 300));
    const asked = Date.now();
    const answer = await h.call("PUT", `/client/v4/accounts/${s.accountId}/builds/builds/${uuid}/cancel`, { token: s.write });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const b = await waitForStatus(h, s, uuid, "stopped", 30_000);
    const stoppedMs = ms(asked);
    assert.equal(b.build_outcome, "cancelled");
    assert.ok(stoppedMs < GRACE_S * 1000 + MARGIN_MS, `stopped ${stoppedMs} ms after the cancel`);
    console.log(`# cancel during the walk of 300 000 files between steps: stopped ${stoppedMs} ms after the cancel (the walk alone takes ~6.7 s here)`);
  });

  it("the cache dir holds a FIFO, a /dev/zero link, a link to a root-only file, an 11 GiB sparse file: save ends at once, copies none of it", async () => {
    fs.writeFileSync(path.join(secretDir, "shadow"), "root:$6$kiln-test-secret-hash:20000::::::\n", { mode: 0o600 });
    const hostile = [
      "mkdir -p ~/.npm/_cacache",
      "echo cached > ~/.npm/_cacache/entry",
      "rm -f ~/.npm/fifo && mkfifo ~/.npm/fifo",
      "ln -sf /dev/zero ~/.npm/zero",
      `ln -sf ${path.join(secretDir, "shadow")} ~/.npm/shadow`,
    ].join(" && ");
    const env = { SKIP_DEPENDENCY_INSTALL: { is_secret: false, value: "1" } };
    const cached = async (name: string, build: string) => {
      const s = await setupTrigger(h, repo, { build, env }, name);
      const patched = await h.call("PATCH", `/client/v4/accounts/${s.accountId}/builds/triggers/${s.triggerUuid}`, { token: s.write, body: { build_caching_enabled: true } });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      return s;
    };
    const cacheOf = (s: BuildSetup) => path.join(h.config.dataDir, "cache", s.triggerUuid);

    const s = await cached("cachehostile", hostile);
    const first = await startBuild(h, s);
    const b1 = await waitForStatus(h, s, first, "stopped", 60_000);
    const log1 = texts((await allLogs(h, s, first)).lines);
    assert.equal(b1.build_outcome, "success", log1.join("\n"));
    assert.ok(log1.includes("Success: Dependencies cache saved."), log1.join("\n"));
    const data = path.join(cacheOf(s), "g0-deps", "data");
    assert.deepEqual(fs.readdirSync(data).sort(), ["_cacache", "shadow", "zero"]);
    assert.equal(fs.lstatSync(path.join(data, "shadow")).isSymbolicLink(), true);
    assert.equal(fs.lstatSync(path.join(data, "zero")).isSymbolicLink(), true);
    // The next build gets its own files back, and the links as links.
    const second = await startBuild(h, s);
    assert.equal((await waitForStatus(h, s, second, "stopped", 60_000)).build_outcome, "success");
    assert.ok(texts((await allLogs(h, s, second)).lines).includes("Success: Dependencies restored from build cache."));

    const sparse = await cached("cachesparse", "mkdir -p ~/.npm && echo x > ~/.npm/small && truncate -s 11G ~/.npm/huge");
    const third = await startBuild(h, sparse);
    assert.equal((await waitForStatus(h, sparse, third, "stopped", 60_000)).build_outcome, "success");
    const span = await buildSpan(h, third);
    const log3 = texts((await allLogs(h, sparse, third)).lines);
    assert.ok(!log3.includes("Success: Dependencies cache saved."), log3.join("\n"));
    assert.equal(fs.existsSync(path.join(cacheOf(sparse), "g0-deps")), false);
    assert.ok(span < 20_000, `${span} ms`);
    console.log(`# cache dir with an 11 GiB sparse file: save skipped, build ${span} ms, nothing written to the cache`);
  });
});

/**
 * A TCP proxy on loopback in front of a real `git daemon`: "forward" passes connections through,
 * "blackhole" accepts them and never answers (nor closes them).
 */
async function startGitServers(baseDir: string): Promise<{ url: string; mode: "forward" | "blackhole"; held: () => number; close(): Promise<void> }> {
  const free = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
  const daemon: ChildProcess = spawn("git", ["daemon", "--reuseaddr", "--listen=127.0.0.1", `--port=${free}`, "--export-all", `--base-path=${baseDir}`, baseDir], {
    stdio: ["ignore", "ignore", "ignore"],
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: os.tmpdir(), GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1" },
  });
  await waitFor("git daemon", () => new Promise<boolean>((resolve) => {
    const c = net.connect(free, "127.0.0.1", () => {
      c.destroy();
      resolve(true);
    });
    c.on("error", () => resolve(false));
  }), 10_000);
  const sockets = new Set<net.Socket>();
  const state = { mode: "forward" as "forward" | "blackhole" };
  let heldCount = 0;
  const proxy = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    if (state.mode === "blackhole") {
      heldCount++;
      return; // accepted; never a byte back
    }
    const upstream = net.connect(free, "127.0.0.1");
    sockets.add(upstream);
    upstream.on("close", () => sockets.delete(upstream));
    upstream.on("error", () => socket.destroy());
    socket.pipe(upstream).pipe(socket);
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const port = (proxy.address() as net.AddressInfo).port;
  return {
    url: `git://127.0.0.1:${port}`,
    get mode() {
      return state.mode;
    },
    set mode(m) {
      state.mode = m;
    },
    held: () => heldCount,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      if (daemon.exitCode === null && daemon.pid !== undefined) {
        const exited = new Promise((resolve) => daemon.once("exit", resolve));
        daemon.kill("SIGTERM");
        await exited;
      }
    },
  };
}

describe("a git server that accepts and never answers", () => {
  let h: Harness;
  let repo: TestRepo;
  let git: Awaited<ReturnType<typeof startGitServers>>;
  const TIMEOUT_S = 2;
  before(async () => {
    repo = makeRepo({ name: "silent", files: { "a.txt": "a" } });
    git = await startGitServers(repo.dir);
    // The runner starts after each build is created (the API resolves the branch through the
    // proxy while it still forwards); then the mirror is removed, so the runner must fetch again.
    h = await startHarness("sqlite", {}, { gitUrlTemplate: `${git.url}/{repo_name}.git`, cancelGrace: GRACE_S, slots: 2, buildTimeout: TIMEOUT_S });
  });
  after(async () => {
    await h.close();
    await git.close();
    repo.cleanup();
    assert.deepEqual(gitProcesses(git.url), [], "git processes left");
  });

  let cancelled: { s: BuildSetup; uuid: string };
  let timedOut: { s: BuildSetup; uuid: string };
  /** Both builds are queued before the runner starts (a Runner is started once). */
  async function queue(name: string): Promise<{ s: BuildSetup; uuid: string }> {
    const s = await setupTrigger(h, repo, { build: "echo never runs" }, name);
    return { s, uuid: await startBuild(h, s) };
  }

  it("cancel during the fetch: answered within the grace plus a margin, outcome cancelled, git killed", async () => {
    git.mode = "forward";
    cancelled = await queue("cancelfetch");
    timedOut = await queue("timeoutfetch");
    git.mode = "blackhole";
    fs.rmSync(path.join(h.config.dataDir, "git"), { recursive: true, force: true });
    const { s, uuid } = cancelled;
    await h.kiln.runner?.start();
    await waitFor("the runner's fetches to hang", async () => git.held() >= 1 && gitProcesses(git.url).length > 0, 20_000);
    await new Promise((r) => setTimeout(r, 300));
    const asked = Date.now();
    const answer = await h.call("PUT", `/client/v4/accounts/${s.accountId}/builds/builds/${uuid}/cancel`, { token: s.write });
    const answeredMs = ms(asked);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const b = await waitForStatus(h, s, uuid, "stopped", 10_000);
    const stoppedMs = ms(asked);
    assert.equal(b.build_outcome, "cancelled");
    assert.ok(answeredMs < GRACE_S * 1000 + MARGIN_MS, `cancel answered in ${answeredMs} ms`);
    assert.ok(stoppedMs < GRACE_S * 1000 + MARGIN_MS, `stopped ${stoppedMs} ms after the cancel`);
    console.log(`# git server never answers: cancel answered in ${answeredMs} ms, build stopped ${stoppedMs} ms after the cancel (grace ${GRACE_S * 1000} ms)`);
  });

  it("no cancel: terminated at --build-timeout plus the grace; no git process left", async () => {
    const { s, uuid } = timedOut;
    const b = await waitForStatus(h, s, uuid, "stopped", 20_000);
    assert.equal(b.build_outcome, "terminated");
    const log = texts((await allLogs(h, s, uuid)).lines);
    assert.ok(log.includes("Build was timed out"), log.join("\n"));
    const record = await h.store.builds.getByUuid(uuid);
    const ran = Date.parse(record?.stopped_on ?? "") - Date.parse(record?.initializing_on ?? "");
    assert.ok(ran < (TIMEOUT_S + GRACE_S) * 1000 + MARGIN_MS, `ran ${ran} ms`);
    await waitFor("git killed", async () => gitProcesses(git.url).length === 0, 5000);
    console.log(`# git server never answers: terminated ${ran} ms after it started (--build-timeout ${TIMEOUT_S} s, grace ${GRACE_S} s); ${git.held()} connections held open by the server, no git left`);
  });
});

describe("the build timeout during a slow cache restore", () => {
  let h: Harness;
  let repo: TestRepo;
  let src: string;
  const TIMEOUT_S = 2;
  before(async () => {
    repo = makeRepo({ name: "slow-restore", files: { "package.json": JSON.stringify({ name: "app", version: "1.0.0" }) } });
    h = await startHarness("sqlite", {}, { runner: true, gitUrlTemplate: repo.template, cancelGrace: GRACE_S, slots: 1, buildTimeout: TIMEOUT_S });
    src = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-slow-restore-"));
  });
  after(async () => {
    await h.close();
    repo.cleanup();
    fs.rmSync(src, { recursive: true, force: true });
  });

  it("50 000 cached files take longer to restore than --build-timeout: terminated at the timeout plus the grace, the restore abandoned", async () => {
    const s = await setupTrigger(h, repo, { build: "echo never runs", env: { SKIP_DEPENDENCY_INSTALL: { is_secret: false, value: "1" } } }, "timedrestore");
    const patched = await h.call("PATCH", `/client/v4/accounts/${s.accountId}/builds/triggers/${s.triggerUuid}`, { token: s.write, body: { build_caching_enabled: true } });
    assert.equal(patched.status, 200);
    // The trigger's cache as a save of an earlier build leaves it (the same save, run here: a
    // build saving 50 000 files would itself outlast a 2 s timeout).
    for (let d = 0; d < 50; d++) {
      const dir = path.join(src, `d${d}`);
      fs.mkdirSync(dir);
      for (let i = 0; i < 1000; i++) fs.writeFileSync(path.join(dir, `f${i}`), "");
    }
    const saved = await save({ root: cacheRoot(h.config.dataDir), triggerUuid: s.triggerUuid, generation: 0, source: src });
    assert.equal(saved.status, "saved");

    const uuid = await startBuild(h, s);
    const b = await waitForStatus(h, s, uuid, "stopped", 30_000);
    const log = texts((await allLogs(h, s, uuid)).lines);
    assert.equal(b.build_outcome, "terminated", log.join("\n"));
    assert.ok(log.includes("Restoring from dependencies cache"), log.join("\n"));
    assert.ok(!log.includes("Success: Dependencies restored from build cache.") && !log.includes("never runs"), "the restore had not finished at the timeout");
    assert.equal(log.at(-1), "Build was timed out");
    const record = await h.store.builds.getByUuid(uuid);
    const ran = Date.parse(record?.stopped_on ?? "") - Date.parse(record?.initializing_on ?? "");
    assert.ok(ran < (TIMEOUT_S + GRACE_S) * 1000 + MARGIN_MS, `ran ${ran} ms`);
    // The entry is kept for the next build; the workspace goes once the copy has stopped.
    await waitFor("the workspace removed", async () => !fs.existsSync(path.join(h.config.dataDir, "work", uuid)) && !fs.existsSync(path.join(h.config.dataDir, "work", `${uuid}.removing`)), 60_000);
    assert.ok(fs.existsSync(path.join(cacheRoot(h.config.dataDir), s.triggerUuid, "g0-deps", "manifest.json")));
    console.log(`# build timeout during the restore of 50 000 cached files: terminated ${ran} ms after it started (--build-timeout ${TIMEOUT_S} s, grace ${GRACE_S} s)`);
  });
});

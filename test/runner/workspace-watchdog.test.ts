/**
 * The workspace-size watchdog on real directories: `du` measures what is allocated (workspace
 * and HOME together, sparse files not counted), the watchdog fires once past the limit and never
 * below it, stops cleanly, and reports a failing measurement once.
 */
import assert from "node:assert/strict";
import { execFile, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { measureDiskUsage, watchWorkspace, workspaceLimitLine } from "../../src/runner/workspace-watchdog.ts";

const MiB = 1024 * 1024;
const roots: string[] = [];

function workDir(): { work: string; repo: string; home: string } {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-watchdog-"));
  roots.push(work);
  const repo = path.join(work, "repo");
  const home = path.join(work, "home");
  fs.mkdirSync(repo);
  fs.mkdirSync(home);
  return { work, repo, home };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

after(() => {
  for (const root of roots) fs.rmSync(root, { recursive: true, force: true });
});

describe("workspace watchdog", () => {
  it("measures allocated bytes of workspace and HOME together; a sparse file costs nothing", async () => {
    const { work, repo, home } = workDir();
    const empty = await measureDiskUsage(work);
    fs.writeFileSync(path.join(repo, "a.bin"), Buffer.alloc(3 * MiB, 1));
    fs.writeFileSync(path.join(home, "b.bin"), Buffer.alloc(2 * MiB, 1));
    const fd = fs.openSync(path.join(repo, "sparse"), "w");
    fs.ftruncateSync(fd, 1024 * MiB); // 1 GiB apparent, nothing allocated
    fs.closeSync(fd);
    fs.symlinkSync("/usr", path.join(repo, "link")); // not followed
    const used = (await measureDiskUsage(work)) - empty;
    assert.ok(used >= 5 * MiB && used < 6 * MiB, `${used} bytes`);
  });

  it("fires once, past the limit, with the size measured; never below it", async () => {
    const { work, repo } = workDir();
    const fired: number[] = [];
    const dog = watchWorkspace({ dir: work, limitBytes: 4 * MiB, intervalMs: 30, onExceeded: (b) => fired.push(b) });
    await sleep(150);
    assert.deepEqual(fired, [], "under the limit: nothing");
    assert.ok(dog.lastBytes !== undefined && dog.lastBytes < 4 * MiB);
    fs.writeFileSync(path.join(repo, "big.bin"), Buffer.alloc(5 * MiB, 1));
    for (let i = 0; i < 100 && fired.length === 0; i++) await sleep(20);
    assert.equal(fired.length, 1);
    assert.ok((fired[0] ?? 0) > 4 * MiB);
    assert.equal(dog.exceeded, true);
    await sleep(150);
    assert.equal(fired.length, 1, "once only");
    await dog.stop();
  });

  it("stop(): no measurement after it, and it waits for the one in flight", async () => {
    let calls = 0;
    let inFlight = 0;
    const dog = watchWorkspace({
      dir: "/nowhere",
      limitBytes: 10,
      intervalMs: 10,
      onExceeded: () => assert.fail("stopped before any measurement ended"),
      measure: async () => {
        calls++;
        inFlight++;
        await sleep(100);
        inFlight--;
        return 1000;
      },
    });
    await sleep(30);
    assert.equal(inFlight, 1);
    await dog.stop();
    assert.equal(inFlight, 0, "stop waited for du");
    const seen = calls;
    await sleep(100);
    assert.equal(calls, seen, "no tick after stop");
    assert.equal(dog.exceeded, false, "a result arriving after stop is ignored");
  });

  it("measurements never overlap", async () => {
    let inFlight = 0;
    let most = 0;
    const dog = watchWorkspace({
      dir: "/nowhere",
      limitBytes: 10 ** 12,
      intervalMs: 1,
      onExceeded: () => undefined,
      measure: async () => {
        most = Math.max(most, ++inFlight);
        await sleep(15);
        inFlight--;
        return 0;
      },
    });
    await sleep(150);
    await dog.stop();
    assert.equal(most, 1);
  });

  it("a failing measurement is reported once and the watchdog keeps trying", async () => {
    const errors: Error[] = [];
    let calls = 0;
    const dog = watchWorkspace({
      dir: path.join(os.tmpdir(), "kiln-watchdog-does-not-exist"),
      limitBytes: MiB,
      intervalMs: 10,
      onExceeded: () => assert.fail("nothing to measure"),
      onError: (e) => errors.push(e),
      measure: (dir, t) => {
        calls++;
        return measureDiskUsage(dir, t);
      },
    });
    await sleep(200);
    await dog.stop();
    assert.equal(errors.length, 1);
    assert.match(errors[0]?.message ?? "", /^du /);
    assert.ok(calls >= 3, `${calls} attempts`);
  });

  it("the build's last line names the limit", () => {
    assert.equal(workspaceLimitLine(52_428_800), "Build was terminated: it exceeded the workspace limit of 52428800 bytes");
  });

  it("--workspace-limit / KILN_WORKSPACE_LIMIT: default 20 GiB, at least 1 MiB, a flag beats the variable", () => {
    assert.equal(loadConfig({}, {}).workspaceLimit, 21_474_836_480);
    assert.equal(loadConfig({}, { KILN_WORKSPACE_LIMIT: "52428800" }).workspaceLimit, 52_428_800);
    assert.equal(loadConfig({ workspaceLimit: "2097152" }, { KILN_WORKSPACE_LIMIT: "52428800" }).workspaceLimit, 2_097_152);
    assert.throws(() => loadConfig({}, { KILN_WORKSPACE_LIMIT: "1000" }), (e: unknown) => e instanceof ConfigError && /--workspace-limit \(or KILN_WORKSPACE_LIMIT\): must be at least 1048576/.test(e.message));
    assert.throws(() => loadConfig({ workspaceLimit: "1048576.5" }, {}), /must be a whole number/);
  });
  it("stop() kills a measurement in flight: a build never waits for a walk of a huge tree", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-watch-stop-"));
    try {
      let child: ChildProcess | undefined;
      const watchdog = watchWorkspace({
        dir,
        limitBytes: 1024 ** 3,
        intervalMs: 10,
        // A real process that takes as long as du on millions of files would.
        measure: (_dir, timeoutMs, signal) =>
          new Promise((resolve, reject) => {
            child = execFile("sleep", ["30"], { timeout: timeoutMs, killSignal: "SIGKILL", signal }, (error) => (error ? reject(error) : resolve(0)));
          }),
        onExceeded: () => undefined,
      });
      await new Promise((r) => setTimeout(r, 100));
      assert.ok(child?.pid, "the measurement runs");
      const started = performance.now();
      await watchdog.stop();
      assert.ok(performance.now() - started < 1000);
      assert.ok(child?.killed || child?.exitCode !== null || child?.signalCode !== null);
      // A real du given an aborted signal ends at once too.
      const aborted = new AbortController();
      aborted.abort();
      await assert.rejects(measureDiskUsage(dir, 120_000, aborted.signal));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * Full disk (issue 14 §6): the data dir on a small tmpfs the test mounts. A build floods its log
 * until SQLite answers SQLITE_FULL; the build is stopped at once (not left running for the lease
 * reaper), /healthz answers 503 naming the error, API writes answer 503 10503 naming it (not 500
 * with a misleading rollback error), and once space is freed Kiln carries on: the build's outcome
 * and its last line are stored, /healthz is 200 again, a new build succeeds, the database passes
 * its integrity check.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import SQLite from "better-sqlite3";
import { buildProcesses, waitFor } from "../helpers/builds.ts";
import { startServer } from "../helpers/cli.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";
import { servedTrigger } from "../helpers/served-builds.ts";

const MiB = 1024 * 1024;

/** Whether this process may mount a tmpfs (root, or CAP_SYS_ADMIN). */
function canMount(): string | false {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-mount-probe-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir], { stdio: "ignore" });
    execFileSync("umount", [dir], { stdio: "ignore" });
    return false;
  } catch {
    return "skipped: this process cannot mount a tmpfs (needs root or CAP_SYS_ADMIN)";
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe("sqlite: the data dir's disk fills up", { skip: canMount() }, () => {
  let mountPoint: string;
  let dataDir: string;
  let repo: TestRepo;
  let server: Awaited<ReturnType<typeof startServer>> | undefined;

  before(() => {
    repo = makeRepo({ name: "full", files: { "a.txt": "a" } });
    mountPoint = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-full-disk-"));
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=48m,mode=0700", "tmpfs", mountPoint]);
    dataDir = path.join(mountPoint, "data");
  });
  after(async () => {
    server?.child.kill("SIGKILL");
    await server?.exited;
    execFileSync("umount", ["-l", mountPoint]);
    fs.rmSync(mountPoint, { recursive: true, force: true });
    repo.cleanup();
  });

  it("a flooding build is terminated at once, /healthz and writes answer 503 naming SQLITE_FULL, and after space frees Kiln carries on", async () => {
    const flags = ["--data-dir", dataDir];
    server = await startServer([...flags, "--log-cap", String(1024 * MiB), "--drain-timeout", "0"], { KILN_GIT_URL_TEMPLATE: repo.template });
    const s = server;
    // 100 MB of log, then a long sleep: a build that is not stopped would still be running.
    const t = await servedTrigger(s, flags, "full", "if [ -n \"$SMALL\" ]; then echo small; exit 0; fi; yes \"$(head -c 1000 /dev/zero | tr '\\0' x)\" | head -n 100000; sleep 60");
    // Ballast: all but 6 MiB of the tmpfs, so the log fills the rest.
    const ballast = path.join(mountPoint, "ballast");
    const stat = fs.statfsSync(mountPoint);
    const free = stat.bavail * stat.bsize;
    fs.writeFileSync(ballast, Buffer.alloc(Math.max(0, free - 6 * MiB)));

    const uuid = await t.start();
    const startedAt = Date.now();
    const health = await waitFor("/healthz to report the storage error", async () => {
      const r = await fetch(`${s.base}/healthz`);
      return r.status === 503 ? await r.json() : undefined;
    }, 60_000);
    assert.equal(health.success, false);
    assert.equal(health.errors[0].code, 10503);
    assert.match(health.errors[0].message, /^Service unavailable: the database cannot store data \(SQLITE_FULL: database or disk is full\)$/);
    assert.equal(health.result.status, "storage_error");
    assert.equal(health.result.storage.code, "SQLITE_FULL");

    // A write answers 503 naming the cause; the server log names it too, not a rollback error.
    const write = await t.api("PATCH", `/accounts/${t.account}/builds/triggers/${t.trigger}/environment_variables`, Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`BIG_${i}`, { value: "x".repeat(4900), is_secret: false }])));
    assert.equal(write.status, 503, JSON.stringify(write.body));
    assert.deepEqual(write.body.errors, [{ code: 10503, message: "Service unavailable: the database cannot store data (SQLITE_FULL: database or disk is full)" }]);
    assert.doesNotMatch(s.stderr(), /cannot rollback/);
    assert.match(s.stderr(), /"msg":"could not store the build's log: stopping the build"/);

    // The build's processes are stopped while the disk is still full (nothing runs on unrecorded).
    await waitFor("the flooding build's processes to be stopped", async () => buildProcesses(uuid).length === 0, 20_000);
    const stoppedAfter = Date.now() - startedAt;

    fs.rmSync(ballast);
    const freedAt = Date.now();
    const b = await waitFor("the build's outcome to be stored once space is back", async () => {
      const x = await t.build(uuid);
      return x.status === "stopped" ? x : undefined;
    }, 40_000);
    assert.equal(b.build_outcome, "terminated");
    const storedAfter = Date.now() - freedAt;
    const ok = await waitFor("/healthz to be ok again", async () => ((await fetch(`${s.base}/healthz`)).status === 200 ? true : undefined), 10_000);
    assert.ok(ok);

    // Kiln carries on: the next build runs (a short one this time).
    const vars = await t.api("PATCH", `/accounts/${t.account}/builds/triggers/${t.trigger}/environment_variables`, { SMALL: { value: "1", is_secret: false } });
    assert.equal(vars.status, 200, JSON.stringify(vars.body));
    const next = await t.start();
    const done = await waitFor("the next build", async () => {
      const x = await t.build(next);
      return x.status === "stopped" ? x : undefined;
    }, 30_000);
    assert.equal(done.build_outcome, "success");
    console.log(`full disk: build stopped ${stoppedAfter} ms after it started; outcome stored ${storedAfter} ms after space was freed`);
    s.child.kill("SIGTERM");
    assert.equal(await s.exited, 0);
    server = undefined;

    const db = new SQLite(path.join(dataDir, "kiln.db"), { readonly: true });
    try {
      assert.equal(db.pragma("integrity_check", { simple: true }), "ok");
      assert.equal(db.prepare("select build_outcome from builds where uuid = ?").pluck().get(uuid), "terminated");
      // The last line says why, numbered right after the last line stored; the count agrees.
      const last = db.prepare("select line, text from build_logs where build_uuid = ? order by line desc limit 1").get(uuid) as { line: number; text: string };
      assert.equal(last.text, "Build was terminated: its log could not be stored (ENOSPC: no space left on the disk of Kiln's database; SQLITE_FULL: database or disk is full)");
      assert.equal(db.prepare("select log_lines from builds where uuid = ?").pluck().get(uuid), last.line + 1);
      assert.equal(db.prepare("select count(*) from build_logs where build_uuid = ?").pluck().get(uuid), last.line + 1, "no gap in the numbering");
    } finally {
      db.close();
    }
  });
});

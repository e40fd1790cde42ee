/**
 * Full disk, on a small tmpfs the test mounts: SQLite with the data dir on it;
 * PostgreSQL with the test database's tablespace on it (the data dir and the cluster's WAL stay
 * where they are, as with a database volume of its own). A build floods its log until the
 * database answers SQLITE_FULL or 53100; the build is stopped at once (not left running for the lease
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
import pg from "pg";
import { buildProcesses, waitFor } from "../helpers/builds.ts";
import { startServer } from "../helpers/cli.ts";
import { dialects, makeDatabase, PG_URL, type TestDatabase } from "../helpers/databases.ts";
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

/** What the database says when it is full: its code, and its message as /healthz and the last line name it. */
const FULL = {
  sqlite: { code: "SQLITE_FULL", message: /^SQLITE_FULL: database or disk is full$/ },
  postgres: { code: "53100", message: /^53100: could not extend file "[^"]+": No space left on device$/ },
};

/** PostgreSQL: the tablespace's directory is made here, so the server must run on this machine as `postgres`. */
function localPostgres(): string | false {
  const host = new URL(PG_URL ?? "postgres://x").hostname;
  if (!["127.0.0.1", "localhost", "[::1]", ""].includes(host)) return `skipped: the PostgreSQL server (${host}) is not on this machine`;
  try {
    execFileSync("id", ["-u", "postgres"], { stdio: "ignore" });
    return false;
  } catch {
    return "skipped: no postgres user on this machine (the server's tablespace directory must be its)";
  }
}

for (const dialect of dialects()) {
  describe(`${dialect}: the database's disk fills up`, { skip: canMount() || (dialect === "postgres" && localPostgres()) }, () => {
    let mountPoint: string;
    let repo: TestRepo;
    let db: TestDatabase | undefined;
    let tablespace: string | undefined;
    /** --data-dir (and the database) of the server. */
    let flags: string[];
    let server: Awaited<ReturnType<typeof startServer>> | undefined;

    before(async () => {
      repo = makeRepo({ name: "full", files: { "a.txt": "a" } });
      mountPoint = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-full-disk-"));
      // PostgreSQL's own user must reach its tablespace directory: the tmpfs root is then searchable.
      execFileSync("mount", ["-t", "tmpfs", "-o", `size=48m,mode=${dialect === "sqlite" ? "0700" : "0755"}`, "tmpfs", mountPoint]);
      if (dialect === "sqlite") {
        const dataDir = path.join(mountPoint, "data");
        flags = ["--data-dir", dataDir];
        return;
      }
      // The PostgreSQL server runs on this machine (the tests' database is local): its own user
      // owns the tablespace directory on the tmpfs.
      const location = path.join(mountPoint, "tablespace");
      fs.mkdirSync(location, { mode: 0o700 });
      execFileSync("chown", ["postgres:postgres", location]);
      tablespace = `kiln_full_${process.pid}`;
      await adminQuery(`create tablespace ${tablespace} location '${location}'`);
      db = await makeDatabase("postgres", { tablespace });
      flags = db.flags;
    });
    after(async () => {
      server?.child.kill("SIGKILL");
      await server?.exited;
      await db?.cleanup();
      if (tablespace) await adminQuery(`drop tablespace if exists ${tablespace}`);
      execFileSync("umount", ["-l", mountPoint]);
      fs.rmSync(mountPoint, { recursive: true, force: true });
      repo.cleanup();
    });

    it("a flooding build is terminated at once, /healthz and writes answer 503 naming the database's error, and after space frees Kiln carries on", async () => {
      const full = FULL[dialect];
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
      const said = /^Service unavailable: the database cannot store data \((.*)\)$/.exec(health.errors[0].message)?.[1];
      assert.match(said ?? "", full.message, health.errors[0].message);
      assert.equal(health.result.status, "storage_error");
      assert.equal(health.result.storage.code, full.code);

      // A write answers 503 naming the cause; the server log names it too, not a rollback error.
      const write = await t.api("PATCH", `/accounts/${t.account}/builds/triggers/${t.trigger}/environment_variables`, Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`BIG_${i}`, { value: "x".repeat(4900), is_secret: false }])));
      assert.equal(write.status, 503, JSON.stringify(write.body));
      assert.equal(write.body.errors.length, 1);
      assert.equal(write.body.errors[0].code, 10503);
      assert.match(/^Service unavailable: the database cannot store data \((.*)\)$/.exec(write.body.errors[0].message)?.[1] ?? "", full.message, write.body.errors[0].message);
      assert.doesNotMatch(s.stderr(), /cannot rollback/);
      assert.match(s.stderr(), /"msg":"could not store the build's log: stopping the build"/);
      // While space is short, /healthz keeps saying so (its probe write must not pass on a full disk).
      assert.equal((await fetch(`${s.base}/healthz`)).status, 503);

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
      console.log(`${dialect} full disk: build stopped ${stoppedAfter} ms after it started; outcome stored ${storedAfter} ms after space was freed`);
      s.child.kill("SIGTERM");
      assert.equal(await s.exited, 0);
      server = undefined;

      const stored = await readBack(dialect, db, flags, uuid);
      assert.equal(stored.integrity, "ok");
      assert.equal(stored.outcome, "terminated");
      // The last line says why, numbered right after the last line stored; the count agrees.
      const why = /^Build was terminated: its log could not be stored \(ENOSPC: no space left on the disk of Kiln's database; (.*)\)$/.exec(stored.last.text)?.[1];
      assert.match(why ?? "", full.message, stored.last.text);
      assert.equal(stored.logLines, stored.last.line + 1);
      assert.equal(stored.count, stored.last.line + 1, "no gap in the numbering");
    });
  });
}

async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/**
 * The build's record and log as stored, and the database's own check: SQLite's integrity_check;
 * on PostgreSQL, amcheck's verification of every B-tree index of Kiln's tables (its extension is
 * made for the check in the test's own database).
 */
async function readBack(dialect: "sqlite" | "postgres", db: TestDatabase | undefined, flags: string[], uuid: string) {
  if (dialect === "sqlite") {
    const sqlite = new SQLite(path.join(flags[1] as string, "kiln.db"), { readonly: true });
    try {
      return {
        integrity: sqlite.pragma("integrity_check", { simple: true }) as string,
        outcome: sqlite.prepare("select build_outcome from builds where uuid = ?").pluck().get(uuid) as string,
        last: sqlite.prepare("select line, text from build_logs where build_uuid = ? order by line desc limit 1").get(uuid) as { line: number; text: string },
        logLines: sqlite.prepare("select log_lines from builds where uuid = ?").pluck().get(uuid) as number,
        count: sqlite.prepare("select count(*) from build_logs where build_uuid = ?").pluck().get(uuid) as number,
      };
    } finally {
      sqlite.close();
    }
  }
  const client = new pg.Client({ connectionString: db?.database });
  await client.connect();
  try {
    await client.query("create extension if not exists amcheck");
    const indexes = await client.query<{ oid: number }>(
      "select c.oid from pg_index i join pg_class c on c.oid = i.indexrelid join pg_am a on a.oid = c.relam join pg_namespace n on n.oid = c.relnamespace where a.amname = 'btree' and n.nspname = 'public'",
    );
    assert.ok(indexes.rows.length > 0);
    for (const { oid } of indexes.rows) await client.query("select bt_index_check($1::regclass, true)", [oid]);
    const one = async (text: string) => (await client.query(text, [uuid])).rows[0];
    return {
      integrity: "ok",
      outcome: (await one("select build_outcome from builds where uuid = $1")).build_outcome as string,
      last: (await one("select line, text from build_logs where build_uuid = $1 order by line desc limit 1")) as { line: number; text: string },
      logLines: Number((await one("select log_lines from builds where uuid = $1")).log_lines),
      count: Number((await one("select count(*) as n from build_logs where build_uuid = $1")).n),
    };
  } finally {
    await client.end();
  }
}

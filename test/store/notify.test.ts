/** LISTEN/NOTIFY signals between processes of a fleet, and their recovery from a lost connection. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { sql } from "kysely";
import { makeDatabase, type TestDatabase } from "../helpers/databases.ts";
import { openStore, type Store } from "../../src/store/index.ts";
import { pgSignals, type FleetSignals } from "../../src/store/notify.ts";
import { waitFor } from "../helpers/builds.ts";

const PG = process.env.KILN_TEST_DATABASE_URL;

describe("PostgreSQL signals", { skip: PG ? false : "skipped: KILN_TEST_DATABASE_URL is not set" }, () => {
  let db: TestDatabase;
  let store: Store;
  let a: FleetSignals;
  let b: FleetSignals;
  before(async () => {
    db = await makeDatabase("postgres");
    store = await openStore({ database: db.database, dataDir: db.dataDir, secretKey: Buffer.from(db.secretKey, "base64") });
    const logger = pino({ level: "silent" });
    a = pgSignals(db.database as string, store.db, logger);
    b = pgSignals(db.database as string, store.db, logger);
    await Promise.all([a.ready(), b.ready()]);
  });
  after(async () => {
    await a.close();
    await b.close();
    await store.close();
    await db.cleanup();
  });

  it("carries queued, cancel, logs and stopped to the other node once, and to listeners in the same node once", async () => {
    const heard: string[] = [];
    const offs = [
      b.onQueued(() => heard.push("b:queued")),
      b.onCancel((u) => heard.push(`b:cancel:${u}`)),
      b.onLogs("u1", () => heard.push("b:logs")),
      b.onStopped("u1", () => heard.push("b:stopped")),
      a.onQueued(() => heard.push("a:queued")),
    ];
    a.queued("u1");
    a.cancel("u1");
    a.logs("u1");
    a.stopped("u1");
    await waitFor("b to hear all four", async () => heard.filter((h) => h.startsWith("b:")).length === 4, 5000);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(heard.sort(), ["a:queued", "b:cancel:u1", "b:logs", "b:queued", "b:stopped"]);
    for (const off of offs) off();
  });

  it("re-opens its LISTEN connection when the database drops it", async () => {
    await sql`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and application_name = 'kiln-listen'`.execute(store.db.kysely);
    let heard = 0;
    const off = b.onCancel(() => heard++);
    // Signals sent while b reconnects are lost (waiters poll); once back, they arrive again.
    await waitFor("b to hear again", async () => {
      a.cancel("again");
      await new Promise((r) => setTimeout(r, 100));
      return heard > 0;
    }, 15_000);
    off();
  });

  it("waitStopped resolves on another node's stopped signal", async () => {
    let stopped = false;
    const t0 = Date.now();
    setTimeout(() => {
      stopped = true;
      a.stopped("w1");
    }, 300);
    // A long poll interval: only the signal can make it quick.
    assert.equal(await b.waitStopped("w1", async () => stopped, 10_000, 5_000), true);
    assert.ok(Date.now() - t0 < 2000, `${Date.now() - t0} ms`);
  });
});

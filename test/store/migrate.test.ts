import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { describe, it } from "node:test";
import { openDatabase } from "../../src/store/database.ts";
import { migrate } from "../../src/store/migrate.ts";
import { migrations } from "../../src/store/migrations/index.ts";
import { openStore } from "../../src/store/index.ts";
import { dialects, makeDatabase } from "../helpers/databases.ts";

for (const dialect of dialects()) {
  describe(`${dialect}: migrations`, () => {
    it("apply once, then are a no-op", async () => {
      const tdb = await makeDatabase(dialect);
      const db = openDatabase({ dataDir: tdb.dataDir, database: tdb.database });
      try {
        assert.deepEqual(await migrate(db), migrations.map((m) => m.name));
        assert.deepEqual(await migrate(db), []);
        const rows = await db.kysely.selectFrom("kiln_migrations").select("name").execute();
        assert.deepEqual(rows.map((r) => r.name), migrations.map((m) => m.name));
      } finally {
        await db.close();
        await tdb.cleanup();
      }
    });

    it("are safe when several processes start at once", async () => {
      const tdb = await makeDatabase(dialect);
      try {
        // Real processes: better-sqlite3 waits for the lock synchronously, so only separate
        // processes show what two servers starting together do.
        const runs = Array.from({ length: 4 }, () =>
          run(process.execPath, ["--import", "tsx", "test/helpers/migrate-child.ts", tdb.dataDir, tdb.database ?? ""]),
        );
        const outputs = await Promise.all(runs);
        const applied = outputs.flatMap((out) => JSON.parse(out) as string[]);
        assert.deepEqual(applied.sort(), migrations.map((m) => m.name).sort(), "each migration applied exactly once");
      } finally {
        await tdb.cleanup();
      }
    });

    it("store round-trips accounts, tokens, users and Workers", async () => {
      const tdb = await makeDatabase(dialect);
      const store = await openStore({ dataDir: tdb.dataDir, database: tdb.database, secretKey: Buffer.from(tdb.secretKey, "base64") });
      try {
        const now = new Date().toISOString();
        await store.transaction(async (r) => {
          await r.accounts.create({ id: "a".repeat(32), name: "acme", created_on: now });
          await r.workers.create({ tag: "b".repeat(32), account_id: "a".repeat(32), name: "api", created_on: now, modified_on: now });
          await r.tokens.create(
            { id: "c".repeat(32), name: "t", permission_groups: ["Workers CI Read"], account_ids: ["a".repeat(32)], expires_on: null, revoked_on: null, created_on: now, modified_on: now },
            "d".repeat(64),
          );
        });
        assert.deepEqual(await store.accounts.get("a".repeat(32)), { id: "a".repeat(32), name: "acme", created_on: now });
        assert.equal((await store.workers.getByName("a".repeat(32), "api"))?.tag, "b".repeat(32));
        const found = await store.credentials.findTokenByHash("d".repeat(64));
        assert.deepEqual(found?.permission_groups, ["Workers CI Read"]);
        assert.deepEqual(found?.account_ids, ["a".repeat(32)]);
        assert.equal(await store.tokens.revoke("c".repeat(32), now), true);
        assert.equal(await store.tokens.revoke("c".repeat(32), now), false, "revoking twice changes nothing");
      } finally {
        await store.close();
        await tdb.cleanup();
      }
    });

    it("a failed transaction leaves nothing behind", async () => {
      const tdb = await makeDatabase(dialect);
      const store = await openStore({ dataDir: tdb.dataDir, database: tdb.database, secretKey: Buffer.from(tdb.secretKey, "base64") });
      try {
        const now = new Date().toISOString();
        await assert.rejects(
          store.transaction(async (r) => {
            await r.accounts.create({ id: "e".repeat(32), name: "x", created_on: now });
            throw new Error("boom");
          }),
          /boom/,
        );
        assert.equal(await store.accounts.get("e".repeat(32)), undefined);
        assert.equal(await store.accounts.count(), 0);
      } finally {
        await store.close();
        await tdb.cleanup();
      }
    });
  });
}

function run(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

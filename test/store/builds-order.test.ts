/**
 * A Worker's builds are listed newest first (created_on, then uuid, both descending): the
 * builds_worker_order index serves that order, so no page sorts in a temporary B-tree
 * (SQLite) or a Sort node (PostgreSQL), however many builds the Worker has.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sql } from "kysely";
import { dialects } from "../helpers/databases.ts";
import { startHarness } from "../helpers/harness.ts";

for (const dialect of dialects()) {
  describe(`${dialect}: the builds list's order comes from an index`, () => {
    it("no sort step in the plan of listByWorker's page query", async () => {
      const h = await startHarness(dialect);
      try {
        const db = h.store.db.kysely;
        const query = db
          .selectFrom("builds")
          .selectAll()
          .where("account_id", "=", "a")
          .where("worker_tag", "=", "w")
          .orderBy("created_on", "desc")
          .orderBy("uuid", "desc")
          .limit(50)
          .offset(100)
          .compile();
        const literal = query.sql.replace(/\?|\$\d+/g, "50").replace(/"account_id" = 50/, `"account_id" = 'a'`).replace(/"worker_tag" = 50/, `"worker_tag" = 'w'`);
        let plan: string;
        if (dialect === "sqlite") {
          plan = (await sql.raw<{ detail: string }>(`explain query plan ${literal}`).execute(db)).rows.map((r) => r.detail).join("\n");
          assert.match(plan, /USING INDEX builds_worker_order/, plan);
          assert.doesNotMatch(plan, /TEMP B-TREE/, plan);
        } else {
          // The table is empty here: without this the planner would rightly prefer a scan. One
          // connection for both statements, so the setting applies to the EXPLAIN.
          plan = await db.connection().execute(async (conn) => {
            await sql`set enable_seqscan = off`.execute(conn);
            return (await sql.raw<{ "QUERY PLAN": string }>(`explain ${literal}`).execute(conn)).rows.map((r) => r["QUERY PLAN"]).join("\n");
          });
          assert.match(plan, /Index Scan Backward using builds_worker_order/, plan);
          assert.doesNotMatch(plan, /Sort/, plan);
        }
      } finally {
        await h.close();
      }
    });
  });
}

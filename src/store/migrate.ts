/**
 * Applies pending migrations at start. Safe when several processes start at once: the
 * whole run holds a lock (PostgreSQL: a transaction-scoped advisory lock; SQLite: the
 * database write lock through BEGIN IMMEDIATE), so the second process waits, then finds
 * nothing left to do.
 */
import { sql } from "kysely";
import type { Db } from "./database.ts";
import { migrations as allMigrations, type Migration } from "./migrations/index.ts";
import { writeTransaction } from "./transaction.ts";

/** Arbitrary constant naming Kiln's migration lock among the database's advisory locks. */
const PG_MIGRATION_LOCK = 4_815_162_342;

export async function migrate(db: Db, migrations: Migration[] = allMigrations): Promise<string[]> {
  return writeTransaction(db, async (tx) => {
    if (db.dialect === "postgres") {
      await sql`select pg_advisory_xact_lock(${PG_MIGRATION_LOCK})`.execute(tx);
    }
    await tx.schema
      .createTable("kiln_migrations")
      .ifNotExists()
      .addColumn("name", "text", (c) => c.primaryKey())
      .addColumn("applied_on", "text", (c) => c.notNull())
      .execute();
    const done = new Set((await tx.selectFrom("kiln_migrations").select("name").execute()).map((r) => r.name));
    const applied: string[] = [];
    for (const migration of migrations) {
      if (done.has(migration.name)) continue;
      await migration.up(tx, db.dialect);
      await tx
        .insertInto("kiln_migrations")
        .values({ name: migration.name, applied_on: new Date().toISOString() })
        .execute();
      applied.push(migration.name);
    }
    return applied;
  });
}

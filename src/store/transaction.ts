/**
 * One write transaction helper for both dialects. On SQLite the transaction starts with
 * BEGIN IMMEDIATE: a deferred transaction that reads and then writes can fail with
 * SQLITE_BUSY when another process wrote in between, which busy_timeout does not retry.
 * Taking the write lock up front makes the second writer wait instead.
 */
import { sql, type Kysely } from "kysely";
import type { Db } from "./database.ts";
import type { Database } from "./schema.ts";

export type Tx = Kysely<Database>;

export async function writeTransaction<T>(db: Db, fn: (tx: Tx) => Promise<T>): Promise<T> {
  if (db.dialect === "postgres") return db.kysely.transaction().execute(fn);
  return db.kysely.connection().execute(async (conn) => {
    await sql`begin immediate`.execute(conn);
    try {
      const result = await fn(conn);
      await sql`commit`.execute(conn);
      return result;
    } catch (error) {
      // SQLite rolls a transaction back by itself on some errors (SQLITE_FULL, SQLITE_IOERR):
      // the ROLLBACK then fails with "no transaction is active", which must not hide the cause.
      await sql`rollback`.execute(conn).catch(() => undefined);
      throw error;
    }
  });
}

import type SQLite from "better-sqlite3";
import type { WorkerRepository } from "../domain/ports.ts";
import type { Worker } from "../domain/types.ts";
import type { Tx } from "./transaction.ts";

/**
 * `sqlite` (the store's own connection, outside transactions): the scripts list, read on every
 * `GET …/workers/scripts`, goes straight to a prepared statement; building and compiling it
 * through Kysely cost more than running it.
 */
export function workerRepository(db: Tx, sqlite?: SQLite.Database): WorkerRepository {
  let listStatement: SQLite.Statement<[string], Worker> | undefined;
  return {
    async create(worker: Worker) {
      await db.insertInto("workers").values(worker).execute();
    },
    async getByName(accountId: string, name: string) {
      return db.selectFrom("workers").selectAll().where("account_id", "=", accountId).where("name", "=", name).executeTakeFirst();
    },
    async getByTag(accountId: string, tag: string) {
      return db.selectFrom("workers").selectAll().where("account_id", "=", accountId).where("tag", "=", tag).executeTakeFirst();
    },
    async tagExists(tag: string) {
      return (await db.selectFrom("workers").select("tag").where("tag", "=", tag).executeTakeFirst()) !== undefined;
    },
    async list(accountId: string) {
      // Inside a transaction of this connection Kysely holds it: its queue keeps the order.
      if (sqlite && !sqlite.inTransaction) {
        listStatement ??= sqlite.prepare<[string], Worker>("select tag, account_id, name, created_on, modified_on from workers where account_id = ? order by created_on, name");
        return listStatement.all(accountId);
      }
      return db.selectFrom("workers").selectAll().where("account_id", "=", accountId).orderBy("created_on").orderBy("name").execute();
    },
  };
}

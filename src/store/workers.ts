import type { WorkerRepository } from "../domain/ports.ts";
import type { Worker } from "../domain/types.ts";
import type { Tx } from "./transaction.ts";

export function workerRepository(db: Tx): WorkerRepository {
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
      return db.selectFrom("workers").selectAll().where("account_id", "=", accountId).orderBy("created_on").orderBy("name").execute();
    },
  };
}

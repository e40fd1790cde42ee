import type { Kysely } from "kysely";

/**
 * A Worker's builds are listed newest first with the uuid as tie-break: an index on both keys
 * serves that order (and its LIMIT/OFFSET) straight from the index, where (account, worker,
 * created_on) left SQLite a temporary B-tree sort of the uuid on every page. It also serves every
 * query the old one did, which goes.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are untyped by design
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex("builds_worker_order").on("builds").columns(["account_id", "worker_tag", "created_on", "uuid"]).execute();
  await db.schema.dropIndex("builds_worker").execute();
}

import type { Kysely } from "kysely";

/** The branch a build builds, as a column: superseding looks up queued builds by trigger and branch. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are untyped by design
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("builds").addColumn("branch", "text", (c) => c.notNull().defaultTo("")).execute();
  await db.schema.createIndex("builds_supersede").on("builds").columns(["trigger_uuid", "branch", "status"]).execute();
  await db.schema.createIndex("builds_hook").on("builds").columns(["deploy_hook_uuid", "created_on"]).execute();
}

import type { Kysely } from "kysely";

/** Retention walks stopped builds and deliveries by age: indexes for both. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are untyped by design
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex("builds_stopped").on("builds").columns(["status", "stopped_on"]).execute();
  await db.schema.createIndex("webhook_deliveries_age").on("webhook_deliveries").column("received_on").execute();
}

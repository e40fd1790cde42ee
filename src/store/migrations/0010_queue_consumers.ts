import type { Kysely } from "kysely";

/**
 * The settings of a queue's HTTP pull consumer (Cloudflare's consumers API) beyond its retry
 * limit and dead-letter queue (0009): what a pull or a retry that does not say uses.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are untyped by design
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("queues").addColumn("consumer_batch_size", "integer", (c) => c.notNull().defaultTo(5)).execute();
  await db.schema.alterTable("queues").addColumn("consumer_visibility_timeout_ms", "integer", (c) => c.notNull().defaultTo(30_000)).execute();
  await db.schema.alterTable("queues").addColumn("consumer_retry_delay", "integer", (c) => c.notNull().defaultTo(0)).execute();
}

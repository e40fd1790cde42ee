import type { Kysely } from "kysely";

/**
 * Build events: the transactional outbox, Cloudflare's event subscriptions and the
 * Queues they deliver into.
 *
 * `build_events` is written in the same transaction as the build state change that causes it,
 * so an event is never lost by a crash and never exists for a change that rolled back. Its id
 * only grows (AUTOINCREMENT on SQLite: never reused, even after pruning), so it serves as an
 * account's Server-Sent Events id. The row holds what the envelope's payload was at that
 * moment; the subscription id and the envelope around it are added when it is delivered.
 *
 * `queue_messages` is each event fanned out into each matching subscription's queue, in the
 * same transaction. A message is visible to a pull once `visible_ms` has passed; a pull leases
 * it (`lease`) and moves `visible_ms` to the end of its visibility timeout, an ack deletes it.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are untyped by design
export async function up(db: Kysely<any>, dialect: "sqlite" | "postgres"): Promise<void> {
  const serial = (table: ReturnType<typeof db.schema.createTable>) =>
    dialect === "postgres" ? table.addColumn("id", "bigserial", (c) => c.primaryKey()) : table.addColumn("id", "integer", (c) => c.primaryKey().autoIncrement());

  await serial(db.schema.createTable("build_events"))
    .addColumn("account_id", "text", (c) => c.notNull().references("accounts.id").onDelete("cascade"))
    .addColumn("worker_tag", "text", (c) => c.notNull())
    .addColumn("worker_name", "text", (c) => c.notNull())
    // No foreign key: an event outlives its build's retention.
    .addColumn("build_uuid", "text", (c) => c.notNull())
    .addColumn("type", "text", (c) => c.notNull())
    .addColumn("created_on", "text", (c) => c.notNull())
    /** JSON: the envelope's `payload` as it was when the event happened. */
    .addColumn("payload", "text", (c) => c.notNull())
    .execute();
  // An account's events after an id (the SSE stream), a build's events in order (webhooks).
  await db.schema.createIndex("build_events_account").on("build_events").columns(["account_id", "id"]).execute();
  await db.schema.createIndex("build_events_build").on("build_events").columns(["build_uuid", "id"]).execute();
  await db.schema.createIndex("build_events_age").on("build_events").columns(["created_on"]).execute();

  await db.schema
    .createTable("queues")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("account_id", "text", (c) => c.notNull().references("accounts.id").onDelete("cascade"))
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("created_on", "text", (c) => c.notNull())
    .addColumn("modified_on", "text", (c) => c.notNull())
    /** Seconds before a new message may be pulled (Cloudflare's settings.delivery_delay). */
    .addColumn("delivery_delay", "integer", (c) => c.notNull().defaultTo(0))
    /** Seconds a message is kept unacknowledged (settings.message_retention_period). */
    .addColumn("message_retention_period", "integer", (c) => c.notNull().defaultTo(345_600))
    /** The HTTP pull consumer's retry limit: deliveries after the first before a message is dead-lettered. */
    .addColumn("max_retries", "integer", (c) => c.notNull().defaultTo(3))
    /** Name of the queue a message goes to after max_retries; null: it is deleted. */
    .addColumn("dead_letter_queue", "text")
    .addUniqueConstraint("queues_name", ["account_id", "name"])
    .execute();

  await db.schema
    .createTable("event_subscriptions")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("account_id", "text", (c) => c.notNull().references("accounts.id").onDelete("cascade"))
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("enabled", "integer", (c) => c.notNull())
    .addColumn("source_type", "text", (c) => c.notNull())
    .addColumn("worker_name", "text", (c) => c.notNull())
    /** JSON array of event types, matched by name (a Kiln extension type only when named). */
    .addColumn("events", "text", (c) => c.notNull())
    /** queues.queue | a Kiln extension (see store/build-events.ts fan-out). */
    .addColumn("destination_type", "text", (c) => c.notNull())
    /** JSON: the destination as given (its other fields, for non-queue destinations). */
    .addColumn("destination", "text", (c) => c.notNull())
    .addColumn("queue_id", "text", (c) => c.references("queues.id").onDelete("cascade"))
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("modified_at", "text", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("event_subscriptions_source").on("event_subscriptions").columns(["account_id", "worker_name"]).execute();

  await serial(db.schema.createTable("queue_messages"))
    .addColumn("queue_id", "text", (c) => c.notNull().references("queues.id").onDelete("cascade"))
    .addColumn("event_id", "bigint", (c) => c.notNull())
    .addColumn("subscription_id", "text", (c) => c.notNull())
    .addColumn("created_ms", "bigint", (c) => c.notNull())
    .addColumn("visible_ms", "bigint", (c) => c.notNull())
    .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
    /** The current lease (a random token); a lease id is `<message id>.<token>`. */
    .addColumn("lease", "text")
    .execute();
  await db.schema.createIndex("queue_messages_visible").on("queue_messages").columns(["queue_id", "visible_ms", "id"]).execute();
}

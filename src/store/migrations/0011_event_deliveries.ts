import type { Kysely } from "kysely";

/**
 * Webhook destinations of event subscriptions (a Kiln extension).
 *
 * `event_subscriptions.webhook_secret` holds the subscription's Standard Webhooks secret
 * (`whsec_…`), sealed like every other secret; null for queue destinations.
 *
 * `event_deliveries` is each event fanned out to each matching webhook subscription, in the
 * transaction that wrote the event (store/build-events.ts). A node leases a due row
 * (`lease`, `lease_expires_ms`) for one attempt; `failures` counts the failed attempts since the
 * row was made or redelivered by hand and picks the next wait; `next_attempt_ms` is when it is
 * due. `event_delivery_attempts` is the log of every attempt, answered by
 * GET …/subscriptions/{id}/deliveries/{delivery_id}.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are untyped by design
export async function up(db: Kysely<any>, dialect: "sqlite" | "postgres"): Promise<void> {
  await db.schema.alterTable("event_subscriptions").addColumn("webhook_secret", "text").execute();

  await db.schema
    .createTable("event_deliveries")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("subscription_id", "text", (c) => c.notNull().references("event_subscriptions.id").onDelete("cascade"))
    .addColumn("account_id", "text", (c) => c.notNull())
    .addColumn("event_id", "bigint", (c) => c.notNull())
    .addColumn("event_type", "text", (c) => c.notNull())
    /** Deliveries of one build to one subscription go out in event order. */
    .addColumn("build_uuid", "text", (c) => c.notNull())
    /** pending | delivered | failed */
    .addColumn("state", "text", (c) => c.notNull())
    .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("failures", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("next_attempt_ms", "bigint", (c) => c.notNull())
    .addColumn("lease", "text")
    .addColumn("lease_expires_ms", "bigint")
    .addColumn("created_on", "text", (c) => c.notNull())
    .addColumn("last_attempt_on", "text")
    .addColumn("delivered_on", "text")
    .addColumn("last_status", "integer")
    .addColumn("last_error", "text")
    .addUniqueConstraint("event_deliveries_once", ["subscription_id", "event_id"])
    .execute();
  await db.schema.createIndex("event_deliveries_due").on("event_deliveries").columns(["state", "next_attempt_ms"]).execute();
  await db.schema.createIndex("event_deliveries_order").on("event_deliveries").columns(["subscription_id", "build_uuid", "event_id"]).execute();

  const serial = dialect === "postgres" ? "bigserial" : "integer";
  await db.schema
    .createTable("event_delivery_attempts")
    .addColumn("id", serial, (c) => (dialect === "postgres" ? c.primaryKey() : c.primaryKey().autoIncrement()))
    .addColumn("delivery_id", "text", (c) => c.notNull().references("event_deliveries.id").onDelete("cascade"))
    .addColumn("attempt", "integer", (c) => c.notNull())
    .addColumn("started_on", "text", (c) => c.notNull())
    .addColumn("duration_ms", "integer", (c) => c.notNull())
    .addColumn("status", "integer")
    .addColumn("error", "text")
    .addColumn("response_body", "text", (c) => c.notNull())
    .addColumn("node", "text", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("event_delivery_attempts_of").on("event_delivery_attempts").columns(["delivery_id", "attempt"]).execute();
}

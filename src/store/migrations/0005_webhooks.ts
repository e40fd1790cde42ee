import { PostgresAdapter, sql, type Kysely } from "kysely";

/**
 * Webhooks: each account's webhook secret (sealed like every other secret), the
 * record of deliveries (de-duplication on the provider's delivery id, and `kiln deliveries
 * list`), the commit a build builds as a column (no second webhook build of a commit for the
 * same trigger), and the state of the status each build reports back to its git provider.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are untyped by design
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("accounts").addColumn("webhook_secret", "text").execute();

  await db.schema
    .createTable("webhook_deliveries")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("account_id", "text", (c) => c.notNull().references("accounts.id").onDelete("cascade"))
    .addColumn("provider", "text", (c) => c.notNull())
    /** The provider's id of the delivery (X-GitHub-Delivery, X-Gitlab-Event-UUID); null when none was sent. */
    .addColumn("delivery_id", "text")
    .addColumn("event", "text", (c) => c.notNull())
    .addColumn("received_on", "text", (c) => c.notNull())
    .addColumn("status", "integer", (c) => c.notNull())
    /** built | skipped | ignored | duplicate | unknown_repository | rejected */
    .addColumn("outcome", "text", (c) => c.notNull())
    /** JSON: {builds, skipped, detail?} as answered. */
    .addColumn("result", "text", (c) => c.notNull())
    .addUniqueConstraint("webhook_deliveries_once", ["account_id", "provider", "delivery_id"])
    .execute();
  await db.schema.createIndex("webhook_deliveries_recent").on("webhook_deliveries").columns(["account_id", "received_on"]).execute();

  await db.schema.alterTable("builds").addColumn("commit_hash", "text", (c) => c.notNull().defaultTo("")).execute();
  /** 1 while the build's status still has to be reported to its git provider. */
  await db.schema.alterTable("builds").addColumn("report_pending", "integer", (c) => c.notNull().defaultTo(0)).execute();
  /** The build status last reported (or deliberately passed over). */
  await db.schema.alterTable("builds").addColumn("report_state", "text").execute();
  await db.schema.alterTable("builds").addColumn("report_attempts", "integer", (c) => c.notNull().defaultTo(0)).execute();
  /** Not before this time: a retry's back-off, or another node's claim on the report. */
  await db.schema.alterTable("builds").addColumn("report_next_on", "text").execute();
  await db.schema.createIndex("builds_commit").on("builds").columns(["trigger_uuid", "commit_hash"]).execute();
  await db.schema.createIndex("builds_report").on("builds").columns(["report_pending", "created_on"]).execute();

  // Builds made before this migration carry their commit in the metadata JSON only.
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  await sql`update builds set commit_hash = ${postgres ? sql`metadata::json->>'commit_hash'` : sql`json_extract(metadata, '$.commit_hash')`}`.execute(db);
}

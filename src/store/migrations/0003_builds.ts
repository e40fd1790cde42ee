import type { Kysely } from "kysely";

/**
 * Builds and their logs. A build row carries its lifecycle timestamps, the snapshot of the
 * settings it runs with (settings changes apply to the next build only), and the runner's
 * claim: runner_id + lease_expires_on (renewed by heartbeats) and the cancel request.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are untyped by design
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("builds")
    .addColumn("uuid", "text", (c) => c.primaryKey())
    .addColumn("account_id", "text", (c) => c.notNull().references("accounts.id").onDelete("cascade"))
    .addColumn("worker_tag", "text", (c) => c.notNull())
    .addColumn("trigger_uuid", "text", (c) => c.notNull().references("triggers.uuid"))
    .addColumn("preview_id", "text")
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("build_outcome", "text")
    .addColumn("created_on", "text", (c) => c.notNull())
    .addColumn("initializing_on", "text")
    .addColumn("running_on", "text")
    .addColumn("stopped_on", "text")
    .addColumn("modified_on", "text", (c) => c.notNull())
    /** JSON: source, branch, commit, author, message and the settings snapshot. */
    .addColumn("metadata", "text", (c) => c.notNull())
    .addColumn("deploy_hook_uuid", "text")
    .addColumn("deploy_hook_name", "text")
    .addColumn("pull_request", "text")
    .addColumn("runner_id", "text")
    .addColumn("lease_expires_on", "text")
    .addColumn("cancel_requested_on", "text")
    .addColumn("cancel_requested_by", "text")
    .addColumn("version_id", "text")
    .addColumn("preview_url", "text")
    .addColumn("log_lines", "integer", (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.createIndex("builds_queue").on("builds").columns(["status", "created_on"]).execute();
  await db.schema.createIndex("builds_worker").on("builds").columns(["account_id", "worker_tag", "created_on"]).execute();
  await db.schema.createIndex("builds_trigger").on("builds").columns(["trigger_uuid", "status"]).execute();
  await db.schema.createIndex("builds_version").on("builds").columns(["account_id", "version_id"]).execute();

  await db.schema
    .createTable("build_logs")
    .addColumn("build_uuid", "text", (c) => c.notNull().references("builds.uuid").onDelete("cascade"))
    .addColumn("line", "integer", (c) => c.notNull())
    .addColumn("ts", "bigint", (c) => c.notNull())
    .addColumn("text", "text", (c) => c.notNull())
    .addPrimaryKeyConstraint("build_logs_pk", ["build_uuid", "line"])
    .execute();
}

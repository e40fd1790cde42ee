import type { Kysely } from "kysely";

/**
 * The configuration API's tables: repository connections, build tokens, triggers, their
 * environment variables, Worker build settings (previews), Previews and deploy hooks, plus
 * per-account limits. Booleans are integers (0/1) so both dialects read them alike.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are untyped by design
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("accounts").addColumn("build_minutes_limit", "integer").execute();
  await db.schema.alterTable("accounts").addColumn("concurrency_limit", "integer").execute();

  await db.schema
    .createTable("repo_connections")
    .addColumn("uuid", "text", (c) => c.primaryKey())
    .addColumn("account_id", "text", (c) => c.notNull().references("accounts.id").onDelete("cascade"))
    .addColumn("provider_type", "text", (c) => c.notNull())
    .addColumn("provider_account_id", "text", (c) => c.notNull())
    .addColumn("provider_account_name", "text", (c) => c.notNull())
    .addColumn("repo_id", "text", (c) => c.notNull())
    .addColumn("repo_name", "text", (c) => c.notNull())
    .addColumn("grant_id", "text")
    .addColumn("created_on", "text", (c) => c.notNull())
    .addColumn("modified_on", "text", (c) => c.notNull())
    .addColumn("deleted_on", "text")
    // One row per repository per account, revived by a later upsert after a delete.
    .addUniqueConstraint("repo_connections_repo", ["account_id", "provider_type", "repo_id"])
    .execute();

  await db.schema
    .createTable("build_tokens")
    .addColumn("uuid", "text", (c) => c.primaryKey())
    .addColumn("account_id", "text", (c) => c.notNull().references("accounts.id").onDelete("cascade"))
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("sealed_secret", "text", (c) => c.notNull())
    .addColumn("cloudflare_token_id", "text", (c) => c.notNull())
    .addColumn("owner_type", "text", (c) => c.notNull())
    .addColumn("created_on", "text", (c) => c.notNull())
    .addColumn("modified_on", "text", (c) => c.notNull())
    .addColumn("deleted_on", "text")
    .execute();
  await db.schema.createIndex("build_tokens_account").on("build_tokens").columns(["account_id", "created_on"]).execute();

  await db.schema
    .createTable("triggers")
    .addColumn("uuid", "text", (c) => c.primaryKey())
    .addColumn("account_id", "text", (c) => c.notNull().references("accounts.id").onDelete("cascade"))
    .addColumn("worker_tag", "text", (c) => c.notNull().references("workers.tag").onDelete("cascade"))
    .addColumn("role", "text", (c) => c.notNull())
    .addColumn("trigger_name", "text", (c) => c.notNull())
    .addColumn("repo_connection_uuid", "text", (c) => c.notNull().references("repo_connections.uuid"))
    .addColumn("build_token_uuid", "text", (c) => c.notNull().references("build_tokens.uuid"))
    .addColumn("build_command", "text", (c) => c.notNull())
    .addColumn("deploy_command", "text", (c) => c.notNull())
    .addColumn("root_directory", "text", (c) => c.notNull())
    .addColumn("branch_includes", "text", (c) => c.notNull())
    .addColumn("branch_excludes", "text", (c) => c.notNull())
    .addColumn("path_includes", "text", (c) => c.notNull())
    .addColumn("path_excludes", "text", (c) => c.notNull())
    .addColumn("build_caching_enabled", "integer", (c) => c.notNull())
    .addColumn("cache_generation", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("created_on", "text", (c) => c.notNull())
    .addColumn("modified_on", "text", (c) => c.notNull())
    .addColumn("deleted_on", "text")
    .execute();
  await db.schema.createIndex("triggers_worker").on("triggers").columns(["worker_tag", "created_on"]).execute();

  // Variables of a trigger, of a Worker's previews base config, or of one Preview.
  await db.schema
    .createTable("env_vars")
    .addColumn("owner_kind", "text", (c) => c.notNull())
    .addColumn("owner_id", "text", (c) => c.notNull())
    .addColumn("key", "text", (c) => c.notNull())
    .addColumn("is_secret", "integer", (c) => c.notNull())
    /** Plain text for ordinary variables, sealed (secrets.ts) for secrets. */
    .addColumn("value", "text", (c) => c.notNull())
    .addColumn("created_on", "text", (c) => c.notNull())
    .addPrimaryKeyConstraint("env_vars_pk", ["owner_kind", "owner_id", "key"])
    .execute();

  // The previews side of a Worker's build configuration (the production side is its
  // production trigger). base_settings: JSON of the settings fields, or null.
  await db.schema
    .createTable("worker_previews")
    .addColumn("worker_tag", "text", (c) => c.primaryKey().references("workers.tag").onDelete("cascade"))
    .addColumn("account_id", "text", (c) => c.notNull())
    .addColumn("previews_enabled", "integer", (c) => c.notNull())
    .addColumn("base_settings", "text")
    .addColumn("created_on", "text", (c) => c.notNull())
    .addColumn("modified_on", "text", (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("previews")
    .addColumn("preview_id", "text", (c) => c.primaryKey())
    .addColumn("account_id", "text", (c) => c.notNull())
    .addColumn("worker_tag", "text", (c) => c.notNull().references("workers.tag").onDelete("cascade"))
    .addColumn("branch", "text", (c) => c.notNull())
    .addColumn("auto_build", "integer", (c) => c.notNull())
    .addColumn("auto_delete", "integer", (c) => c.notNull())
    .addColumn("settings", "text", (c) => c.notNull())
    .addColumn("created_on", "text", (c) => c.notNull())
    .addColumn("modified_on", "text", (c) => c.notNull())
    .addUniqueConstraint("previews_branch", ["worker_tag", "branch"])
    .execute();

  await db.schema
    .createTable("deploy_hooks")
    .addColumn("uuid", "text", (c) => c.primaryKey())
    .addColumn("account_id", "text", (c) => c.notNull())
    .addColumn("worker_tag", "text", (c) => c.notNull().references("workers.tag").onDelete("cascade"))
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("branch", "text", (c) => c.notNull())
    .addColumn("created_on", "text", (c) => c.notNull())
    .addColumn("modified_on", "text", (c) => c.notNull())
    .addUniqueConstraint("deploy_hooks_name", ["worker_tag", "name"])
    .execute();
}

import type { Kysely } from "kysely";

/** Accounts, users, API tokens and Workers: the foundation every other table refers to. */
// Migrations take Kysely<any>: they describe the schema as it was at that point, not as the
// current Database type says it is.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("accounts")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("created_on", "text", (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("users")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("email", "text", (c) => c.notNull().unique())
    .addColumn("api_key_hash", "text", (c) => c.notNull())
    .addColumn("created_on", "text", (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("account_members")
    .addColumn("account_id", "text", (c) => c.notNull().references("accounts.id").onDelete("cascade"))
    .addColumn("user_id", "text", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addPrimaryKeyConstraint("account_members_pk", ["account_id", "user_id"])
    .execute();
  await db.schema.createIndex("account_members_user").on("account_members").column("user_id").execute();

  await db.schema
    .createTable("api_tokens")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("value_hash", "text", (c) => c.notNull().unique())
    .addColumn("permission_groups", "text", (c) => c.notNull())
    .addColumn("account_ids", "text", (c) => c.notNull())
    .addColumn("expires_on", "text")
    .addColumn("revoked_on", "text")
    .addColumn("created_on", "text", (c) => c.notNull())
    .addColumn("modified_on", "text", (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("workers")
    .addColumn("tag", "text", (c) => c.primaryKey())
    .addColumn("account_id", "text", (c) => c.notNull().references("accounts.id").onDelete("cascade"))
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("created_on", "text", (c) => c.notNull())
    .addColumn("modified_on", "text", (c) => c.notNull())
    .addUniqueConstraint("workers_account_name", ["account_id", "name"])
    .execute();
}

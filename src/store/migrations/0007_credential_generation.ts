import { sql, type Kysely } from "kysely";

/**
 * The credential generation (SQLite only): one row whose number every insert, update or delete
 * of a token, a user or an account membership bumps, by triggers, in the writer's own
 * transaction, whichever process or statement writes. The server caches what it read of
 * credentials and reads this row only when SQLite says the database changed (data_version for
 * other connections, total_changes() for its own), so a revocation committed anywhere is seen by
 * the next request (docs/architecture.md "A request"). PostgreSQL caches nothing: the credential
 * read is the request's one round trip either way.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are untyped by design
export async function up(db: Kysely<any>, dialect: "sqlite" | "postgres"): Promise<void> {
  if (dialect !== "sqlite") return;
  await sql`create table credential_generation (id integer primary key check (id = 1), generation integer not null)`.execute(db);
  await sql`insert into credential_generation (id, generation) values (1, 0)`.execute(db);
  for (const table of ["api_tokens", "users", "account_members"]) {
    for (const event of ["insert", "update", "delete"]) {
      await sql
        .raw(`create trigger ${table}_${event}_generation after ${event} on ${table} begin update credential_generation set generation = generation + 1 where id = 1; end`)
        .execute(db);
    }
  }
}

import type SQLite from "better-sqlite3";
import type { CredentialLookup } from "../domain/ports.ts";
import type { Db } from "./database.ts";
import type { Tx } from "./transaction.ts";
import { toToken } from "./tokens.ts";

/** The two lookups on every authenticated request; each is one indexed read. */
export function credentialLookup(db: Tx, sqlite?: SQLite.Database): CredentialLookup {
  return {
    async findTokenByHash(valueHash: string) {
      const row = await db.selectFrom("api_tokens").selectAll().where("value_hash", "=", valueHash).executeTakeFirst();
      return row && { ...toToken(row), value_hash: row.value_hash };
    },
    async findUserByEmail(email: string) {
      const user = await db.selectFrom("users").selectAll().where("email", "=", email).executeTakeFirst();
      if (!user) return undefined;
      const members = await db.selectFrom("account_members").select("account_id").where("user_id", "=", user.id).execute();
      return { ...user, account_ids: members.map((m) => m.account_id) };
    },
    ...(sqlite ? { generation: sqliteGeneration(sqlite) } : {}),
  };
}

export const storeCredentials = (db: Db): CredentialLookup => credentialLookup(db.kysely, db.sqlite);

/**
 * SQLite: the credential generation (migration 0007), read only when the database changed.
 * `data_version` changes when another connection (`kiln token revoke`, a runner) committed;
 * it misses this connection's own writes, which `total_changes()` counts (triggers included).
 * Both come from one statement of ~3 µs; the generation row costs one more read, only then.
 *
 * Inside an open transaction of this connection nothing is cached (undefined): what it reads
 * may yet be rolled back, and a generation read there could match a later commit's.
 */
function sqliteGeneration(sqlite: SQLite.Database): () => number | undefined {
  let changed: SQLite.Statement<[], [number, number]> | undefined;
  let read: SQLite.Statement<[], number> | undefined;
  let dataVersion = -1;
  let totalChanges = -1;
  let generation: number | undefined;
  return () => {
    if (sqlite.inTransaction) return undefined;
    changed ??= sqlite.prepare<[], [number, number]>("select data_version, total_changes() from pragma_data_version").raw();
    const [version, changes] = changed.get() ?? [-2, -2];
    if (version !== dataVersion || changes !== totalChanges || generation === undefined) {
      read ??= sqlite.prepare<[], number>("select generation from credential_generation where id = 1").pluck();
      generation = read.get();
      // The version is read first: a commit landing between the two reads changes it again, so it is read again next time.
      dataVersion = version;
      totalChanges = changes;
    }
    return generation;
  };
}

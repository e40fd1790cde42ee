import type SQLite from "better-sqlite3";
import type { CredentialLookup } from "../domain/ports.ts";
import type { ChangeSignal } from "./change-signal.ts";
import type { Db } from "./database.ts";
import type { Tx } from "./transaction.ts";
import { toToken } from "./tokens.ts";

/** The two lookups on every authenticated request; each is one indexed read. */
export function credentialLookup(db: Tx, sqlite?: SQLite.Database, changes?: ChangeSignal): CredentialLookup {
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
    ...(sqlite && changes ? { generation: sqliteGeneration(sqlite, changes) } : {}),
  };
}

export const storeCredentials = (db: Db, changes?: ChangeSignal): CredentialLookup => credentialLookup(db.kysely, db.sqlite, changes);

/**
 * SQLite: the credential generation (migration 0007), read only when the database changed
 * (store/change-signal.ts: one `pread` of the WAL-index header).
 *
 * Inside an open transaction of this connection nothing is cached (undefined): what it reads
 * may yet be rolled back, and a generation read there could match a later commit's.
 */
function sqliteGeneration(sqlite: SQLite.Database, changes: ChangeSignal): () => number | undefined {
  let read: SQLite.Statement<[], number> | undefined;
  let generation: number | undefined;
  let readAt: number | undefined;
  return () => {
    // The signal is taken first: a commit landing between it and the row changes it again, so
    // the row is read again next time.
    const epoch = changes.observe();
    if (epoch === undefined) return undefined;
    if (epoch !== readAt || generation === undefined) {
      read ??= sqlite.prepare<[], number>("select generation from credential_generation where id = 1").pluck();
      generation = read.get();
      readAt = epoch;
    }
    return generation;
  };
}

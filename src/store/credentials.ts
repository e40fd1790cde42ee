import fs from "node:fs";
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
 *
 * "Changed" is the WAL-index header in the -shm file (https://www.sqlite.org/walformat.html,
 * its two 48-byte copies): every commit of every connection, this one included, rewrites it
 * (mxFrame, iChange, the checksum) before the commit returns, so bytes equal to the last look
 * mean nothing was committed since. Reading them is one pread; a statement (`data_version`,
 * which misses this connection's own writes, with `total_changes()`, which counts them) costs a
 * read transaction: two fcntl locks and more, a fifth of a cached token verify on this machine.
 * A torn read (a writer mid-copy) differs from the last look too: the row is read, no harm.
 * Without a readable -shm (not WAL) the statement does the same job.
 *
 * Inside an open transaction of this connection nothing is cached (undefined): what it reads
 * may yet be rolled back, and a generation read there could match a later commit's.
 */
function sqliteGeneration(sqlite: SQLite.Database): () => number | undefined {
  let fallback: SQLite.Statement<[], [number, number]> | undefined;
  let read: SQLite.Statement<[], number> | undefined;
  let shm: number | undefined | null;
  const seen = Buffer.alloc(SHM_HEADER_BYTES);
  const now = Buffer.alloc(SHM_HEADER_BYTES);
  let dataVersion = -1;
  let totalChanges = -1;
  let generation: number | undefined;
  const changed = (): boolean => {
    if (shm === undefined) shm = walIndexFd(sqlite);
    if (shm !== null && fs.readSync(shm, now, 0, SHM_HEADER_BYTES, 0) === SHM_HEADER_BYTES) {
      if (now.equals(seen)) return false;
      now.copy(seen);
      return true;
    }
    fallback ??= sqlite.prepare<[], [number, number]>("select data_version, total_changes() from pragma_data_version").raw();
    const [version, changes] = fallback.get() ?? [-2, -2];
    if (version === dataVersion && changes === totalChanges) return false;
    dataVersion = version;
    totalChanges = changes;
    return true;
  };
  return () => {
    if (sqlite.inTransaction) return undefined;
    // The signal is taken first: a commit landing between it and the row changes it again, so
    // the row is read again next time.
    if (changed() || generation === undefined) {
      read ??= sqlite.prepare<[], number>("select generation from credential_generation where id = 1").pluck();
      generation = read.get();
    }
    return generation;
  };
}

const SHM_HEADER_BYTES = 96;

/**
 * One descriptor per -shm file for the life of the process, never closed: SQLite locks the
 * -shm with POSIX fcntl locks, and closing *any* descriptor of a file drops all of the
 * process's locks on it, SQLite's included. The -shm stays the same file while any connection
 * is open (this store's is, for as long as it asks); a store opened after the last connection
 * closed may find a new one, hence the inode check. null: no -shm to read (not WAL, in memory).
 */
const walIndexFds = new Map<string, { fd: number; ino: number }>();
function walIndexFd(sqlite: SQLite.Database): number | null {
  if (sqlite.memory || String(sqlite.pragma("journal_mode", { simple: true })).toLowerCase() !== "wal") return null;
  // The -shm exists once the connection has read in WAL mode.
  sqlite.prepare("select 1 from sqlite_master limit 1").get();
  try {
    const file = fs.realpathSync(sqlite.name) + "-shm";
    const ino = fs.statSync(file).ino;
    let known = walIndexFds.get(file);
    if (known?.ino !== ino) {
      const fd = fs.openSync(file, "r");
      known = { fd, ino: fs.fstatSync(fd).ino };
      walIndexFds.set(file, known);
    }
    return known.ino === ino ? known.fd : null;
  } catch {
    return null;
  }
}

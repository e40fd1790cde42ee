/**
 * "Has anything been committed to this SQLite database since I last looked?" for every
 * connection of every process, at the price of one `pread`.
 *
 * The answer is the WAL-index header in the -shm file (https://www.sqlite.org/walformat.html,
 * its two 48-byte copies): every commit of every connection, this one included, rewrites it
 * (mxFrame, iChange, the checksum) before the commit returns, so bytes equal to the last look
 * mean nothing was committed since. A statement (`data_version`, which misses this
 * connection's own writes, with `total_changes()`, which counts them) would cost a read
 * transaction: two fcntl locks and more, a fifth of a cached token verify on this machine. A
 * torn read (a writer mid-copy) differs from the last look too: a false "changed", no harm.
 * Without a readable -shm (not WAL) the statement does the same job.
 *
 * The answer is an epoch: a number that grows whenever a look finds a change. Two looks with
 * the same epoch saw no commit between them, so whatever was read from the database after the
 * first look still holds at the second.
 */
import fs from "node:fs";
import { performance } from "node:perf_hooks";
import type SQLite from "better-sqlite3";

export interface ChangeSignal {
  /**
   * Looks now: the epoch, or undefined inside an open transaction of this connection (what
   * it reads may yet be rolled back, so nothing read there may be kept).
   */
  observe(): number | undefined;
  /**
   * The epoch of a look taken at or after `since` (a `performance.now()` time), taking one
   * only if there was none: a request whose credential check already looked pays no second
   * `pread`. A look after the request arrived sees every commit that returned before the
   * client sent it.
   */
  observeSince(since: number): number | undefined;
}

export function sqliteChangeSignal(sqlite: SQLite.Database): ChangeSignal {
  let fallback: SQLite.Statement<[], [number, number]> | undefined;
  let shm: number | undefined | null;
  const seen = Buffer.alloc(SHM_HEADER_BYTES);
  const now = Buffer.alloc(SHM_HEADER_BYTES);
  let dataVersion = -1;
  let totalChanges = -1;
  let epoch = 0;
  let lookedAt = -Infinity;
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
  const observe = (): number | undefined => {
    if (sqlite.inTransaction) return undefined;
    const at = performance.now();
    if (changed()) epoch++;
    lookedAt = at;
    return epoch;
  };
  return {
    observe,
    observeSince(since) {
      if (sqlite.inTransaction) return undefined;
      return lookedAt >= since ? epoch : observe();
    },
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

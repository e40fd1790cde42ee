/**
 * Opens the store on SQLite (better-sqlite3, WAL, under the data dir) or PostgreSQL. This is
 * the only file that knows about either driver; everything above it speaks Kysely.
 */
import path from "node:path";
import SQLite from "better-sqlite3";
import { Kysely, PostgresDialect, SqliteDialect } from "kysely";
import pg from "pg";
import type { Database } from "./schema.ts";
import { DATABASE_FILE, ensureDataDir } from "../data-dir.ts";

export type DialectName = "sqlite" | "postgres";

export interface Db {
  kysely: Kysely<Database>;
  dialect: DialectName;
  /** Human-readable location, for logs (never includes a password). */
  location: string;
  /** SQLite only: the connection under Kysely, for the few reads on every request that skip it. */
  sqlite?: SQLite.Database;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** postgres:// URL; SQLite when absent. */
  database?: string | undefined;
  /** Directory holding kiln.db for SQLite. */
  dataDir: string;
  /** Pool size for PostgreSQL. */
  poolSize?: number;
}

export function openDatabase(options: OpenOptions): Db {
  if (options.database) return openPostgres(options.database, options.poolSize ?? 10);
  ensureDataDir(options.dataDir);
  return openSqlite(path.join(options.dataDir, DATABASE_FILE));
}

export function openSqlite(file: string): Db {
  const sqlite = new SQLite(file);
  sqlite.pragma("journal_mode = WAL");
  // A second process (the admin CLI next to a running server) waits for the write lock
  // instead of failing at once.
  sqlite.pragma("busy_timeout = 5000");
  sqlite.pragma("synchronous = NORMAL");
  sqlite.pragma("foreign_keys = ON");
  const kysely = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
  return {
    kysely,
    dialect: "sqlite",
    location: file,
    sqlite,
    close: () => kysely.destroy(),
  };
}

function openPostgres(url: string, max: number): Db {
  const pool = new pg.Pool({ connectionString: url, max });
  // An idle connection the server closes (restart, failover, an admin's terminate) is
  // reported here; unhandled, it would crash the process. The pool drops that client and the
  // next query opens a fresh one, so there is nothing else to do.
  pool.on("error", () => undefined);
  // The pool listens for errors only on its idle clients. A client checked out (a transaction
  // between two statements, a query in flight) whose server goes away emits 'error' too, and
  // with no listener that crashed the process (test/reliability/faults.test.ts: a PostgreSQL
  // restart under `kiln serve`). The statement in flight still fails with the error, and the
  // pool discards the broken client when it is released.
  pool.on("connect", (client) => client.on("error", () => undefined));
  const kysely = new Kysely<Database>({ dialect: new PostgresDialect({ pool: ridingThroughRestarts(pool) }) });
  const safe = new URL(url);
  safe.password = "";
  return {
    kysely,
    dialect: "postgres",
    location: safe.toString(),
    close: () => kysely.destroy(),
  };
}

/** How long a connection is waited for while the server restarts (connections refused) before the statement fails. */
const RECONNECT_BUDGET_MS = 10_000;

/** A failed connection attempt worth another try: the server is down, starting up or shutting down. */
function transientConnectError(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === "string" ? e.code : "";
  // 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now (starting up / shutting down).
  if (["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN", "57P01", "57P02", "57P03"].includes(code)) return true;
  return typeof e?.message === "string" && /^Connection terminated/.test(e.message);
}

/**
 * The pool as Kysely sees it, except that a connection refused while a server Kiln already
 * reached restarts (or fails over) is tried again, with back-off, for up to
 * RECONNECT_BUDGET_MS. Retrying a connect is always safe: no statement has run on it. Without
 * it, every write during the few hundred milliseconds of a restart failed, and the first
 * failed log batch ends a build's log for good (runner/log-lines.ts), so a build that went on
 * to succeed lost the rest of its output. Before the first successful connection nothing is
 * retried: a wrong URL at start fails at once.
 */
function ridingThroughRestarts(pool: pg.Pool): { connect(): Promise<pg.PoolClient>; end(): Promise<void> } {
  let reached = false;
  let ending = false;
  return {
    async connect() {
      const deadline = Date.now() + RECONNECT_BUDGET_MS;
      for (let delay = 25; ; delay = Math.min(delay * 2, 500)) {
        try {
          const client = await pool.connect();
          reached = true;
          return client;
        } catch (error) {
          if (!reached || ending || !transientConnectError(error) || Date.now() + delay > deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, delay));
        }
      }
    },
    end() {
      ending = true;
      return pool.end();
    },
  };
}

/**
 * Kysely asks better-sqlite3 to prepare every query anew; preparing costs more than running
 * the small indexed reads on the request path. Caching prepared statements by SQL text
 * (bounded: the set of distinct query shapes is small) removes that cost.
 */
function withStatementCache(sqlite: SQLite.Database, limit = 500): SQLite.Database {
  const cache = new Map<string, SQLite.Statement>();
  const prepare = (source: string): SQLite.Statement => {
    let statement = cache.get(source);
    if (!statement) {
      statement = sqlite.prepare(source);
      if (cache.size >= limit) cache.delete(cache.keys().next().value as string);
      cache.set(source, statement);
    }
    return statement;
  };
  return new Proxy(sqlite, {
    get(target, property, receiver) {
      if (property === "prepare") return prepare;
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/**
 * Whether a driver error is a unique-constraint violation: two requests racing to create
 * the same thing (a repo connection, a hook name). The API answers 409 12010 for it.
 */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "23505" || code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY";
}

/**
 * Whether a driver error means the database cannot store anything right now (no space, or
 * the disk failing), as opposed to a problem with one statement: such a write is answered
 * 503 and reported by /healthz until a write succeeds again.
 */
export function storageFailureOf(error: unknown): { code: string; message: string; noSpace: boolean } | undefined {
  const e = error as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === "string" ? e.code : "";
  const message = typeof e?.message === "string" ? e.message : String(error);
  // SQLite: SQLITE_FULL (database or disk is full), SQLITE_IOERR_* (write/fsync failed: ENOSPC
  // shows up as one of these for the WAL or journal). Node fs: ENOSPC, EDQUOT. PostgreSQL:
  // 53100 disk_full, 58030 io_error.
  if (code === "SQLITE_FULL" || code.startsWith("SQLITE_IOERR") || code === "ENOSPC" || code === "EDQUOT" || code === "53100" || code === "58030") {
    return { code, message: message.slice(0, 300), noSpace: ["SQLITE_FULL", "ENOSPC", "EDQUOT", "53100"].includes(code) };
  }
  return undefined;
}

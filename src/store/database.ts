/**
 * Opens the store on SQLite (better-sqlite3, WAL, under the data dir) or PostgreSQL. This is
 * the only file that knows about either driver; everything above it speaks Kysely.
 */
import fs from "node:fs";
import path from "node:path";
import SQLite from "better-sqlite3";
import { Kysely, PostgresDialect, SqliteDialect } from "kysely";
import pg from "pg";
import type { Database } from "./schema.ts";

export type DialectName = "sqlite" | "postgres";

export interface Db {
  kysely: Kysely<Database>;
  dialect: DialectName;
  /** Human-readable location, for logs (never includes a password). */
  location: string;
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
  fs.mkdirSync(options.dataDir, { recursive: true });
  return openSqlite(path.join(options.dataDir, "kiln.db"));
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
    close: () => kysely.destroy(),
  };
}

function openPostgres(url: string, max: number): Db {
  const pool = new pg.Pool({ connectionString: url, max });
  // An idle connection the server closes (restart, failover, an admin's terminate) is
  // reported here; unhandled, it would crash the process. The pool drops that client and the
  // next query opens a fresh one, so there is nothing else to do.
  pool.on("error", () => undefined);
  const kysely = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const safe = new URL(url);
  safe.password = "";
  return {
    kysely,
    dialect: "postgres",
    location: safe.toString(),
    close: () => kysely.destroy(),
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

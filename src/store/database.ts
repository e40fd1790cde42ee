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
  const kysely = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  return {
    kysely,
    dialect: "sqlite",
    location: file,
    close: () => kysely.destroy(),
  };
}

function openPostgres(url: string, max: number): Db {
  const pool = new pg.Pool({ connectionString: url, max });
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

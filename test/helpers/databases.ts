/**
 * One test suite, both databases: SQLite always, PostgreSQL when KILN_TEST_DATABASE_URL is
 * set. Each PostgreSQL leg gets a database of its own, dropped afterwards, so suites can run
 * in parallel and leave nothing behind.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import pg from "pg";

export interface TestDatabase {
  name: "sqlite" | "postgres";
  /** Options for openStore / the CLI: --data-dir and, for PostgreSQL, --database. */
  dataDir: string;
  database?: string;
  /** The key sealing secrets (base64); also passed as --secret-key to the CLI. */
  secretKey: string;
  /** CLI flags that point a command at this database. */
  flags: string[];
  cleanup(): Promise<void>;
}

export const PG_URL = process.env.KILN_TEST_DATABASE_URL;

export function dialects(): ("sqlite" | "postgres")[] {
  return PG_URL ? ["sqlite", "postgres"] : ["sqlite"];
}

export function tempDir(prefix = "kiln-test-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface DatabaseOptions {
  /** PostgreSQL: the new database's encoding (default the server's, UTF8), e.g. "LATIN1". */
  encoding?: string;
  /** PostgreSQL: the tablespace the new database lives in (default the server's), e.g. one on a small tmpfs. */
  tablespace?: string;
}

export async function makeDatabase(name: "sqlite" | "postgres", options: DatabaseOptions = {}): Promise<TestDatabase> {
  const dataDir = tempDir();
  const removeDir = async () => fs.rmSync(dataDir, { recursive: true, force: true });
  const secretKey = randomBytes(32).toString("base64");
  if (name === "sqlite") return { name, dataDir, secretKey, flags: ["--data-dir", dataDir], cleanup: removeDir };
  if (!PG_URL) throw new Error("KILN_TEST_DATABASE_URL is not set");
  const dbName = `kiln_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  const encoding = options.encoding ? ` encoding '${options.encoding.replace(/[^A-Za-z0-9_]/g, "")}' template template0 lc_collate 'C' lc_ctype 'C'` : "";
  const tablespace = options.tablespace ? ` tablespace ${options.tablespace.replace(/[^A-Za-z0-9_]/g, "")}` : "";
  await admin.query(`create database ${dbName}${encoding}${tablespace}`);
  await admin.end();
  const url = new URL(PG_URL);
  url.pathname = `/${dbName}`;
  return {
    name,
    dataDir,
    database: url.toString(),
    secretKey,
    flags: ["--data-dir", dataDir, "--database", url.toString(), "--secret-key", secretKey],
    async cleanup() {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`drop database if exists ${dbName} with (force)`);
      await client.end();
      await removeDir();
    },
  };
}

/**
 * Kiln's data directory: made 0700, and kept 0700 when it already exists, so no other local
 * user — a build of another Kiln server on the same host in the process-group fallback, say —
 * can list or enter it. Files inside are made 0600 by the server's umask (src/cli/main.ts).
 */
import fs from "node:fs";
import path from "node:path";

/** The SQLite database inside the data dir. */
export const DATABASE_FILE = "kiln.db";

export function ensureDataDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.statSync(dir);
  if ((st.mode & 0o077) !== 0 && st.uid === process.getuid?.()) fs.chmodSync(dir, 0o700);
}

/** Whether the data dir holds Kiln's SQLite database (a server or `kiln account create` made it). */
export function hasDatabase(dir: string): boolean {
  return fs.existsSync(path.join(dir, DATABASE_FILE));
}

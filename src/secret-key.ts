/**
 * Where the key that seals secrets comes from: --secret-key / KILN_SECRET_KEY, or on SQLite
 * a key file in the data dir (created once, mode 0600). PostgreSQL requires the option
 * (config.ts enforces it), so every node of a fleet opens what another sealed.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { Config } from "./config.ts";
import { ensureDataDir } from "./data-dir.ts";
import { parseSecretKey, SECRET_KEY_BYTES } from "./domain/secrets.ts";

export const KEY_FILE = "secret.key";

export function loadSecretKey(config: Pick<Config, "secretKey" | "dataDir">): Buffer {
  if (config.secretKey) {
    const key = parseSecretKey(config.secretKey);
    if (!key) throw new Error("invalid secret key");
    return key;
  }
  const file = path.join(config.dataDir, KEY_FILE);
  ensureDataDir(config.dataDir);
  try {
    // "wx": only the first process to get here writes the key; the others read it.
    fs.writeFileSync(file, randomBytes(SECRET_KEY_BYTES).toString("base64") + "\n", { flag: "wx", mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
  const key = parseSecretKey(fs.readFileSync(file, "utf8"));
  if (!key) throw new Error(`${file} does not hold a 32-byte base64 key`);
  return key;
}

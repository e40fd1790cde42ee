import path from "node:path";
import { Option, type Command } from "commander";
import { loadConfig, storeOptions, type Config, type OptionSpec } from "../config.ts";
import { hasDatabase } from "../data-dir.ts";
import type { Store } from "../store/index.ts";
import { loadSecretKey } from "../secret-key.ts";
import { UsageError } from "./output.ts";

/** Adds the given options (flag + KILN_* variable) to a command. */
export function addOptions(command: Command, specs: OptionSpec[]): Command {
  for (const spec of specs) {
    const flags = spec.arg ? `--${spec.flag} <${spec.arg}>` : `--${spec.flag}`;
    const option = new Option(flags, `${spec.description} [${spec.env}]`);
    if (spec.repeatable) option.argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
    command.addOption(option);
  }
  return command;
}

/**
 * `existing`: the command works on records that must already be there (every admin command but
 * `account create`), so a data dir without a database is the wrong folder, never a new store.
 * `create`: a new data dir is made when there is none, and said so on stderr.
 */
export type StoreMode = "existing" | "create";

/** Exit 2 for a data dir that holds no Kiln database, naming the flag and variable to fix. */
export function missingDataDir(dataDir: string): UsageError {
  return new UsageError(
    `no Kiln database in ${path.resolve(dataDir)}: point --data-dir (or KILN_DATA_DIR) at the server's data dir, ` +
      "or --database (KILN_DATABASE_URL) at its PostgreSQL; `kiln account create` or `kiln serve` makes a new one",
  );
}

/** Opens the store an admin command works on (same data dir or database as the server). */
export async function storeFromOptions(opts: Record<string, unknown>, mode: StoreMode = "existing"): Promise<{ config: Config; store: Store }> {
  const config = loadConfig(opts as Partial<Record<keyof Config, unknown>>, process.env, storeOptions);
  // Checked before the key file is read or the database opened: both would make the directory.
  if (!config.database && !hasDatabase(config.dataDir)) {
    if (mode === "existing") throw missingDataDir(config.dataDir);
    process.stderr.write(`kiln: created a new data dir at ${path.resolve(config.dataDir)} (the server needs the same --data-dir / KILN_DATA_DIR)\n`);
  }
  // Loaded here, not at the top: Kysely and the drivers cost ~250 ms to load, which the HTTP
  // client commands (no store) and a usage error need not pay.
  const { openStore } = await import("../store/index.ts");
  const store = await openStore({ database: config.database, dataDir: config.dataDir, poolSize: 2, secretKey: loadSecretKey(config) });
  return { config, store };
}

import { Option, type Command } from "commander";
import { loadConfig, storeOptions, type Config, type OptionSpec } from "../config.ts";
import type { Store } from "../store/index.ts";
import { loadSecretKey } from "../secret-key.ts";

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

/** Opens the store an admin command works on (same data dir or database as the server). */
export async function storeFromOptions(opts: Record<string, unknown>): Promise<{ config: Config; store: Store }> {
  const config = loadConfig(opts as Partial<Record<keyof Config, unknown>>, process.env, storeOptions);
  // Loaded here, not at the top: Kysely and the drivers cost ~250 ms to load, which the HTTP
  // client commands (no store) and a usage error need not pay.
  const { openStore } = await import("../store/index.ts");
  const store = await openStore({ database: config.database, dataDir: config.dataDir, poolSize: 2, secretKey: loadSecretKey(config) });
  return { config, store };
}

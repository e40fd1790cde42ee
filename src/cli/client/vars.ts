/**
 * `kiln vars set|list|unset`: a trigger's build variables
 * (https://developers.cloudflare.com/workers/ci-cd/builds/configuration/#environment-variables),
 * on `--trigger UUID` or `--worker NAME` (its production trigger). Secrets are write-only: the
 * API answers them without a value, and `set KEY --secret` with no `=VALUE` reads the value from
 * stdin so it stays out of the shell's history and the process list.
 */
import type { Command } from "commander";
import { table, UsageError } from "../output.ts";
import { clientCommand, out, secretValue, session, type Opts } from "./client-command.ts";
import { envVarRows, ENV_VAR_COLUMNS, type EnvVarsView } from "./config-format.ts";
import { targetTrigger, triggerTarget } from "./triggers.ts";

/** `KEY=VALUE` arguments → the API's map; a lone `KEY` takes its value from stdin. */
export function parseAssignments(args: string[], secret: boolean, stdin: () => string): Record<string, { is_secret: boolean; value: string }> {
  if (args.length === 0) throw new UsageError("missing KEY=VALUE");
  const bare = args.filter((a) => !a.includes("="));
  if (bare.length > 0 && args.length > 1) throw new UsageError(`missing =VALUE in ${bare.map((a) => JSON.stringify(a)).join(", ")}: only a single KEY reads its value from stdin`);
  const vars: Record<string, { is_secret: boolean; value: string }> = Object.create(null);
  for (const arg of args) {
    const eq = arg.indexOf("=");
    const key = eq < 0 ? arg : arg.slice(0, eq);
    if (key === "") throw new UsageError(`invalid ${JSON.stringify(arg)}: KEY=VALUE with a non-empty KEY`);
    if (key in vars) throw new UsageError(`${key} is given twice`);
    vars[key] = { is_secret: secret, value: eq < 0 ? stdin() : arg.slice(eq + 1) };
  }
  return vars;
}

const readStdin = (): string => secretValue("-");

export function registerVars(program: Command): void {
  const vars = program.command("vars").description("a trigger's build variables and secrets (--trigger UUID, or --worker NAME for its production trigger)");

  triggerTarget(clientCommand(vars, "list", "the trigger's variables (secrets without their values)")).action(async (opts: Opts) => {
    const { api, account, json } = session(opts);
    const trigger = await targetTrigger(api, account, opts);
    const r = await api.request<EnvVarsView>("GET", `/accounts/${account}/builds/triggers/${trigger}/environment_variables`);
    out(json, r.result, table(envVarRows(r.result), ENV_VAR_COLUMNS));
  });

  triggerTarget(clientCommand(vars, "set", "add or replace variables (others are kept); they apply from the next build"))
    .argument("<KEY=VALUE...>", "each variable; a single KEY without =VALUE reads the value from stdin")
    .option("--secret", "store them as secrets: write-only, never answered, masked in build logs (from 4 characters on)")
    .action(async (args: string[], opts: Opts) => {
      const body = parseAssignments(args, opts.secret === true, readStdin);
      const { api, account, json } = session(opts);
      const trigger = await targetTrigger(api, account, opts);
      const r = await api.request<EnvVarsView>("PATCH", `/accounts/${account}/builds/triggers/${trigger}/environment_variables`, body);
      const keys = Object.keys(body);
      out(json, r.result, `set ${keys.join(", ")}${opts.secret ? " (secret)" : ""} on trigger ${trigger}`);
    });

  triggerTarget(clientCommand(vars, "unset", "delete variables"))
    .argument("<KEY...>")
    .action(async (keys: string[], opts: Opts) => {
      const { api, account, json } = session(opts);
      const trigger = await targetTrigger(api, account, opts);
      for (const key of keys) {
        await api.request<null>("DELETE", `/accounts/${account}/builds/triggers/${trigger}/environment_variables/${encodeURIComponent(key)}`);
      }
      out(json, { deleted: keys, trigger_uuid: trigger }, `unset ${keys.join(", ")} on trigger ${trigger}`);
    });
}

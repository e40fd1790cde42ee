/**
 * `kiln triggers list|create|update|delete` and `kiln cache purge`, over any Workers Builds API
 * (https://developers.cloudflare.com/api/resources/workers_builds/subresources/triggers/).
 * Every field of a trigger is a flag; `create` fills what is not given as Cloudflare's dashboard
 * does for a production trigger (branch `main`, deploy command `npx wrangler deploy`, root `/`,
 * path includes `*`); `update` sends only the flags given. A repeated list flag (`--branch-include
 * a --branch-include b`) is the whole new list; an empty value (`--path-exclude ''`) empties it.
 */
import type { Command } from "commander";
import { table, UsageError } from "../output.ts";
import type { ApiClient } from "./api-client.ts";
import { ClientError } from "./api-client.ts";
import { clientCommand, listOption, out, repeatable, requiredText, session, textOption, uuidArg, workerTag, type Opts } from "./client-command.ts";
import { triggerDetails, triggerRow, TRIGGER_COLUMNS, type TriggerView } from "./config-format.ts";

/** What Cloudflare's dashboard fills in for a new production trigger. */
export const TRIGGER_DEFAULTS = {
  branch: "main",
  build_command: "",
  deploy_command: "npx wrangler deploy",
  root_directory: "/",
  path_includes: ["*"],
} as const;

/** The flags of the fields `create` and `update` share. */
function settingsFlags(cmd: Command, creating: boolean): Command {
  const dflt = (text: string) => (creating ? ` (default ${text})` : "");
  return cmd
    .option("--name <name>", `trigger_name${dflt('"production", or "preview" when a branch include has *')}`)
    .option("--build-token <uuid>", "build_token_uuid: the build token builds deploy with (kiln build-tokens list)")
    .option("--build-command <command>", `build_command${dflt("none")}`)
    .option("--deploy-command <command>", `deploy_command${dflt(`"${TRIGGER_DEFAULTS.deploy_command}"`)}`)
    .option("--root-directory <dir>", `root_directory, where the commands run${dflt(`"${TRIGGER_DEFAULTS.root_directory}"`)}`)
    .addOption(repeatable("--branch-include <pattern>", `branch_includes, repeatable${dflt(TRIGGER_DEFAULTS.branch)}`))
    .addOption(repeatable("--branch-exclude <pattern>", `branch_excludes, repeatable${dflt("none")}`))
    .addOption(repeatable("--path-include <pattern>", `path_includes, repeatable${dflt("*")}`))
    .addOption(repeatable("--path-exclude <pattern>", `path_excludes, repeatable${dflt("none")}`))
    .option("--build-caching", "build_caching_enabled: reuse dependencies and build output between builds")
    .option("--no-build-caching", "build_caching_enabled: false");
}

/** The settings fields given on the command line (none of the create defaults). */
function settingsFrom(opts: Opts): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const set = (field: string, value: unknown) => {
    if (value !== undefined) body[field] = value;
  };
  set("trigger_name", textOption(opts, "name"));
  const token = textOption(opts, "buildToken");
  set("build_token_uuid", token === undefined ? undefined : uuidArg(token, "build token"));
  set("build_command", textOption(opts, "buildCommand"));
  set("deploy_command", textOption(opts, "deployCommand"));
  set("root_directory", textOption(opts, "rootDirectory"));
  set("branch_includes", listOption(opts, "branchInclude"));
  set("branch_excludes", listOption(opts, "branchExclude"));
  set("path_includes", listOption(opts, "pathInclude"));
  set("path_excludes", listOption(opts, "pathExclude"));
  set("build_caching_enabled", typeof opts.buildCaching === "boolean" ? opts.buildCaching : undefined);
  return body;
}

/**
 * A Worker's production trigger: of its live triggers, the first whose branch includes have no
 * `*` (a preview trigger includes every branch and excludes the production one), else the only
 * live one (a production trigger made to build every branch).
 */
export async function productionTrigger(api: ApiClient, account: string, worker: string): Promise<TriggerView> {
  const tag = await workerTag(api, account, worker);
  const r = await api.request<TriggerView[]>("GET", `/accounts/${account}/builds/workers/${tag}/triggers`);
  const live = r.result.filter((t) => !t.deleted_on);
  const production = live.find((t) => !t.branch_includes.some((p) => p.includes("*"))) ?? (live.length === 1 ? live[0] : undefined);
  if (!production) throw new ClientError(`Worker ${JSON.stringify(worker)} has no production trigger (make one with \`kiln connect\` or \`kiln triggers create\`)`);
  return production;
}

/** `--trigger UUID`, or `--worker NAME` for that Worker's production trigger. */
export async function targetTrigger(api: ApiClient, account: string, opts: Opts): Promise<string> {
  const trigger = textOption(opts, "trigger");
  const worker = textOption(opts, "worker");
  if (trigger !== undefined && worker !== undefined) throw new UsageError("give --trigger or --worker, not both");
  if (trigger !== undefined) return uuidArg(trigger, "trigger");
  if (worker === undefined) throw new UsageError("missing --trigger <uuid> (or --worker <name> for its production trigger)");
  return (await productionTrigger(api, account, worker)).trigger_uuid;
}

/** Adds `--trigger` and `--worker` to a command acting on one trigger. */
export function triggerTarget(cmd: Command): Command {
  return cmd.option("--trigger <uuid>", "the trigger").option("--worker <name|tag>", "… or this Worker's production trigger");
}

export function registerTriggers(program: Command): void {
  const triggers = program.command("triggers").description("triggers: what builds a Worker, from which branches and paths, and how");

  clientCommand(triggers, "list", "a Worker's triggers")
    .requiredOption("--worker <name|tag>", "the Worker, by name or tag")
    .action(async (opts: Opts) => {
      const { api, account, json } = session(opts);
      const tag = await workerTag(api, account, String(opts.worker));
      const r = await api.request<TriggerView[]>("GET", `/accounts/${account}/builds/workers/${tag}/triggers`);
      out(json, { result: r.result, result_info: r.result_info }, table(r.result.map(triggerRow), TRIGGER_COLUMNS));
    });

  settingsFlags(
    clientCommand(triggers, "create", "create a trigger (a Worker's first is its production trigger)")
      .requiredOption("--worker <name|tag>", "external_script_id: the Worker, by name or tag")
      .option("--repo-connection <uuid>", "repo_connection_uuid (kiln repos connect)"),
    true,
  ).action(async (opts: Opts) => {
    const { api, account, json } = session(opts);
    const connection = uuidArg(requiredText(opts, "repoConnection", "repo-connection"), "repo connection");
    requiredText(opts, "buildToken", "build-token");
    const given = settingsFrom(opts);
    // Named for what it is: a trigger including every branch (`*`) is a preview trigger.
    const includes = (given.branch_includes as string[] | undefined) ?? [TRIGGER_DEFAULTS.branch];
    const body = {
      external_script_id: await workerTag(api, account, String(opts.worker)),
      repo_connection_uuid: connection,
      trigger_name: includes.some((p) => p.includes("*")) ? "preview" : "production",
      build_command: TRIGGER_DEFAULTS.build_command,
      deploy_command: TRIGGER_DEFAULTS.deploy_command,
      root_directory: TRIGGER_DEFAULTS.root_directory,
      branch_includes: [TRIGGER_DEFAULTS.branch],
      branch_excludes: [],
      path_includes: [...TRIGGER_DEFAULTS.path_includes],
      path_excludes: [],
      ...given,
    };
    const r = await api.request<TriggerView>("POST", `/accounts/${account}/builds/triggers`, body);
    out(json, r.result, `created trigger ${r.result.trigger_uuid}\n${triggerDetails(r.result)}`);
  });

  settingsFlags(clientCommand(triggers, "update", "change a trigger's fields (only the flags given)").argument("<trigger-uuid>"), false).action(
    async (uuid: string, opts: Opts) => {
      const { api, account, json } = session(opts);
      uuidArg(uuid, "trigger");
      const body = settingsFrom(opts);
      if (Object.keys(body).length === 0) throw new UsageError("nothing to update: give at least one field flag (see kiln triggers update --help)");
      const r = await api.request<TriggerView>("PATCH", `/accounts/${account}/builds/triggers/${uuid}`, body);
      out(json, r.result, `updated trigger ${r.result.trigger_uuid}\n${triggerDetails(r.result)}`);
    },
  );

  clientCommand(triggers, "delete", "delete a trigger (its unfinished builds are cancelled)")
    .argument("<trigger-uuid>")
    .action(async (uuid: string, opts: Opts) => {
      const { api, account, json } = session(opts);
      const r = await api.request<null>("DELETE", `/accounts/${account}/builds/triggers/${uuidArg(uuid, "trigger")}`);
      out(json, r.result, `deleted trigger ${uuid}`);
    });

  const cache = program.command("cache").description("a trigger's build cache (dependencies and build output kept between builds)");
  triggerTarget(clientCommand(cache, "purge", "wipe a trigger's build cache: its next build starts cold")).action(async (opts: Opts) => {
    const { api, account, json } = session(opts);
    const trigger = await targetTrigger(api, account, opts);
    const r = await api.request<null>("POST", `/accounts/${account}/builds/triggers/${trigger}/purge_build_cache`);
    out(json, r.result, `purged the build cache of trigger ${trigger}`);
  });
}

/**
 * `kiln connect`: a Worker connected to its repository in one step, as Cloudflare's dashboard
 * does it (https://developers.cloudflare.com/workers/ci-cd/builds/#connect-an-existing-worker):
 * the repository connection, a build token (or one given), the production trigger, and on
 * request a preview trigger for every other branch. Prints what it made and how to run the first
 * build. Nothing is made when the Worker already has a production trigger; a step that fails
 * says on stderr what the steps before it made, so it can be reused or deleted.
 */
import type { Command } from "commander";
import { UsageError } from "../output.ts";
import { ClientError } from "./api-client.ts";
import { createBuildToken } from "./build-tokens.ts";
import { clientCommand, details, findWorker, listOption, out, repeatable, requiredText, secretValue, session, textOption, uuidArg, type Opts } from "./client-command.ts";
import type { BuildTokenView, RepoConnectionView, TriggerView } from "./config-format.ts";
import { connectRepo, repoFlags, repoFrom } from "./repos.ts";
import { TRIGGER_DEFAULTS } from "./triggers.ts";

/** What Cloudflare's dashboard used for builds of non-production branches: a version, not a deploy. */
export const PREVIEW_DEPLOY_COMMAND = "npx wrangler versions upload";

export function registerConnect(program: Command): void {
  repoFlags(clientCommand(program, "connect", "connect a Worker to a repository in one step: repo connection, build token, production trigger (--preview: and a preview trigger)"))
    .requiredOption("--worker <name|tag>", "the Worker (it must exist)")
    .option("--branch <branch>", `the production branch (default ${TRIGGER_DEFAULTS.branch})`)
    .option("--build-token <uuid>", "an existing build token to deploy with (kiln build-tokens list) …")
    .option("--cloudflare-token <token>", "… or a new one: the Cloudflare API token builds deploy with; - reads it from stdin")
    .option("--cloudflare-token-id <id>", "that API token's id (with --cloudflare-token)")
    .option("--build-token-name <name>", "the new build token's name (default \"<worker> builds\")")
    .option("--build-command <command>", "build_command (default none)")
    .option("--deploy-command <command>", `deploy_command (default "${TRIGGER_DEFAULTS.deploy_command}")`)
    .option("--root-directory <dir>", `root_directory (default "${TRIGGER_DEFAULTS.root_directory}")`)
    .addOption(repeatable("--path-include <pattern>", "path_includes, repeatable (default *)"))
    .addOption(repeatable("--path-exclude <pattern>", "path_excludes, repeatable (default none)"))
    .option("--no-build-caching", "build_caching_enabled: false (default true, as the dashboard)")
    .option("--preview", "also a preview trigger: every other branch, with --preview-deploy-command")
    .option("--preview-deploy-command <command>", `the preview trigger's deploy_command (default "${PREVIEW_DEPLOY_COMMAND}")`)
    .action(async (opts: Opts) => {
      const repo = repoFrom(opts);
      const existingToken = textOption(opts, "buildToken");
      const cfToken = textOption(opts, "cloudflareToken");
      if (existingToken !== undefined && cfToken !== undefined) throw new UsageError("give --build-token or --cloudflare-token, not both");
      if (existingToken === undefined && cfToken === undefined) {
        throw new UsageError("missing --build-token <uuid> (an existing build token) or --cloudflare-token <token> with --cloudflare-token-id <id> (a new one)");
      }
      if (existingToken !== undefined) uuidArg(existingToken, "build token");
      const cfTokenId = cfToken === undefined ? undefined : requiredText(opts, "cloudflareTokenId", "cloudflare-token-id");
      const branch = (textOption(opts, "branch") ?? TRIGGER_DEFAULTS.branch).trim();
      if (branch === "") throw new UsageError("empty --branch");

      const { api, account, json } = session(opts);
      const worker = await findWorker(api, account, String(opts.worker));
      const triggers = await api.request<TriggerView[]>("GET", `/accounts/${account}/builds/workers/${worker.tag}/triggers`);
      const live = triggers.result.filter((t) => !t.deleted_on);
      if (live.length > 0) {
        throw new ClientError(`Worker ${worker.id} is already connected (trigger ${live.map((t) => t.trigger_uuid).join(", ")}): change it with kiln triggers update, or delete its triggers first`);
      }

      const made: string[] = [];
      try {
        const connection: RepoConnectionView = await connectRepo(api, account, repo);
        made.push(`repo connection ${connection.repo_connection_uuid}`);
        let token: { build_token_uuid: string; build_token_name?: string; created?: BuildTokenView };
        if (existingToken !== undefined) token = { build_token_uuid: existingToken };
        else {
          const created = await createBuildToken(api, account, {
            build_token_name: textOption(opts, "buildTokenName") ?? `${worker.id} builds`,
            build_token_secret: secretValue(cfToken as string),
            cloudflare_token_id: cfTokenId as string,
          });
          made.push(`build token ${created.build_token_uuid}`);
          token = { ...created, created };
        }
        const settings = {
          external_script_id: worker.tag,
          repo_connection_uuid: connection.repo_connection_uuid,
          build_token_uuid: token.build_token_uuid,
          build_command: textOption(opts, "buildCommand") ?? TRIGGER_DEFAULTS.build_command,
          root_directory: textOption(opts, "rootDirectory") ?? TRIGGER_DEFAULTS.root_directory,
          path_includes: listOption(opts, "pathInclude") ?? [...TRIGGER_DEFAULTS.path_includes],
          path_excludes: listOption(opts, "pathExclude") ?? [],
          build_caching_enabled: opts.buildCaching !== false,
        };
        const production = (
          await api.request<TriggerView>("POST", `/accounts/${account}/builds/triggers`, {
            ...settings,
            trigger_name: `${worker.id} (production)`,
            deploy_command: textOption(opts, "deployCommand") ?? TRIGGER_DEFAULTS.deploy_command,
            branch_includes: [branch],
            branch_excludes: [],
          })
        ).result;
        made.push(`production trigger ${production.trigger_uuid}`);
        const preview = opts.preview
          ? (
              await api.request<TriggerView>("POST", `/accounts/${account}/builds/triggers`, {
                ...settings,
                trigger_name: `${worker.id} (preview)`,
                deploy_command: textOption(opts, "previewDeployCommand") ?? PREVIEW_DEPLOY_COMMAND,
                branch_includes: ["*"],
                branch_excludes: [branch],
              })
            ).result
          : undefined;

        const rows: [string, string][] = [
          ["worker", `${worker.id} (tag ${worker.tag})`],
          ["repository", `${connection.provider_type} ${connection.provider_account_name}/${connection.repo_name}: repo connection ${connection.repo_connection_uuid}`],
          ["build token", `${token.build_token_uuid}${token.created ? ` (new: ${token.created.build_token_name})` : ""}`],
          ["production trigger", `${production.trigger_uuid}: branch ${branch}, deploy "${production.deploy_command}"`],
        ];
        if (preview) rows.push(["preview trigger", `${preview.trigger_uuid}: every other branch, deploy "${preview.deploy_command}"`]);
        const next = [
          "",
          "Run the first build and follow its log:",
          `  kiln builds create --trigger ${production.trigger_uuid} --branch ${branch} --follow`,
          "Pushes build once the repository's webhook points at the server (on Kiln: docs/webhooks.md).",
        ];
        out(
          json,
          { worker: { id: worker.id, tag: worker.tag }, repo_connection: connection, build_token: token.created ?? { build_token_uuid: token.build_token_uuid }, production_trigger: production, preview_trigger: preview ?? null },
          `connected Worker ${worker.id} to ${connection.provider_account_name}/${connection.repo_name}\n${details(rows)}\n${next.join("\n")}`,
        );
      } catch (error) {
        if (made.length > 0) process.stderr.write(`kiln: made before the failure: ${made.join(", ")}\n`);
        throw error;
      }
    });
}

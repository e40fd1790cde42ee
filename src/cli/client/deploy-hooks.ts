/**
 * `kiln deploy-hooks create|list|delete`: URLs that start a build of a Worker's branch without
 * credentials, for a CMS or a cron job
 * (https://developers.cloudflare.com/workers/ci-cd/builds/deploy-hooks/). The API addresses
 * hooks by the Worker's name; the URL printed is Cloudflare's form under the API base in use:
 * `<api-url>/workers/builds/deploy_hooks/<uuid>`, started with a bare `POST`.
 */
import type { Command } from "commander";
import { table } from "../output.ts";
import { clientCommand, findWorker, out, requiredText, session, textOption, uuidArg, type Opts } from "./client-command.ts";
import { deployHookDetails, deployHookRow, deployHookUrl, DEPLOY_HOOK_COLUMNS, type DeployHookView } from "./config-format.ts";
import { TRIGGER_DEFAULTS } from "./triggers.ts";

export function registerDeployHooks(program: Command): void {
  const hooks = program.command("deploy-hooks").description("deploy hooks: a URL that starts a build of a Worker's branch, no credentials needed");
  const path = async (opts: Opts) => {
    const s = session(opts);
    const worker = await findWorker(s.api, s.account, String(opts.worker));
    return { ...s, base: `/accounts/${s.account}/builds/workers/${encodeURIComponent(worker.id)}/deploy_hooks` };
  };

  clientCommand(hooks, "create", "create a deploy hook and print its URL")
    .requiredOption("--worker <name|tag>", "the Worker")
    .option("--name <name>", "deploy_hook_name (1-58 characters, unique for the Worker)")
    .option("--branch <branch>", `branch its builds check out (default ${TRIGGER_DEFAULTS.branch})`)
    .action(async (opts: Opts) => {
      const name = requiredText(opts, "name", "name");
      const { api, json, base, apiUrl } = await path(opts);
      const r = await api.request<DeployHookView>("POST", base, { deploy_hook_name: name, branch: textOption(opts, "branch") ?? TRIGGER_DEFAULTS.branch });
      const url = deployHookUrl(apiUrl, r.result.deploy_hook_uuid);
      out(json, { ...r.result, url }, `created deploy hook ${r.result.deploy_hook_uuid}\n${deployHookDetails(r.result, apiUrl)}\n\nStart a build:\n  curl -X POST ${url}`);
    });

  clientCommand(hooks, "list", "a Worker's deploy hooks, with their URLs and latest builds")
    .requiredOption("--worker <name|tag>", "the Worker")
    .action(async (opts: Opts) => {
      const { api, json, base, apiUrl } = await path(opts);
      const r = await api.request<DeployHookView[]>("GET", base);
      out(json, { result: r.result.map((h) => ({ ...h, url: deployHookUrl(apiUrl, h.deploy_hook_uuid) })) }, table(r.result.map((h) => deployHookRow(h, apiUrl)), DEPLOY_HOOK_COLUMNS));
    });

  clientCommand(hooks, "delete", "delete a deploy hook: its URL starts nothing from now on")
    .requiredOption("--worker <name|tag>", "the Worker")
    .argument("<deploy-hook-uuid>")
    .action(async (uuid: string, opts: Opts) => {
      uuidArg(uuid, "deploy hook");
      const { api, json, base } = await path(opts);
      const r = await api.request<DeployHookView>("DELETE", `${base}/${uuid}`);
      out(json, r.result, `deleted deploy hook ${r.result.deploy_hook_uuid} (${r.result.deploy_hook_name})`);
    });
}

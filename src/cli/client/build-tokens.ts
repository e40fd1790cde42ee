/**
 * `kiln build-tokens create|list|delete`: the Cloudflare API tokens builds deploy with
 * (https://developers.cloudflare.com/workers/ci-cd/builds/configuration/#api-token). The secret
 * is write-only: `--secret -` reads it from stdin, and no answer ever carries it.
 */
import type { Command } from "commander";
import { table, UsageError } from "../output.ts";
import type { ApiClient } from "./api-client.ts";
import { clientCommand, out, requiredText, secretValue, session, uuidArg, type Opts } from "./client-command.ts";
import { buildTokenDetails, type BuildTokenView } from "./config-format.ts";

export interface BuildTokenInput {
  build_token_name: string;
  build_token_secret: string;
  cloudflare_token_id: string;
}

export async function createBuildToken(api: ApiClient, account: string, body: BuildTokenInput): Promise<BuildTokenView> {
  return (await api.request<BuildTokenView>("POST", `/accounts/${account}/builds/tokens`, body)).result;
}

export function registerBuildTokens(program: Command): void {
  const tokens = program.command("build-tokens").description("build tokens: the Cloudflare API token a build's deploy command gets as CLOUDFLARE_API_TOKEN");

  clientCommand(tokens, "create", "register a build token (its secret is never shown again)")
    .option("--name <name>", "build_token_name")
    .option("--secret <token>", "build_token_secret: the Cloudflare API token's value; - reads it from stdin")
    .option("--cloudflare-token-id <id>", "cloudflare_token_id: that API token's id (Cloudflare's GET /user/tokens/verify answers it)")
    .action(async (opts: Opts) => {
      const body = {
        build_token_name: requiredText(opts, "name", "name"),
        build_token_secret: secretValue(requiredText(opts, "secret", "secret")),
        cloudflare_token_id: requiredText(opts, "cloudflareTokenId", "cloudflare-token-id"),
      };
      if (body.build_token_secret === "") throw new UsageError("empty --secret");
      const { api, account, json } = session(opts);
      const created = await createBuildToken(api, account, body);
      out(json, created, `created build token ${created.build_token_uuid}\n${buildTokenDetails(created)}`);
    });

  clientCommand(tokens, "list", "the account's build tokens (never their secrets)")
    .option("--page <n>", "page number", "1")
    .option("--per-page <n>", "tokens a page (1-200)", "50")
    .action(async (opts: Opts) => {
      const page = Number(opts.page);
      const perPage = Number(opts.perPage);
      if (!Number.isInteger(page) || page < 1) throw new UsageError(`invalid --page ${JSON.stringify(String(opts.page))}: a whole number from 1`);
      if (!Number.isInteger(perPage) || perPage < 1 || perPage > 200) throw new UsageError(`invalid --per-page ${JSON.stringify(String(opts.perPage))}: a whole number from 1 to 200`);
      const { api, account, json } = session(opts);
      const r = await api.request<BuildTokenView[]>("GET", `/accounts/${account}/builds/tokens?page=${page}&per_page=${perPage}`);
      const info = r.result_info;
      const footer = info && info.total_count > r.result.length ? `\npage ${page} of ${info.total_pages ?? Math.ceil(info.total_count / info.per_page)} (${info.total_count} tokens)` : "";
      out(json, { result: r.result, result_info: info }, `${table(r.result, ["build_token_uuid", "build_token_name", "cloudflare_token_id", "owner_type"])}${footer}`);
    });

  clientCommand(tokens, "delete", "delete a build token (triggers using it cannot deploy until given another)")
    .argument("<build-token-uuid>")
    .action(async (uuid: string, opts: Opts) => {
      const { api, account, json } = session(opts);
      const r = await api.request<null>("DELETE", `/accounts/${account}/builds/tokens/${uuidArg(uuid, "build token")}`);
      out(json, r.result, `deleted build token ${uuid}`);
    });
}

/**
 * `kiln repos connect|delete`: repository connections, the link between an account and a GitHub
 * or GitLab repository that triggers build from
 * (https://developers.cloudflare.com/api/resources/workers_builds/subresources/repos/subresources/connections/).
 * One connection per provider and repository id: connecting again answers the same one.
 */
import type { Command } from "commander";
import { UsageError } from "../output.ts";
import type { ApiClient } from "./api-client.ts";
import { clientCommand, out, requiredText, session, textOption, uuidArg, type Opts } from "./client-command.ts";
import { connectionDetails, type RepoConnectionView } from "./config-format.ts";

const PROVIDERS = ["github", "gitlab", "gitlab_internal"];

export interface RepoInput {
  provider_type: string;
  provider_account_id: string;
  provider_account_name: string;
  repo_id: string;
  repo_name: string;
  grant_id?: string;
}

/** The repository flags of `repos connect` and `kiln connect`. */
export function repoFlags(cmd: Command): Command {
  return cmd
    .option("--provider <type>", `provider_type: ${PROVIDERS.join(", ")} (default github)`)
    .option("--owner <name>", "provider_account_name: the user, organisation or group owning the repository")
    .option("--owner-id <id>", "provider_account_id: its numeric id (GitHub: gh api users/<owner> --jq .id)")
    .option("--repo <name>", "repo_name; owner/name sets --owner too")
    .option("--repo-id <id>", "repo_id: the repository's numeric id, which webhooks are matched by (GitHub: gh api repos/<owner>/<name> --jq .id; GitLab: the project id)")
    .option("--grant-id <id>", "grant_id (gitlab_internal only)");
}

export function repoFrom(opts: Opts): RepoInput {
  const provider = textOption(opts, "provider") ?? "github";
  if (!PROVIDERS.includes(provider)) throw new UsageError(`invalid --provider ${JSON.stringify(provider)}: use ${PROVIDERS.join(", ")}`);
  let repo = requiredText(opts, "repo", "repo");
  let owner = textOption(opts, "owner");
  const slash = repo.indexOf("/");
  if (slash > 0 && owner === undefined) {
    owner = repo.slice(0, slash);
    repo = repo.slice(slash + 1);
  }
  if (owner === undefined || owner.trim() === "") throw new UsageError("missing required option --owner (or --repo owner/name)");
  const grant = textOption(opts, "grantId");
  return {
    provider_type: provider,
    provider_account_id: requiredText(opts, "ownerId", "owner-id"),
    provider_account_name: owner.trim(),
    repo_id: requiredText(opts, "repoId", "repo-id"),
    repo_name: repo,
    ...(grant === undefined ? {} : { grant_id: grant }),
  };
}

export async function connectRepo(api: ApiClient, account: string, body: RepoInput): Promise<RepoConnectionView> {
  return (await api.request<RepoConnectionView>("PUT", `/accounts/${account}/builds/repos/connections`, body)).result;
}

export function registerRepos(program: Command): void {
  const repos = program.command("repos").description("repository connections: which GitHub or GitLab repositories triggers build from");

  repoFlags(clientCommand(repos, "connect", "connect a repository (or answer its existing connection)")).action(async (opts: Opts) => {
    const body = repoFrom(opts);
    const { api, account, json } = session(opts);
    const connection = await connectRepo(api, account, body);
    out(json, connection, `connected ${connection.provider_account_name}/${connection.repo_name}\n${connectionDetails(connection)}`);
  });

  clientCommand(repos, "delete", "delete a repository connection")
    .argument("<repo-connection-uuid>")
    .action(async (uuid: string, opts: Opts) => {
      const { api, account, json } = session(opts);
      const r = await api.request<null>("DELETE", `/accounts/${account}/builds/repos/connections/${uuidArg(uuid, "repo connection")}`);
      out(json, r.result, `deleted repo connection ${uuid}`);
    });
}

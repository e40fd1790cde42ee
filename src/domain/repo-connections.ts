/**
 * Repository connections (#7, #8): one per provider_type + repo_id in an account. A PUT
 * creates it, or updates the names of the existing one and revives it when it was deleted;
 * a DELETE is soft (deleted_on), so triggers that use it still show it in full.
 */
import { errors } from "../errors.ts";
import type { RepoConnection } from "./config-types.ts";
import { nowIso } from "./ids.ts";
import type { Repositories } from "./ports.ts";
import { upsertRepoConnection, type RepoConnectionInput } from "./repo-connection-upsert.ts";

export type { RepoConnectionInput };

/** #7: create or update (and revive) the account's connection to the repository. */
export async function putRepoConnection(repos: Repositories, accountId: string, input: RepoConnectionInput): Promise<RepoConnection> {
  const grant = input.grant_id ?? null;
  if (input.provider_type === "gitlab_internal" && (grant === null || grant === "")) {
    throw errors.invalidBody("grant_id", "required for gitlab_internal");
  }
  return upsertRepoConnection(repos, accountId, { ...input, grant_id: grant });
}

/** #8: soft delete; unknown, already deleted and other accounts' connections are 404 12000. */
export async function deleteRepoConnection(repos: Repositories, accountId: string, uuid: string): Promise<void> {
  const connection = await repos.repoConnections.get(accountId, uuid);
  if (!connection || connection.deleted_on) throw errors.notFound();
  const now = nowIso();
  await repos.repoConnections.update({ ...connection, modified_on: now, deleted_on: now });
}

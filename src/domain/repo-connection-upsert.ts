/** Upsert of a repository connection: one per provider_type + repo_id in an account. */
import type { ProviderType, RepoConnection } from "./config-types.ts";
import { newUuid, nowIso } from "./ids.ts";
import type { Repositories } from "./ports.ts";

export interface RepoConnectionInput {
  provider_type: ProviderType;
  provider_account_id: string;
  provider_account_name: string;
  repo_id: string;
  repo_name: string;
  grant_id?: string | null | undefined;
}

export async function upsertRepoConnection(repos: Repositories, accountId: string, input: RepoConnectionInput): Promise<RepoConnection> {
  const now = nowIso();
  const existing = await repos.repoConnections.findByRepo(accountId, input.provider_type, input.repo_id);
  if (!existing) {
    const created: RepoConnection = {
      repo_connection_uuid: newUuid(),
      account_id: accountId,
      ...input,
      grant_id: input.grant_id ?? null,
      created_on: now,
      modified_on: now,
      deleted_on: null,
    };
    if (await repos.repoConnections.insert(created)) return created;
    // Lost a race with a concurrent upsert of the same repository: update its row instead.
    return upsertRepoConnection(repos, accountId, input);
  }
  const updated: RepoConnection = {
    ...existing,
    provider_account_id: input.provider_account_id,
    provider_account_name: input.provider_account_name,
    repo_name: input.repo_name,
    grant_id: input.grant_id ?? null,
    modified_on: now,
    deleted_on: null,
  };
  await repos.repoConnections.update(updated);
  return updated;
}

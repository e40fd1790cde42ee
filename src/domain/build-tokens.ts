/**
 * Build tokens (#10–#12): the Cloudflare API token a build deploys with. The secret is
 * write-only: it is sealed at rest by the repository, handed only to builds, and is in no
 * record this module returns. A delete is soft (deleted_on); deleted tokens are not listed.
 */
import { errors } from "../errors.ts";
import type { BuildToken } from "./config-types.ts";
import { newUuid, nowIso } from "./ids.ts";
import type { Repositories } from "./ports.ts";
import type { Page, Paged } from "./types.ts";

export interface BuildTokenInput {
  build_token_name: string;
  /** Write-only: stored sealed, never answered or logged. */
  build_token_secret: string;
  cloudflare_token_id: string;
}

/** #11: registers a token owned by the calling user (owner_type "user", as Cloudflare answers). */
export async function createBuildToken(repos: Repositories, accountId: string, input: BuildTokenInput): Promise<BuildToken> {
  const now = nowIso();
  const token: BuildToken = {
    build_token_uuid: newUuid(),
    account_id: accountId,
    build_token_name: input.build_token_name,
    cloudflare_token_id: input.cloudflare_token_id,
    owner_type: "user",
    created_on: now,
    modified_on: now,
    deleted_on: null,
  };
  await repos.buildTokens.insert(token, input.build_token_secret);
  return token;
}

/** #10: the account's live tokens, oldest first. */
export function listBuildTokens(repos: Pick<Repositories, "buildTokens">, accountId: string, page: Page): Promise<Paged<BuildToken>> {
  return repos.buildTokens.list(accountId, page);
}

/** #12: soft delete; unknown, already deleted and other accounts' tokens are 404 12000. */
export async function deleteBuildToken(repos: Repositories, accountId: string, uuid: string): Promise<void> {
  if (!(await repos.buildTokens.softDelete(accountId, uuid, nowIso()))) throw errors.notFound();
}

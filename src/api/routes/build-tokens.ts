/**
 * Build tokens: #10 list, #11 create, #12 delete. The secret is write-only: it is in no answer.
 * @see https://developers.cloudflare.com/api/resources/workers_builds/subresources/tokens/
 */
import { z } from "zod";
import type { BuildToken } from "../../domain/config-types.ts";
import { createBuildToken, deleteBuildToken, listBuildTokens } from "../../domain/build-tokens.ts";
import { pagedInfo, pageQuery } from "../pagination.ts";
import { defineRoute, ok } from "../route.ts";
import { accountParams, uuid } from "../schemas/common.ts";
import { buildToken } from "../schemas/config.ts";

const text = (max: number) => z.string().min(1, "must not be empty").max(max, `must be at most ${max} characters`);

const tokenBody = z.object({
  build_token_name: text(256),
  build_token_secret: text(4096),
  cloudflare_token_id: text(256),
});

const present = (t: BuildToken): z.input<typeof buildToken> => ({
  build_token_uuid: t.build_token_uuid,
  build_token_name: t.build_token_name,
  cloudflare_token_id: t.cloudflare_token_id,
  owner_type: t.owner_type,
});

export const listBuildTokensRoute = defineRoute({
  method: "GET",
  path: "/accounts/:account_id/builds/tokens",
  operationId: "listBuildTokens",
  summary: "The account's build tokens (never their secrets)",
  tag: "Build Tokens",
  auth: "read",
  params: accountParams,
  query: pageQuery,
  result: z.array(buildToken),
  async handler({ params, query, deps }) {
    const paged = await listBuildTokens(deps.store, params.account_id, query);
    return ok(paged.items.map(present), pagedInfo(query, paged));
  },
});

export const createBuildTokenRoute = defineRoute({
  method: "POST",
  path: "/accounts/:account_id/builds/tokens",
  operationId: "createBuildToken",
  summary: "Register a build token (its secret is stored encrypted and never returned)",
  tag: "Build Tokens",
  auth: "write",
  params: accountParams,
  body: tokenBody,
  result: buildToken,
  async handler({ params, body, deps }) {
    const token = await deps.store.transaction((repos) => createBuildToken(repos, params.account_id, body));
    return ok(present(token));
  },
});

export const deleteBuildTokenRoute = defineRoute({
  method: "DELETE",
  path: "/accounts/:account_id/builds/tokens/:build_token_uuid",
  operationId: "deleteBuildToken",
  summary: "Delete a build token (soft: it is no longer listed nor usable by builds)",
  tag: "Build Tokens",
  auth: "write",
  params: accountParams.extend({ build_token_uuid: uuid }),
  result: z.null(),
  async handler({ params, deps }) {
    await deps.store.transaction((repos) => deleteBuildToken(repos, params.account_id, params.build_token_uuid));
    return ok(null);
  },
});

export const buildTokenRoutes = [listBuildTokensRoute, createBuildTokenRoute, deleteBuildTokenRoute];

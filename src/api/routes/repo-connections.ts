/**
 * Repository connections: #7 upsert, #8 delete.
 * @see https://developers.cloudflare.com/api/resources/workers_builds/subresources/repos/subresources/connections/
 */
import { z } from "zod";
import { PROVIDER_TYPES } from "../../domain/config-types.ts";
import { deleteRepoConnection, putRepoConnection } from "../../domain/repo-connections.ts";
import { presentRepoConnection } from "../present.ts";
import { defineRoute, ok } from "../route.ts";
import { accountParams, uuid } from "../schemas/common.ts";
import { repoConnection } from "../schemas/config.ts";

/** The enum with a "required" message when missing (zod says "Invalid option" otherwise). */
const providerType = z.enum(PROVIDER_TYPES, {
  error: (issue) => (issue.input === undefined ? "required" : `must be one of ${PROVIDER_TYPES.join(", ")}`),
});
const text = z.string().min(1, "must not be empty").max(256, "must be at most 256 characters");

const connectionBody = z.object({
  provider_account_id: text,
  provider_account_name: text,
  provider_type: providerType,
  repo_id: text,
  repo_name: text,
  /** Required (non-empty) for gitlab_internal; checked by the domain. */
  grant_id: text.nullable().optional(),
});

export const upsertRepoConnectionRoute = defineRoute({
  method: "PUT",
  path: "/accounts/:account_id/builds/repos/connections",
  operationId: "upsertRepoConnection",
  summary: "Create or update a repository connection (one per provider_type + repo_id; revives a deleted one)",
  tag: "Repository Connections",
  auth: "write",
  params: accountParams,
  body: connectionBody,
  result: repoConnection,
  async handler({ params, body, deps }) {
    const connection = await deps.store.transaction((repos) => putRepoConnection(repos, params.account_id, body));
    return ok(presentRepoConnection(connection));
  },
});

export const deleteRepoConnectionRoute = defineRoute({
  method: "DELETE",
  path: "/accounts/:account_id/builds/repos/connections/:repo_connection_uuid",
  operationId: "deleteRepoConnection",
  summary: "Delete a repository connection (soft: deleted_on)",
  tag: "Repository Connections",
  auth: "write",
  params: accountParams.extend({ repo_connection_uuid: uuid }),
  result: z.null(),
  async handler({ params, deps }) {
    await deps.store.transaction((repos) => deleteRepoConnection(repos, params.account_id, params.repo_connection_uuid));
    return ok(null);
  },
});

export const repoConnectionRoutes = [upsertRepoConnectionRoute, deleteRepoConnectionRoute];

/**
 * Builds: #16 create (manual), #4 get, #21 list by Worker, #3 latest by Worker tags,
 * #2 by version ids, #6 logs, #5 cancel, #31 builds of a Preview.
 * @see https://developers.cloudflare.com/api/resources/workers_builds/subresources/builds/
 */
import { z } from "zod";
import type { Build } from "../../domain/build-types.ts";
import { idList, insertBuild, previewForBuild, requireBuild, retryBuild, triggerForBuild } from "../../domain/builds.ts";
import { cancelBuild } from "../../domain/cancel.ts";
import { decodeCursor, pageLogs, pageRange } from "../../domain/log-cursor.ts";
import type { Repositories } from "../../domain/ports.ts";
import { viewTrigger } from "../../domain/triggers.ts";
import { errors } from "../../errors.ts";
import { pagedInfo, pageQuery } from "../pagination.ts";
import { presentBuild, presentBuildTrigger, type PresentedTrigger } from "../present-build.ts";
import { defineRoute, ok } from "../route.ts";
import { build, buildLogs, buildsMap, canceledBuild, insertBuild as insertBuildSchema } from "../schemas/builds.ts";
import { accountParams, uuid } from "../schemas/common.ts";

const buildParams = accountParams.extend({ build_uuid: uuid });

/** Presents builds, reading and presenting each trigger and its variables once per request. */
async function present(repos: Repositories, builds: Build[]) {
  const shared = new Map<string, Promise<PresentedTrigger>>();
  return Promise.all(
    builds.map(async (b) => {
      let pending = shared.get(b.trigger_uuid);
      if (!pending) {
        pending = (async () => {
          const trigger = await repos.triggers.get(b.account_id, b.trigger_uuid);
          if (!trigger) throw new Error(`build ${b.build_uuid} refers to a missing trigger`);
          return presentBuildTrigger(await viewTrigger(repos, trigger), await repos.envVars.list("trigger", b.trigger_uuid));
        })();
        shared.set(b.trigger_uuid, pending);
      }
      return presentBuild(b, await pending);
    }),
  );
}

export const createManualBuild = defineRoute({
  method: "POST",
  path: "/accounts/:account_id/builds/triggers/:trigger_uuid/builds",
  operationId: "createManualBuild",
  summary: "Start a build of a branch and/or commit; answered at once with the queued build, the ref resolved through git when the build initializes",
  tag: "Triggers",
  auth: "write",
  params: accountParams.extend({ trigger_uuid: uuid }),
  body: z
    .object({
      branch: z.string().trim().min(1, "must not be empty").max(256, "must be at most 256 characters").optional(),
      commit_hash: z.string().trim().regex(/^[0-9a-fA-F]{4,64}$/, "must be a commit hash").optional(),
    })
    .refine((b) => b.branch !== undefined || b.commit_hash !== undefined, { message: "required (or commit_hash)", path: ["branch"] }),
  result: insertBuildSchema,
  async handler({ params, body, deps }) {
    // No git here: the runner resolves the ref (an unknown one fails the build, naming it).
    const created = await deps.store.transaction(async (repos) => {
      const current = await triggerForBuild(repos, params.account_id, params.trigger_uuid);
      return insertBuild(repos, { ...current, commit: { branch: body.branch, commit: body.commit_hash }, source: "api" });
    });
    deps.builds.signals.queued(created.build_uuid);
    return ok({ build_uuid: created.build_uuid, created_on: created.created_on });
  },
});

export const createPreviewBuild = defineRoute({
  method: "POST",
  path: "/accounts/:account_id/builds/workers/:script_tag/previews/:preview_id/builds",
  operationId: "createPreviewBuild",
  summary: "Start a build of one Preview (its branch unless a branch or commit is given)",
  tag: "Previews",
  auth: "write",
  kilnStatus: "inferred",
  params: accountParams.extend({ script_tag: z.string(), preview_id: z.string() }),
  body: z
    .object({
      branch: z.string().trim().min(1, "must not be empty").max(256, "must be at most 256 characters").optional(),
      commit_hash: z.string().trim().regex(/^[0-9a-fA-F]{4,64}$/, "must be a commit hash").optional(),
    })
    .optional(),
  result: insertBuildSchema,
  async handler({ params, body, deps }) {
    const created = await deps.store.transaction(async (repos) => {
      const { preview, trigger, connection } = await previewForBuild(repos, params.account_id, params.script_tag, params.preview_id);
      const commit = { branch: body?.branch ?? (body?.commit_hash ? undefined : preview.branch), commit: body?.commit_hash };
      return insertBuild(repos, { trigger, connection, commit, source: "api", previewId: preview.preview_id });
    });
    deps.builds.signals.queued(created.build_uuid);
    return ok({ build_uuid: created.build_uuid, created_on: created.created_on });
  },
});

export const getBuildByUuid = defineRoute({
  method: "GET",
  path: "/accounts/:account_id/builds/builds/:build_uuid",
  operationId: "getBuildByUuid",
  reuseAnswer: true,
  summary: "One build",
  tag: "Builds",
  auth: "read",
  params: buildParams,
  result: build,
  async handler({ params, deps }) {
    const b = await requireBuild(deps.store, params.account_id, params.build_uuid);
    const [presented] = await present(deps.store, [b]);
    if (!presented) throw new Error("unreachable: one build in, one answer out");
    return ok(presented);
  },
});

export const listBuildsByScript = defineRoute({
  method: "GET",
  path: "/accounts/:account_id/builds/workers/:external_script_id/builds",
  operationId: "listBuildsByScript",
  reuseAnswer: true,
  summary: "Builds of a Worker, newest first; Kiln extension filters: `branch` (exact) and `outcome` (a build_outcome, or `none` for unfinished builds)",
  tag: "Workers",
  auth: "read",
  params: accountParams.extend({ external_script_id: z.string() }),
  query: pageQuery.extend({
    branch: z.string().min(1, "must not be empty").max(256, "must be at most 256 characters").optional(),
    outcome: z.enum(["success", "fail", "skipped", "cancelled", "terminated", "none"], { error: "must be success, fail, skipped, cancelled, terminated or none" }).optional(),
  }),
  result: z.array(build),
  async handler({ params, query, deps }) {
    if (!(await deps.store.workers.getByTag(params.account_id, params.external_script_id))) throw errors.notFound();
    const filter = { ...(query.branch !== undefined ? { branch: query.branch } : {}), ...(query.outcome !== undefined ? { outcome: query.outcome } : {}) };
    const paged = await deps.store.builds.listByWorker(params.account_id, params.external_script_id, query, filter);
    return ok(await present(deps.store, paged.items), pagedInfo(query, paged));
  },
});

export const listBuildsByPreview = defineRoute({
  method: "GET",
  path: "/accounts/:account_id/builds/workers/:script_tag/previews/:preview_id/builds",
  operationId: "listBuildsByPreview",
  summary: "Builds of one Preview, newest first",
  tag: "Previews",
  auth: "read",
  kilnStatus: "inferred",
  params: accountParams.extend({ script_tag: z.string(), preview_id: z.string() }),
  query: pageQuery,
  result: z.array(build),
  async handler({ params, query, deps }) {
    if (!(await deps.store.previews.get(params.account_id, params.script_tag, params.preview_id))) throw errors.notFound();
    const paged = await deps.store.builds.listByPreview(params.account_id, params.preview_id, query);
    return ok(await present(deps.store, paged.items), pagedInfo(query, paged));
  },
});

export const getLatestBuildsByScripts = defineRoute({
  method: "GET",
  path: "/accounts/:account_id/builds/builds/latest",
  operationId: "getLatestBuildsByScripts",
  summary: "The latest build of each of up to 20 Worker tags",
  tag: "Builds",
  auth: "read",
  params: accountParams,
  query: z.object({ external_script_ids: z.string({ error: "required" }) }),
  result: buildsMap,
  async handler({ params, query, deps }) {
    const tags = idList(query.external_script_ids, "external_script_ids");
    const latest = await deps.store.builds.latestByWorkers(params.account_id, tags);
    const seen = new Set<string>();
    const unique = latest.filter((b) => !seen.has(b.worker_tag) && seen.add(b.worker_tag));
    const presented = await present(deps.store, unique);
    return ok({ builds: Object.fromEntries(presented.map((p, i) => [unique[i]?.worker_tag ?? "", p])) });
  },
});

export const getBuildsByVersionIds = defineRoute({
  method: "GET",
  path: "/accounts/:account_id/builds/builds",
  operationId: "getBuildsByVersionIds",
  summary: "Builds that produced up to 20 Worker version ids",
  tag: "Builds",
  auth: "read",
  params: accountParams,
  query: z.object({ version_ids: z.string({ error: "required" }) }),
  result: buildsMap,
  async handler({ params, query, deps }) {
    const ids = idList(query.version_ids, "version_ids");
    const found = await deps.store.builds.byVersionIds(params.account_id, ids);
    const presented = await present(deps.store, found);
    return ok({ builds: Object.fromEntries(presented.map((p, i) => [found[i]?.version_id ?? "", p])) });
  },
});

export const getBuildLogs = defineRoute({
  method: "GET",
  path: "/accounts/:account_id/builds/builds/:build_uuid/logs",
  operationId: "getBuildLogs",
  summary: "Log lines from a cursor; `truncated` while more lines exist now",
  tag: "Builds",
  auth: "read",
  params: buildParams,
  query: z.object({ cursor: z.string().optional() }),
  result: buildLogs,
  async handler({ params, query, deps }) {
    const b = await requireBuild(deps.store, params.account_id, params.build_uuid);
    const cursor = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    if (query.cursor !== undefined && !cursor) throw errors.invalidQuery("cursor", "malformed cursor");
    const { from, limit } = pageRange(b.log_lines, cursor);
    const lines = limit > 0 ? await deps.store.builds.readLogs(b.build_uuid, from, limit) : [];
    return ok({ ...pageLogs(b.log_lines, cursor, lines), events: [] });
  },
});

export const cancelBuildByUuid = defineRoute({
  method: "PUT",
  path: "/accounts/:account_id/builds/builds/:build_uuid/cancel",
  operationId: "cancelBuildByUuid",
  summary: "Cancel a queued or running build; answers once the build is stopped",
  tag: "Builds",
  auth: "write",
  params: buildParams,
  result: canceledBuild,
  async handler({ params, deps, principal }) {
    return ok(await cancelBuild(deps.store, deps.builds.signals, params.account_id, params.build_uuid, principal, deps.builds.cancel));
  },
});

export const retryBuildByUuid = defineRoute({
  method: "POST",
  path: "/accounts/:account_id/builds/builds/:build_uuid/retry",
  operationId: "retryBuildByUuid",
  summary: "Start a new build of the same commit and branch with the configuration as it is now",
  tag: "Builds",
  auth: "write",
  kilnStatus: "extension",
  params: buildParams,
  result: insertBuildSchema,
  async handler({ params, deps }) {
    const created = await deps.store.transaction((repos) => retryBuild(repos, params.account_id, params.build_uuid));
    deps.builds.signals.queued(created.build_uuid);
    return ok({ build_uuid: created.build_uuid, created_on: created.created_on });
  },
});

export const buildRoutes = [
  retryBuildByUuid,
  createManualBuild,
  createPreviewBuild,
  getBuildsByVersionIds,
  getLatestBuildsByScripts,
  getBuildByUuid,
  listBuildsByScript,
  listBuildsByPreview,
  getBuildLogs,
  cancelBuildByUuid,
];

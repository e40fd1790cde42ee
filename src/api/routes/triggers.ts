/**
 * Triggers: #13 create, #14 update, #15 delete, #17 purge build cache, #22 list by Worker.
 * @see https://developers.cloudflare.com/api/resources/workers_builds/subresources/triggers/
 */
import { z } from "zod";
import {
  createTrigger,
  deleteTrigger,
  listTriggersOfWorker,
  purgeBuildCache,
  updateTrigger,
  viewTrigger,
} from "../../domain/triggers.ts";
import { presentTrigger } from "../present.ts";
import { defineRoute, ok } from "../route.ts";
import { accountParams, uuid } from "../schemas/common.ts";
import { branchExcludeList, patternList, trigger } from "../schemas/config.ts";

const triggerParams = accountParams.extend({ trigger_uuid: uuid });
const text = (max: number) => z.string().max(max, `must be at most ${max} characters`);

const triggerBody = z.object({
  external_script_id: z.string().min(1, "must not be empty").max(64, "must be at most 64 characters"),
  trigger_name: text(256).min(1, "must not be empty"),
  repo_connection_uuid: uuid,
  build_token_uuid: uuid,
  build_command: text(512),
  deploy_command: text(512),
  root_directory: text(256),
  branch_includes: patternList,
  branch_excludes: branchExcludeList,
  path_includes: patternList,
  path_excludes: patternList,
  build_caching_enabled: z.boolean().optional(),
});

const triggerPatch = triggerBody.omit({ external_script_id: true, repo_connection_uuid: true }).partial();

export const createTriggerRoute = defineRoute({
  method: "POST",
  path: "/accounts/:account_id/builds/triggers",
  operationId: "createTrigger",
  summary: "Create a trigger (the Worker's production trigger first, then its preview trigger)",
  tag: "Triggers",
  auth: "write",
  params: accountParams,
  body: triggerBody,
  result: trigger,
  async handler({ params, body, deps }) {
    const view = await deps.store.transaction(async (repos) => viewTrigger(repos, await createTrigger(repos, params.account_id, body)));
    return ok(presentTrigger(view));
  },
});

export const updateTriggerRoute = defineRoute({
  method: "PATCH",
  path: "/accounts/:account_id/builds/triggers/:trigger_uuid",
  operationId: "updateTrigger",
  summary: "Partially update a trigger",
  tag: "Triggers",
  auth: "write",
  params: triggerParams,
  body: triggerPatch,
  result: trigger,
  async handler({ params, body, deps }) {
    const view = await deps.store.transaction(async (repos) =>
      viewTrigger(repos, await updateTrigger(repos, params.account_id, params.trigger_uuid, body)),
    );
    return ok(presentTrigger(view));
  },
});

export const deleteTriggerRoute = defineRoute({
  method: "DELETE",
  path: "/accounts/:account_id/builds/triggers/:trigger_uuid",
  operationId: "deleteTrigger",
  summary: "Delete a trigger (soft: deleted_on) and cancel its unfinished builds",
  tag: "Triggers",
  auth: "write",
  params: triggerParams,
  result: z.null(),
  async handler({ params, deps, principal }) {
    await deps.store.transaction((repos) => deleteTrigger(repos, params.account_id, params.trigger_uuid));
    await deps.builds.hooks.cancelUnfinishedBuilds(params.account_id, params.trigger_uuid, principal);
    return ok(null);
  },
});

export const purgeBuildCacheRoute = defineRoute({
  method: "POST",
  path: "/accounts/:account_id/builds/triggers/:trigger_uuid/purge_build_cache",
  operationId: "purgeBuildCache",
  summary: "Wipe the trigger's build cache",
  tag: "Triggers",
  auth: "write",
  params: triggerParams,
  result: z.null(),
  async handler({ params, deps }) {
    await deps.store.transaction((repos) => purgeBuildCache(repos, params.account_id, params.trigger_uuid));
    return ok(null);
  },
});

export const listTriggersRoute = defineRoute({
  method: "GET",
  path: "/accounts/:account_id/builds/workers/:external_script_id/triggers",
  operationId: "listTriggersByScript",
  summary: "Triggers of a Worker (soft-deleted ones included, with deleted_on set)",
  tag: "Triggers",
  auth: "read",
  params: accountParams.extend({ external_script_id: z.string() }),
  result: z.array(trigger),
  async handler({ params, deps }) {
    const repos = deps.store;
    const triggers = await listTriggersOfWorker(repos, params.account_id, params.external_script_id);
    const views = await Promise.all(triggers.map((t) => viewTrigger(repos, t)));
    return ok(views.map(presentTrigger));
  },
});

export const triggerRoutes = [createTriggerRoute, updateTriggerRoute, deleteTriggerRoute, purgeBuildCacheRoute, listTriggersRoute];

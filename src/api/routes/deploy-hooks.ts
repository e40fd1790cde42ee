/**
 * Deploy hooks: #33 list, #34 create, #35 get, #36 replace, #37 delete, under the Worker's
 * name. (The unauthenticated trigger, #38, lives with the builds.)
 * @see https://developers.cloudflare.com/api/resources/workers_builds/subresources/workers/subresources/deploy_hooks/
 */
import { z } from "zod";
import type { DeployHook } from "../../domain/config-types.ts";
import {
  createDeployHook,
  deleteDeployHook,
  getDeployHook,
  listDeployHooks,
  updateDeployHook,
} from "../../domain/deploy-hooks.ts";
import { defineRoute, ok } from "../route.ts";
import { accountParams, uuid } from "../schemas/common.ts";
import { deployHook, detailedDeployHook } from "../schemas/config.ts";

const workerParams = accountParams.extend({ script_name: z.string() });
const hookParams = workerParams.extend({ deploy_hook_uuid: uuid });

const trimmed = (max: number) =>
  z.string().trim().min(1, "must not be empty").max(max, `must be at most ${max} characters`);
const hookBody = z.object({ deploy_hook_name: trimmed(58), branch: trimmed(256) });

const present = (h: DeployHook): z.input<typeof deployHook> => ({
  deploy_hook_uuid: h.deploy_hook_uuid,
  deploy_hook_name: h.deploy_hook_name,
  branch: h.branch,
  external_script_id: h.worker_tag,
  created_on: h.created_on,
  modified_on: h.modified_on,
});

export const listDeployHooksRoute = defineRoute({
  method: "GET",
  path: "/accounts/:account_id/builds/workers/:script_name/deploy_hooks",
  operationId: "listDeployHooks",
  summary: "The Worker's deploy hooks, each with its latest build",
  tag: "Deploy Hooks",
  auth: "read",
  params: workerParams,
  result: z.array(detailedDeployHook),
  async handler({ params, deps }) {
    const hooks = await listDeployHooks(deps.store, params.account_id, params.script_name);
    return ok(hooks.map((d) => ({ ...present(d.hook), latest_build: d.latestBuild })));
  },
});

export const createDeployHookRoute = defineRoute({
  method: "POST",
  path: "/accounts/:account_id/builds/workers/:script_name/deploy_hooks",
  operationId: "createDeployHook",
  summary: "Create a deploy hook (names are unique within the Worker)",
  tag: "Deploy Hooks",
  auth: "write",
  params: workerParams,
  body: hookBody,
  result: deployHook,
  async handler({ params, body, deps }) {
    const hook = await deps.store.transaction((repos) => createDeployHook(repos, params.account_id, params.script_name, body));
    return ok(present(hook));
  },
});

export const getDeployHookRoute = defineRoute({
  method: "GET",
  path: "/accounts/:account_id/builds/workers/:script_name/deploy_hooks/:deploy_hook_uuid",
  operationId: "getDeployHook",
  summary: "One deploy hook",
  tag: "Deploy Hooks",
  auth: "read",
  params: hookParams,
  result: deployHook,
  async handler({ params, deps }) {
    return ok(present(await getDeployHook(deps.store, params.account_id, params.script_name, params.deploy_hook_uuid)));
  },
});

export const updateDeployHookRoute = defineRoute({
  method: "PUT",
  path: "/accounts/:account_id/builds/workers/:script_name/deploy_hooks/:deploy_hook_uuid",
  operationId: "updateDeployHook",
  summary: "Replace a deploy hook's name and branch",
  tag: "Deploy Hooks",
  auth: "write",
  params: hookParams,
  body: hookBody,
  result: deployHook,
  async handler({ params, body, deps }) {
    const hook = await deps.store.transaction((repos) =>
      updateDeployHook(repos, params.account_id, params.script_name, params.deploy_hook_uuid, body),
    );
    return ok(present(hook));
  },
});

export const deleteDeployHookRoute = defineRoute({
  method: "DELETE",
  path: "/accounts/:account_id/builds/workers/:script_name/deploy_hooks/:deploy_hook_uuid",
  operationId: "deleteDeployHook",
  summary: "Delete a deploy hook (answers the deleted hook)",
  tag: "Deploy Hooks",
  auth: "write",
  params: hookParams,
  result: deployHook,
  async handler({ params, deps }) {
    const hook = await deps.store.transaction((repos) =>
      deleteDeployHook(repos, params.account_id, params.script_name, params.deploy_hook_uuid),
    );
    return ok(present(hook));
  },
});

export const deployHookRoutes = [
  listDeployHooksRoute,
  createDeployHookRoute,
  getDeployHookRoute,
  updateDeployHookRoute,
  deleteDeployHookRoute,
];

/**
 * Deploy hooks (#33–#37), managed under the Worker's *name*; the unauthenticated trigger
 * (#38) finds a hook by its UUID alone. A hook's name is unique within its Worker (409 12010).
 * A delete is a real delete: afterwards the UUID can no longer start builds.
 */
import { errors } from "../errors.ts";
import type { DeployHook } from "./config-types.ts";
import { newUuid, nowIso } from "./ids.ts";
import type { Repositories } from "./ports.ts";
import type { Worker } from "./types.ts";

/** Body of #34 and #36 (already trimmed and length-checked by the HTTP layer). */
export interface DeployHookInput {
  deploy_hook_name: string;
  branch: string;
}

/** A hook with the creation time of its latest build (#33's `latest_build`). */
export interface DetailedDeployHook {
  hook: DeployHook;
  latestBuild: { created_on: string } | null;
}

/** The Worker a deploy-hook path names, or 404 12000. */
export async function requireWorkerByName(repos: Repositories, accountId: string, scriptName: string): Promise<Worker> {
  const worker = await repos.workers.getByName(accountId, scriptName);
  if (!worker) throw errors.notFound();
  return worker;
}

async function requireHook(repos: Repositories, accountId: string, scriptName: string, uuid: string): Promise<DeployHook> {
  const worker = await requireWorkerByName(repos, accountId, scriptName);
  const hook = await repos.deployHooks.get(accountId, worker.tag, uuid);
  if (!hook) throw errors.notFound();
  return hook;
}

/** The latest build each hook started, by hook UUID (hooks without builds are absent). */
export async function latestBuildsOfHooks(
  repos: Repositories,
  accountId: string,
  hooks: DeployHook[],
): Promise<Map<string, { created_on: string }>> {
  const latest = await repos.builds.latestByDeployHooks(accountId, hooks.map((h) => h.deploy_hook_uuid));
  return new Map([...latest].map(([uuid, created_on]) => [uuid, { created_on }]));
}

/** #33: the Worker's hooks, oldest first, each with its latest build. */
export async function listDeployHooks(repos: Repositories, accountId: string, scriptName: string): Promise<DetailedDeployHook[]> {
  const worker = await requireWorkerByName(repos, accountId, scriptName);
  const hooks = await repos.deployHooks.list(accountId, worker.tag);
  const latest = await latestBuildsOfHooks(repos, accountId, hooks);
  return hooks.map((hook) => ({ hook, latestBuild: latest.get(hook.deploy_hook_uuid) ?? null }));
}

/** #34: a new hook; a name the Worker already uses is 409 12010. */
export async function createDeployHook(repos: Repositories, accountId: string, scriptName: string, input: DeployHookInput): Promise<DeployHook> {
  const worker = await requireWorkerByName(repos, accountId, scriptName);
  if (await repos.deployHooks.findByName(accountId, worker.tag, input.deploy_hook_name)) throw errors.alreadyExists();
  const now = nowIso();
  const hook: DeployHook = {
    deploy_hook_uuid: newUuid(),
    account_id: accountId,
    worker_tag: worker.tag,
    deploy_hook_name: input.deploy_hook_name,
    branch: input.branch,
    created_on: now,
    modified_on: now,
  };
  await repos.deployHooks.insert(hook);
  return hook;
}

/** #35. */
export function getDeployHook(repos: Repositories, accountId: string, scriptName: string, uuid: string): Promise<DeployHook> {
  return requireHook(repos, accountId, scriptName, uuid);
}

/** #36: replaces name and branch; renaming onto another hook's name is 409 12010. */
export async function updateDeployHook(
  repos: Repositories,
  accountId: string,
  scriptName: string,
  uuid: string,
  input: DeployHookInput,
): Promise<DeployHook> {
  const hook = await requireHook(repos, accountId, scriptName, uuid);
  const clash = await repos.deployHooks.findByName(accountId, hook.worker_tag, input.deploy_hook_name);
  if (clash && clash.deploy_hook_uuid !== hook.deploy_hook_uuid) throw errors.alreadyExists();
  const updated: DeployHook = { ...hook, deploy_hook_name: input.deploy_hook_name, branch: input.branch, modified_on: nowIso() };
  await repos.deployHooks.update(updated);
  return updated;
}

/** #37: deletes the hook and answers it as it was. */
export async function deleteDeployHook(repos: Repositories, accountId: string, scriptName: string, uuid: string): Promise<DeployHook> {
  const hook = await requireHook(repos, accountId, scriptName, uuid);
  await repos.deployHooks.remove(accountId, hook.deploy_hook_uuid);
  return hook;
}

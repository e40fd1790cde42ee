/**
 * Triggers (https://developers.cloudflare.com/workers/ci-cd/builds/build-branches/): every trigger has a role. The first live trigger of a Worker
 * is its production trigger, the second its preview (legacy non-production) trigger; a third
 * is 409 12011. A Worker's build configuration (#23–#27) reads and writes the same rows, so
 * the two views always agree.
 */
import { errors } from "../errors.ts";
import type { BuildSettings, RepoConnection, Trigger, TriggerRole } from "./config-types.ts";
import { DEFAULT_BUILD_CACHING, LIMITS } from "./config-types.ts";
import { newUuid, nowIso } from "./ids.ts";
import type { Repositories } from "./ports.ts";
import type { Principal } from "./types.ts";

export interface TriggerInput extends Omit<BuildSettings, "build_caching_enabled"> {
  external_script_id: string;
  trigger_name: string;
  repo_connection_uuid: string;
  branch_includes: string[];
  branch_excludes: string[];
  build_caching_enabled?: boolean;
}

export type TriggerPatch = Partial<Omit<TriggerInput, "external_script_id" | "repo_connection_uuid">>;

/**
 * What happens to a trigger's builds when the trigger goes away: its unfinished builds are
 * cancelled, like a user's cancel. Called after the deleting transaction has committed
 * (a cancel waits for runners, which must see the trigger gone).
 */
export interface TriggerLifecycleHooks {
  cancelUnfinishedBuilds(accountId: string, triggerUuid: string, by: Principal | undefined): Promise<void>;
}

/** Live (not soft-deleted) triggers of a Worker, production first. */
export async function liveTriggers(repos: Repositories, accountId: string, workerTag: string): Promise<Trigger[]> {
  const all = await repos.triggers.listByWorker(accountId, workerTag);
  return all.filter((t) => t.deleted_on === null).sort((a, b) => (a.role === b.role ? 0 : a.role === "production" ? -1 : 1));
}

export async function requireLiveConnection(repos: Repositories, accountId: string, uuid: string, field: string): Promise<RepoConnection> {
  const connection = await repos.repoConnections.get(accountId, uuid);
  if (!connection || connection.deleted_on) throw errors.invalidBody(field, "no repository connection with this id in the account");
  return connection;
}

export async function requireLiveBuildToken(repos: Repositories, accountId: string, uuid: string, field: string): Promise<void> {
  const token = await repos.buildTokens.get(accountId, uuid);
  if (!token || token.deleted_on) throw errors.invalidBody(field, "no build token with this id in the account (deleted?)");
}

/** The role a new trigger of this Worker gets, or 409 12011 when it has two already. */
export async function nextRole(repos: Repositories, accountId: string, workerTag: string): Promise<TriggerRole> {
  const live = await liveTriggers(repos, accountId, workerTag);
  if (live.length >= LIMITS.triggersPerWorker) throw errors.triggerLimit();
  return live.some((t) => t.role === "production") ? "preview" : "production";
}

export async function createTrigger(repos: Repositories, accountId: string, input: TriggerInput): Promise<Trigger> {
  const worker = await repos.workers.getByTag(accountId, input.external_script_id);
  if (!worker) throw errors.invalidBody("external_script_id", "no Worker with this tag in the account");
  await requireLiveConnection(repos, accountId, input.repo_connection_uuid, "repo_connection_uuid");
  await requireLiveBuildToken(repos, accountId, input.build_token_uuid, "build_token_uuid");
  const role = await nextRole(repos, accountId, worker.tag);
  const now = nowIso();
  const trigger: Trigger = {
    trigger_uuid: newUuid(),
    account_id: accountId,
    external_script_id: worker.tag,
    role,
    trigger_name: input.trigger_name,
    repo_connection_uuid: input.repo_connection_uuid,
    build_token_uuid: input.build_token_uuid,
    build_command: input.build_command,
    deploy_command: input.deploy_command,
    root_directory: input.root_directory,
    branch_includes: input.branch_includes,
    branch_excludes: input.branch_excludes,
    path_includes: input.path_includes,
    path_excludes: input.path_excludes,
    build_caching_enabled: input.build_caching_enabled ?? DEFAULT_BUILD_CACHING,
    cache_generation: 0,
    created_on: now,
    modified_on: now,
    deleted_on: null,
  };
  await repos.triggers.insert(trigger);
  return trigger;
}

/** A live trigger of the account, or 404 12000 (missing, deleted and foreign look the same). */
export async function requireLiveTrigger(repos: Repositories, accountId: string, uuid: string): Promise<Trigger> {
  const trigger = await repos.triggers.get(accountId, uuid);
  if (!trigger || trigger.deleted_on) throw errors.notFound();
  return trigger;
}

export async function updateTrigger(repos: Repositories, accountId: string, uuid: string, patch: TriggerPatch): Promise<Trigger> {
  const trigger = await requireLiveTrigger(repos, accountId, uuid);
  if (patch.build_token_uuid !== undefined && patch.build_token_uuid !== trigger.build_token_uuid) {
    await requireLiveBuildToken(repos, accountId, patch.build_token_uuid, "build_token_uuid");
  }
  const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as TriggerPatch;
  const updated: Trigger = { ...trigger, ...defined, modified_on: nowIso() };
  await repos.triggers.update(updated);
  return updated;
}

/** Soft-deletes the trigger; the caller then cancels its unfinished builds (TriggerLifecycleHooks). */
export async function deleteTrigger(repos: Repositories, accountId: string, uuid: string): Promise<void> {
  await requireLiveTrigger(repos, accountId, uuid);
  await repos.triggers.softDelete(accountId, uuid, nowIso());
  await repos.envVars.removeAll("trigger", uuid);
}

/** #17: later builds start without the cache; runners drop copies of older generations. */
export async function purgeBuildCache(repos: Repositories, accountId: string, uuid: string): Promise<void> {
  await requireLiveTrigger(repos, accountId, uuid);
  await repos.triggers.bumpCacheGeneration(accountId, uuid, nowIso());
}

export async function listTriggersOfWorker(repos: Repositories, accountId: string, workerTag: string): Promise<Trigger[]> {
  const worker = await repos.workers.getByTag(accountId, workerTag);
  if (!worker) throw errors.notFound();
  return repos.triggers.listByWorker(accountId, workerTag);
}

/** A trigger with what its answer needs: the full repo connection and the token's name. */
export interface TriggerView {
  trigger: Trigger;
  connection: RepoConnection;
  buildTokenName: string;
}

export async function viewTrigger(repos: Repositories, trigger: Trigger): Promise<TriggerView> {
  const connection = await repos.repoConnections.get(trigger.account_id, trigger.repo_connection_uuid);
  // The foreign key guarantees the row; soft-deleted connections still answer in full.
  if (!connection) throw new Error(`trigger ${trigger.trigger_uuid} refers to a missing repo connection`);
  const token = await repos.buildTokens.get(trigger.account_id, trigger.build_token_uuid);
  return { trigger, connection, buildTokenName: token?.build_token_name ?? "" };
}

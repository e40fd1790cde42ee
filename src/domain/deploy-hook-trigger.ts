/**
 * #38: a deploy hook starts a build of its branch
 * (https://developers.cloudflare.com/workers/ci-cd/builds/deploy-hooks/). The
 * UUID is the secret. While the hook's own previous build is queued or initializing, the call
 * answers that build (`already_exists: true`) instead of starting another.
 */
import { errors } from "../errors.ts";
import type { Build } from "./build-types.ts";
import { insertBuild } from "./builds.ts";
import type { Repositories, StorePort } from "./ports.ts";
import type { SlidingWindowLimiter } from "./rate-limit.ts";
import { liveTriggers } from "./triggers.ts";

export interface HookTriggerResult {
  already_exists: boolean;
  build: Build;
}

export const HOOK_LIMIT_PER_WORKER = 10;
export const HOOK_LIMIT_PER_ACCOUNT = 100;

async function pending(repos: Repositories, hookUuid: string): Promise<Build | undefined> {
  const latest = await repos.builds.latestOfHook(hookUuid);
  return latest && (latest.status === "queued" || latest.status === "initializing") ? latest : undefined;
}

export async function triggerDeployHook(
  store: StorePort,
  limiter: SlidingWindowLimiter,
  hookUuid: string,
): Promise<HookTriggerResult> {
  const hook = await store.deployHooks.getByUuid(hookUuid);
  if (!hook) throw errors.notFound();
  const waiting = await pending(store, hook.deploy_hook_uuid);
  if (waiting) return { already_exists: true, build: waiting };

  const retryMs = limiter.take([
    [`worker:${hook.worker_tag}`, HOOK_LIMIT_PER_WORKER],
    [`account:${hook.account_id}`, HOOK_LIMIT_PER_ACCOUNT],
  ]);
  if (retryMs > 0) throw errors.tooManyRequests(retryMs / 1000);

  // The production trigger builds the production branch; other branches the preview trigger (else production).
  const live = await liveTriggers(store, hook.account_id, hook.worker_tag);
  const production = live.find((t) => t.role === "production");
  if (!production) throw errors.noBuildConfig();
  const trigger = production.branch_includes[0] === hook.branch ? production : (live.find((t) => t.role === "preview") ?? production);
  const connection = await store.repoConnections.get(hook.account_id, trigger.repo_connection_uuid);
  if (!connection) throw errors.notFound();

  return store.transaction(async (repos) => {
    // Checked again under the write lock: two calls at once start one build.
    const raced = await pending(repos, hook.deploy_hook_uuid);
    if (raced) return { already_exists: true, build: raced };
    const build = await insertBuild(repos, {
      trigger,
      connection,
      // Resolved when the build initializes; a branch gone from the repository fails the build.
      commit: { branch: hook.branch },
      source: "api",
      deployHook: { uuid: hook.deploy_hook_uuid, name: hook.deploy_hook_name },
    });
    return { already_exists: false, build };
  });
}

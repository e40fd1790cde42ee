/**
 * #38 triggerDeployHook: no authentication; the hook's UUID is the secret.
 * @see https://developers.cloudflare.com/workers/ci-cd/builds/deploy-hooks/
 */
import { z } from "zod";
import { triggerDeployHook } from "../../domain/deploy-hook-trigger.ts";
import { defineRoute, ok } from "../route.ts";
import { isoDate, uuid } from "../schemas/common.ts";

const result = z.object({
  already_exists: z.boolean(),
  build_uuid: uuid,
  created_on: isoDate,
  status: z.enum(["queued", "initializing", "running", "stopped"]),
});

export const triggerDeployHookRoute = defineRoute({
  method: "POST",
  path: "/workers/builds/deploy_hooks/:deploy_hook_uuid",
  operationId: "triggerDeployHook",
  summary: "Start a build of the hook's branch (no authentication)",
  tag: "Deploy Hooks",
  auth: "none",
  params: z.object({ deploy_hook_uuid: uuid }),
  result,
  async handler({ params, deps }) {
    const { already_exists, build } = await triggerDeployHook(deps.store, deps.builds.hookLimiter, params.deploy_hook_uuid);
    if (!already_exists) deps.builds.signals.queued(build.build_uuid);
    return ok({ already_exists, build_uuid: build.build_uuid, created_on: build.created_on, status: build.status });
  },
});

export const deployHookTriggerRoutes = [triggerDeployHookRoute];

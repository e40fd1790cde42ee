/** Builds as Cloudflare's own clients parse them (docs/compatibility.md): every field, nulls where unset. */
import type { z } from "zod";
import type { Build } from "../domain/build-types.ts";
import type { EnvVar } from "../domain/config-types.ts";
import type { TriggerView } from "../domain/triggers.ts";
import { presentEnvVars } from "../domain/env-vars.ts";
import { presentTrigger } from "./present.ts";
import type { build } from "./schemas/builds.ts";

/** What every build of one trigger shares in its answer: presented once per request, not per build. */
export interface PresentedTrigger {
  trigger: Omit<ReturnType<typeof presentTrigger>, "build_token_uuid" | "build_token_name">;
  environmentVariables: ReturnType<typeof presentEnvVars>;
}

export function presentBuildTrigger(trigger: TriggerView, env: EnvVar[]): PresentedTrigger {
  const { build_token_uuid: _t, build_token_name: _n, ...buildTrigger } = presentTrigger(trigger);
  return { trigger: buildTrigger, environmentVariables: presentEnvVars(env) };
}

export function presentBuild(b: Build, shared: PresentedTrigger): z.input<typeof build> {
  const buildTrigger = shared.trigger;
  const m = b.metadata;
  return {
    build_uuid: b.build_uuid,
    status: b.status,
    build_outcome: b.build_outcome,
    created_on: b.created_on,
    modified_on: b.modified_on,
    initializing_on: b.initializing_on,
    running_on: b.running_on,
    stopped_on: b.stopped_on,
    trigger: buildTrigger,
    build_trigger_metadata: {
      build_trigger_source: m.build_trigger_source,
      branch: m.branch,
      commit_hash: m.commit_hash,
      commit_message: m.commit_message,
      author: m.author,
      build_command: m.build_command,
      deploy_command: m.deploy_command,
      root_directory: m.root_directory,
      build_token_uuid: m.build_token_uuid,
      build_token_name: m.build_token_name,
      environment_variables: shared.environmentVariables,
      provider_type: m.provider_type,
      provider_account_name: m.provider_account_name,
      repo_name: m.repo_name,
    },
    pull_request: b.pull_request,
    deploy_hook: b.deploy_hook ? { deploy_hook_name: b.deploy_hook.name } : null,
    ...(b.preview_url ? { preview_url: b.preview_url } : {}),
  };
}

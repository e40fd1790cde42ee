/** Domain records → Cloudflare answer shapes (https://developers.cloudflare.com/api/resources/workers_builds/). */
import type { z } from "zod";
import type { EnvVar, Preview, RepoConnection } from "../domain/config-types.ts";
import type { TriggerView } from "../domain/triggers.ts";
import type { SettingsView, WorkerConfigView } from "../domain/worker-config.ts";
import { presentEnvVars } from "../domain/env-vars.ts";
import type { preview, repoConnection, trigger, workerBuildConfig, workerBuildSettings } from "./schemas/config.ts";

export function presentRepoConnection(c: RepoConnection): z.input<typeof repoConnection> {
  return {
    repo_connection_uuid: c.repo_connection_uuid,
    provider_type: c.provider_type,
    provider_account_id: c.provider_account_id,
    provider_account_name: c.provider_account_name,
    repo_id: c.repo_id,
    repo_name: c.repo_name,
    created_on: c.created_on,
    modified_on: c.modified_on,
    deleted_on: c.deleted_on,
  };
}

export function presentTrigger({ trigger: t, connection, buildTokenName }: TriggerView): z.input<typeof trigger> {
  return {
    trigger_uuid: t.trigger_uuid,
    trigger_name: t.trigger_name,
    external_script_id: t.external_script_id,
    repo_connection: presentRepoConnection(connection),
    branch_includes: t.branch_includes,
    branch_excludes: t.branch_excludes,
    path_includes: t.path_includes,
    path_excludes: t.path_excludes,
    build_command: t.build_command,
    deploy_command: t.deploy_command,
    root_directory: t.root_directory,
    build_caching_enabled: t.build_caching_enabled,
    build_token_uuid: t.build_token_uuid,
    build_token_name: buildTokenName,
    created_on: t.created_on,
    modified_on: t.modified_on,
    deleted_on: t.deleted_on,
  };
}

export function presentSettings(s: SettingsView): z.input<typeof workerBuildSettings> {
  return {
    build_caching_enabled: s.build_caching_enabled,
    build_command: s.build_command,
    deploy_command: s.deploy_command,
    root_directory: s.root_directory,
    path_includes: s.path_includes,
    path_excludes: s.path_excludes,
    build_token_uuid: s.build_token_uuid,
    environment_variables: presentEnvVars(s.environment_variables),
    ...(s.proposed_deploy_command !== undefined ? { proposed_deploy_command: s.proposed_deploy_command } : {}),
  };
}

export function presentWorkerConfig(v: WorkerConfigView): z.input<typeof workerBuildConfig> {
  return {
    script_tag: v.script_tag,
    git_repository: {
      branch: v.branch,
      grant_id: v.connection.grant_id,
      provider_account_id: v.connection.provider_account_id,
      provider_account_name: v.connection.provider_account_name,
      provider_type: v.connection.provider_type,
      repo_id: v.connection.repo_id,
      repo_name: v.connection.repo_name,
    },
    production_settings: presentSettings(v.production),
    previews_enabled: v.previews_enabled,
    previews_base_config: v.previews_base && presentSettings(v.previews_base),
  };
}

export function presentPreview(p: Preview, env: EnvVar[]): z.input<typeof preview> {
  return {
    preview_id: p.preview_id,
    script_tag: p.worker_tag,
    branch: p.branch,
    auto_build: p.auto_build,
    auto_delete: p.auto_delete,
    settings: presentSettings({ ...p.settings, environment_variables: env }),
    created_on: p.created_on,
    modified_on: p.modified_on,
  };
}

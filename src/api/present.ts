/** Domain records → Cloudflare answer shapes (spec/api.md §3). */
import type { RepoConnection } from "../domain/config-types.ts";
import type { TriggerView } from "../domain/triggers.ts";
import type { z } from "zod";
import type { repoConnection, trigger } from "./schemas/config.ts";

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

/**
 * Answer and request shapes of the configuration API (Cloudflare's API reference,
 * https://developers.cloudflare.com/api/resources/workers_builds/), as zod schemas. They
 * validate every answer in tests and feed the OpenAPI document. Text fields are strings,
 * never null, where Cloudflare's own client parses them strictly (docs/compatibility.md).
 */
import { z } from "zod";
import { PROVIDER_TYPES } from "../../domain/config-types.ts";
import { isoDate, uuid } from "./common.ts";

export const providerType = z.enum(PROVIDER_TYPES);

export const repoConnection = z.object({
  repo_connection_uuid: uuid,
  provider_type: providerType,
  provider_account_id: z.string(),
  provider_account_name: z.string(),
  repo_id: z.string(),
  repo_name: z.string(),
  created_on: isoDate,
  modified_on: isoDate,
  deleted_on: isoDate.nullable(),
});

export const buildToken = z.object({
  build_token_uuid: uuid,
  build_token_name: z.string(),
  cloudflare_token_id: z.string(),
  owner_type: z.enum(["user", "account"]),
});

/** A trigger as #13/#14/#22 answer it. */
export const trigger = z.object({
  trigger_uuid: uuid,
  trigger_name: z.string(),
  external_script_id: z.string(),
  repo_connection: repoConnection,
  branch_includes: z.array(z.string()),
  branch_excludes: z.array(z.string()),
  path_includes: z.array(z.string()),
  path_excludes: z.array(z.string()),
  build_command: z.string(),
  deploy_command: z.string(),
  root_directory: z.string(),
  build_caching_enabled: z.boolean(),
  build_token_uuid: uuid,
  build_token_name: z.string(),
  created_on: isoDate,
  modified_on: isoDate,
  deleted_on: isoDate.nullable(),
});

/** The trigger embedded in a build: the same without the build token (as Cloudflare answers it). */
export const buildTrigger = trigger.omit({ build_token_uuid: true, build_token_name: true });

export const environmentVariable = z.object({
  created_on: isoDate,
  is_secret: z.boolean(),
  /** null for secrets, always. */
  value: z.string().nullable(),
});
export const environmentVariables = z.record(z.string(), environmentVariable);

export const workerBuildSettings = z.object({
  build_caching_enabled: z.boolean(),
  build_command: z.string().nullable(),
  deploy_command: z.string().nullable(),
  root_directory: z.string(),
  path_includes: z.array(z.string()),
  path_excludes: z.array(z.string()),
  build_token_uuid: uuid,
  environment_variables: environmentVariables,
  proposed_deploy_command: z.string().nullable().optional(),
});

export const workerGitRepository = z.object({
  branch: z.string(),
  grant_id: z.string().nullable(),
  provider_account_id: z.string(),
  provider_account_name: z.string(),
  provider_type: providerType,
  repo_id: z.string(),
  repo_name: z.string(),
});

export const workerBuildConfig = z.object({
  script_tag: z.string(),
  git_repository: workerGitRepository,
  production_settings: workerBuildSettings,
  previews_enabled: z.boolean(),
  previews_base_config: workerBuildSettings.nullable(),
});

/** Inferred shape: Cloudflare publishes none (listed in docs/compatibility.md). */
export const preview = z.object({
  preview_id: z.string(),
  script_tag: z.string(),
  branch: z.string(),
  auto_build: z.boolean(),
  auto_delete: z.boolean(),
  settings: workerBuildSettings,
  created_on: isoDate,
  modified_on: isoDate,
});

export const deployHook = z.object({
  deploy_hook_uuid: uuid,
  deploy_hook_name: z.string(),
  branch: z.string(),
  external_script_id: z.string(),
  created_on: isoDate,
  modified_on: isoDate,
});
export const detailedDeployHook = deployHook.extend({
  latest_build: z.object({ created_on: isoDate }).nullable(),
});

export const accountLimits = z.object({
  build_minutes_refresh_on: isoDate.nullable(),
  has_reached_build_minutes_limit: z.boolean().nullable(),
});

export const configAutofill = z.object({
  config_file: z.string().nullable(),
  default_worker_name: z.string().nullable(),
  env_worker_names: z.record(z.string(), z.string()).nullable(),
  package_manager: z.enum(["npm", "yarn", "pnpm", "bun", "uv"]),
  scripts: z.record(z.string(), z.string()).nullable(),
});

// ---- request pieces ----

/** Branch or path patterns: any non-empty string; `*` may stand anywhere and is never rejected. */
export const patternList = z.array(z.string().min(1, "must not be empty").max(256, "must be at most 256 characters")).max(100, "at most 100 patterns");

/**
 * Branch excludes: a pattern of nothing but `*` matches every branch, so the trigger could never
 * build; Cloudflare refuses `["*"]` with 400 12002, and so does Kiln (the field named).
 */
export const branchExcludeList = patternList.refine((patterns) => !patterns.some((p) => /^\*+$/.test(p)), 'must not exclude every branch ("*")');

export const envVarInput = z.object({
  is_secret: z.boolean(),
  value: z.string().max(5000, "must be at most 5000 characters"),
});

/** Records of the configuration API (repo connections, build tokens, triggers, variables, previews, hooks). */

export const PROVIDER_TYPES = ["github", "gitlab", "gitlab_internal", "origin"] as const;
export type ProviderType = (typeof PROVIDER_TYPES)[number];

export interface RepoConnection {
  repo_connection_uuid: string;
  account_id: string;
  provider_type: ProviderType;
  provider_account_id: string;
  provider_account_name: string;
  repo_id: string;
  repo_name: string;
  grant_id: string | null;
  created_on: string;
  modified_on: string;
  deleted_on: string | null;
}

export interface BuildToken {
  build_token_uuid: string;
  account_id: string;
  build_token_name: string;
  cloudflare_token_id: string;
  owner_type: "user" | "account";
  created_on: string;
  modified_on: string;
  deleted_on: string | null;
}

export type TriggerRole = "production" | "preview";

/**
 * `build_caching_enabled` when a create request leaves it out, the same on every path (#13
 * trigger, #23 production settings and previews base config): Cloudflare's API reference gives
 * `true` for a new Worker configuration, the newest statement; its older trigger schema said false.
 */
export const DEFAULT_BUILD_CACHING = true;

/** The settings a trigger (or a previews base config, or a Preview) builds with. */
export interface BuildSettings {
  build_command: string;
  deploy_command: string;
  root_directory: string;
  path_includes: string[];
  path_excludes: string[];
  build_caching_enabled: boolean;
  build_token_uuid: string;
}

export interface Trigger extends BuildSettings {
  trigger_uuid: string;
  account_id: string;
  /** The Worker tag. */
  external_script_id: string;
  role: TriggerRole;
  trigger_name: string;
  repo_connection_uuid: string;
  branch_includes: string[];
  branch_excludes: string[];
  cache_generation: number;
  created_on: string;
  modified_on: string;
  deleted_on: string | null;
}

export type EnvOwnerKind = "trigger" | "previews_base" | "preview";

export interface EnvVar {
  key: string;
  is_secret: boolean;
  /** Plain value; for secrets, the opened value (never sent in an answer). */
  value: string;
  created_on: string;
}

export interface WorkerPreviews {
  worker_tag: string;
  account_id: string;
  previews_enabled: boolean;
  base_settings: BuildSettings | null;
  created_on: string;
  modified_on: string;
}

export interface Preview {
  preview_id: string;
  account_id: string;
  worker_tag: string;
  branch: string;
  auto_build: boolean;
  auto_delete: boolean;
  settings: BuildSettings;
  created_on: string;
  modified_on: string;
}

export interface DeployHook {
  deploy_hook_uuid: string;
  account_id: string;
  worker_tag: string;
  deploy_hook_name: string;
  branch: string;
  created_on: string;
  modified_on: string;
}

/** Limits of a max-64 map of variables etc. (Cloudflare's, https://developers.cloudflare.com/workers/ci-cd/builds/limits-and-pricing/). */
export const LIMITS = {
  envVarsPerOwner: 64,
  envValueLength: 5000,
  envKeyPattern: /^[a-zA-Z_][a-zA-Z0-9_]*$/,
  triggersPerWorker: 2,
  deployHookName: 58,
  branchLength: 256,
} as const;

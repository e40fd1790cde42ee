/**
 * How the configuration commands show what the API answers to people: a table per list, and
 * `key: value` lines per object. Field names are the API's (Cloudflare's Workers Builds
 * reference), so a table reads the same as the JSON a script gets with --json.
 */
import { details } from "./client-command.ts";
import { shortTime } from "./format.ts";

export interface RepoConnectionView {
  repo_connection_uuid: string;
  provider_type: string;
  provider_account_id: string;
  provider_account_name: string;
  repo_id: string;
  repo_name: string;
  created_on: string;
  modified_on: string;
  deleted_on: string | null;
}

export interface BuildTokenView {
  build_token_uuid: string;
  build_token_name: string;
  cloudflare_token_id: string;
  owner_type: string;
}

export interface TriggerView {
  trigger_uuid: string;
  trigger_name: string;
  external_script_id: string;
  repo_connection?: RepoConnectionView;
  branch_includes: string[];
  branch_excludes: string[];
  path_includes: string[];
  path_excludes: string[];
  build_command: string | null;
  deploy_command: string | null;
  root_directory: string;
  build_caching_enabled: boolean;
  build_token_uuid?: string;
  build_token_name?: string | null;
  created_on: string;
  modified_on: string;
  deleted_on: string | null;
}

export interface DeployHookView {
  deploy_hook_uuid: string;
  deploy_hook_name: string;
  branch: string;
  external_script_id: string;
  created_on: string;
  modified_on: string;
  /** The list's detailed form only. */
  latest_build?: { created_on: string } | null;
}

export type EnvVarsView = Record<string, { is_secret: boolean; value?: string | null; created_on: string }>;

/** `github acme/app (repo 42)`. */
export const repoLabel = (c: RepoConnectionView): string => `${c.provider_type} ${c.provider_account_name}/${c.repo_name} (repo ${c.repo_id}, owner ${c.provider_account_id})`;

export function connectionDetails(c: RepoConnectionView): string {
  return details([
    ["repo connection", c.repo_connection_uuid],
    ["repository", repoLabel(c)],
    ["created", shortTime(c.created_on)],
    ["modified", shortTime(c.modified_on)],
    ...(c.deleted_on ? ([["deleted", shortTime(c.deleted_on)]] as [string, string][]) : []),
  ]);
}

export function buildTokenDetails(t: BuildTokenView): string {
  return details([
    ["build token", t.build_token_uuid],
    ["name", t.build_token_name],
    ["cloudflare token id", t.cloudflare_token_id],
    ["owner type", t.owner_type],
  ]);
}

const patterns = (list: string[]): string => (list.length ? list.join(", ") : "-");

export function triggerDetails(t: TriggerView): string {
  return details([
    ["trigger", t.trigger_uuid],
    ["name", t.trigger_name],
    ["worker tag", t.external_script_id],
    ["repository", t.repo_connection ? repoLabel(t.repo_connection) : "-"],
    ["branch includes", patterns(t.branch_includes)],
    ["branch excludes", patterns(t.branch_excludes)],
    ["path includes", patterns(t.path_includes)],
    ["path excludes", patterns(t.path_excludes)],
    ["build command", t.build_command || "-"],
    ["deploy command", t.deploy_command || "-"],
    ["root directory", t.root_directory],
    ["build caching", t.build_caching_enabled ? "enabled" : "disabled"],
    ["build token", t.build_token_uuid ? `${t.build_token_uuid}${t.build_token_name ? ` (${t.build_token_name})` : ""}` : "-"],
    ["created", shortTime(t.created_on)],
    ["modified", shortTime(t.modified_on)],
    ["deleted", shortTime(t.deleted_on)],
  ]);
}

export const TRIGGER_COLUMNS = ["trigger_uuid", "name", "branches", "build_command", "deploy_command", "root", "deleted"];

export function triggerRow(t: TriggerView): Record<string, string> {
  return {
    trigger_uuid: t.trigger_uuid,
    name: t.trigger_name,
    branches: [...t.branch_includes, ...t.branch_excludes.map((b) => `!${b}`)].join(","),
    build_command: t.build_command || "-",
    deploy_command: t.deploy_command || "-",
    root: t.root_directory,
    deleted: t.deleted_on ? "yes" : "",
  };
}

/** The URL that starts a build through the hook: Cloudflare's form, under the API base in use. */
export const deployHookUrl = (apiUrl: string, uuid: string): string => `${apiUrl}/workers/builds/deploy_hooks/${uuid}`;

export function deployHookDetails(h: DeployHookView, apiUrl: string): string {
  return details([
    ["deploy hook", h.deploy_hook_uuid],
    ["name", h.deploy_hook_name],
    ["branch", h.branch],
    ["worker tag", h.external_script_id],
    ["url", deployHookUrl(apiUrl, h.deploy_hook_uuid)],
    ["created", shortTime(h.created_on)],
  ]);
}

export const DEPLOY_HOOK_COLUMNS = ["deploy_hook_uuid", "name", "branch", "latest_build", "url"];

export function deployHookRow(h: DeployHookView, apiUrl: string): Record<string, string> {
  return {
    deploy_hook_uuid: h.deploy_hook_uuid,
    name: h.deploy_hook_name,
    branch: h.branch,
    latest_build: h.latest_build ? shortTime(h.latest_build.created_on) : "-",
    url: deployHookUrl(apiUrl, h.deploy_hook_uuid),
  };
}

export const ENV_VAR_COLUMNS = ["key", "type", "value", "created"];

/** Secrets show no value: the API never answers one. */
export function envVarRows(vars: EnvVarsView): Record<string, string>[] {
  return Object.entries(vars)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, v]) => ({ key, type: v.is_secret ? "secret" : "text", value: v.is_secret ? "(hidden)" : (v.value ?? ""), created: shortTime(v.created_on) }));
}

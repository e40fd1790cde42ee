/** Builds (https://developers.cloudflare.com/api/resources/workers_builds/subresources/builds/). */
import type { ProviderType } from "./config-types.ts";

export type BuildStatus = "queued" | "initializing" | "running" | "stopped";
export type BuildOutcome = "success" | "fail" | "skipped" | "cancelled" | "terminated";
/** Only the public enum is ever emitted. */
export type BuildSource = "push" | "pull_request" | "manual" | "api";

/** What a build runs with, fixed when it is created (settings changes apply to the next build). */
export interface BuildMetadata {
  build_trigger_source: BuildSource;
  branch: string;
  commit_hash: string;
  commit_message: string;
  author: string;
  build_command: string;
  deploy_command: string;
  root_directory: string;
  build_token_uuid: string;
  build_token_name: string;
  build_caching_enabled: boolean;
  provider_type: ProviderType;
  provider_account_id: string;
  provider_account_name: string;
  repo_id: string;
  repo_name: string;
  /**
   * Set while `branch` and `commit_hash` are the ref as it was asked for (either may be "", a
   * commit may be abbreviated), not yet resolved through git: builds are answered at once and
   * resolved when they initialize (runner/resolve-ref.ts). Absent once resolved.
   */
  unresolved?: true;
}

export interface Build {
  build_uuid: string;
  account_id: string;
  worker_tag: string;
  trigger_uuid: string;
  preview_id: string | null;
  status: BuildStatus;
  build_outcome: BuildOutcome | null;
  created_on: string;
  initializing_on: string | null;
  running_on: string | null;
  stopped_on: string | null;
  modified_on: string;
  metadata: BuildMetadata;
  deploy_hook: { uuid: string; name: string } | null;
  pull_request: { created_on?: string; pull_request_url?: string } | null;
  runner_id: string | null;
  lease_expires_on: string | null;
  cancel_requested_on: string | null;
  cancel_requested_by: string | null;
  version_id: string | null;
  preview_url: string | null;
  log_lines: number;
}

export type LogLine = [number, string];

export const DEFAULT_CONCURRENCY = 6;

/** Cloudflare's log line for a deleted build token, word for word. */
export const BUILD_TOKEN_GONE =
  "Failed: The build token selected for this build has been deleted or rolled and cannot be used for this build. Please update your build token in the Worker Builds settings and retry the build.";

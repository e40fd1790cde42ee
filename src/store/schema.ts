/**
 * Table types for Kysely. Every timestamp is an ISO 8601 string with milliseconds
 * (`2026-09-30T08:15:08.207Z`) on both dialects: it is what the API answers, it sorts
 * correctly as text, and it keeps SQLite and PostgreSQL rows identical. Lists and maps that
 * are only ever read whole are JSON text.
 */
import type { Generated } from "kysely";

export interface AccountsTable {
  id: string;
  name: string;
  created_on: string;
  /** Build minutes per calendar month (UTC); null = unlimited. */
  build_minutes_limit: number | null;
  /** Concurrent builds; null = the default (6). */
  concurrency_limit: number | null;
  /** Sealed secret verifying this account's webhook deliveries; null until one is made. */
  webhook_secret: Generated<string | null>;
}

export interface UsersTable {
  id: string;
  email: string;
  /** sha256 of the global API key, hex. */
  api_key_hash: string;
  created_on: string;
}

export interface AccountMembersTable {
  account_id: string;
  user_id: string;
}

export interface ApiTokensTable {
  id: string;
  name: string;
  /** sha256 of the token value, hex; unique. */
  value_hash: string;
  /** JSON array of permission group names. */
  permission_groups: string;
  /** JSON array of account ids the token covers. */
  account_ids: string;
  expires_on: string | null;
  revoked_on: string | null;
  created_on: string;
  modified_on: string;
}

export interface WorkersTable {
  tag: string;
  account_id: string;
  name: string;
  created_on: string;
  modified_on: string;
}

export interface MigrationsTable {
  name: string;
  applied_on: string;
}

/** 0/1 on both dialects. */
export type Flag = number;

export interface RepoConnectionsTable {
  uuid: string;
  account_id: string;
  provider_type: string;
  provider_account_id: string;
  provider_account_name: string;
  repo_id: string;
  repo_name: string;
  grant_id: string | null;
  created_on: string;
  modified_on: string;
  deleted_on: string | null;
}

export interface BuildTokensTable {
  uuid: string;
  account_id: string;
  name: string;
  sealed_secret: string;
  cloudflare_token_id: string;
  owner_type: string;
  created_on: string;
  modified_on: string;
  deleted_on: string | null;
}

export interface TriggersTable {
  uuid: string;
  account_id: string;
  worker_tag: string;
  role: "production" | "preview";
  trigger_name: string;
  repo_connection_uuid: string;
  build_token_uuid: string;
  build_command: string;
  deploy_command: string;
  root_directory: string;
  /** JSON string arrays. */
  branch_includes: string;
  branch_excludes: string;
  path_includes: string;
  path_excludes: string;
  build_caching_enabled: Flag;
  cache_generation: Generated<number>;
  created_on: string;
  modified_on: string;
  deleted_on: string | null;
}

export interface EnvVarsTable {
  owner_kind: "trigger" | "previews_base" | "preview";
  owner_id: string;
  key: string;
  is_secret: Flag;
  value: string;
  created_on: string;
}

export interface WorkerPreviewsTable {
  worker_tag: string;
  account_id: string;
  previews_enabled: Flag;
  base_settings: string | null;
  created_on: string;
  modified_on: string;
}

export interface PreviewsTable {
  preview_id: string;
  account_id: string;
  worker_tag: string;
  branch: string;
  auto_build: Flag;
  auto_delete: Flag;
  settings: string;
  created_on: string;
  modified_on: string;
}

export interface DeployHooksTable {
  uuid: string;
  account_id: string;
  worker_tag: string;
  name: string;
  branch: string;
  created_on: string;
  modified_on: string;
}

export interface BuildsTable {
  uuid: string;
  account_id: string;
  worker_tag: string;
  trigger_uuid: string;
  preview_id: string | null;
  status: "queued" | "initializing" | "running" | "stopped";
  build_outcome: "success" | "fail" | "skipped" | "cancelled" | "terminated" | null;
  created_on: string;
  initializing_on: string | null;
  running_on: string | null;
  stopped_on: string | null;
  modified_on: string;
  metadata: string;
  deploy_hook_uuid: string | null;
  deploy_hook_name: string | null;
  pull_request: string | null;
  runner_id: string | null;
  lease_expires_on: string | null;
  cancel_requested_on: string | null;
  cancel_requested_by: string | null;
  version_id: string | null;
  preview_url: string | null;
  log_lines: Generated<number>;
  branch: Generated<string>;
  commit_hash: Generated<string>;
  report_pending: Generated<Flag>;
  report_state: Generated<string | null>;
  report_attempts: Generated<number>;
  report_next_on: Generated<string | null>;
}

export interface WebhookDeliveriesTable {
  id: string;
  account_id: string;
  provider: string;
  delivery_id: string | null;
  event: string;
  received_on: string;
  status: number;
  outcome: string;
  /** JSON. */
  result: string;
}

export interface BuildLogsTable {
  build_uuid: string;
  line: number;
  /** Milliseconds since the epoch (pg returns bigint as a string: read through Number()). */
  ts: number | string;
  text: string;
}

/** The transactional outbox of build events (migration 0009). */
export interface BuildEventsTable {
  /** pg returns bigint as a string: read through Number(). */
  id: Generated<number | string>;
  account_id: string;
  worker_tag: string;
  worker_name: string;
  build_uuid: string;
  type: string;
  created_on: string;
  /** JSON: the envelope's payload when the event happened. */
  payload: string;
}

export interface QueuesTable {
  id: string;
  account_id: string;
  name: string;
  created_on: string;
  modified_on: string;
  delivery_delay: Generated<number>;
  message_retention_period: Generated<number>;
  max_retries: Generated<number>;
  dead_letter_queue: Generated<string | null>;
  consumer_batch_size: Generated<number>;
  consumer_visibility_timeout_ms: Generated<number>;
  consumer_retry_delay: Generated<number>;
}

export interface EventSubscriptionsTable {
  id: string;
  account_id: string;
  name: string;
  enabled: Flag;
  source_type: string;
  worker_name: string;
  /** JSON array of event types. */
  events: string;
  destination_type: string;
  /** JSON: the destination object as given. */
  destination: string;
  queue_id: string | null;
  created_at: string;
  modified_at: string;
  /** Sealed whsec_ secret of a webhook destination (migration 0011); null for queues. */
  webhook_secret: Generated<string | null>;
}

/** Webhook deliveries of build events (migration 0011). */
export interface EventDeliveriesTable {
  id: string;
  subscription_id: string;
  account_id: string;
  event_id: number | string;
  event_type: string;
  build_uuid: string;
  state: string;
  attempts: Generated<number>;
  failures: Generated<number>;
  next_attempt_ms: number | string;
  lease: Generated<string | null>;
  lease_expires_ms: Generated<number | string | null>;
  created_on: string;
  last_attempt_on: Generated<string | null>;
  delivered_on: Generated<string | null>;
  last_status: Generated<number | null>;
  last_error: Generated<string | null>;
}

export interface EventDeliveryAttemptsTable {
  id: Generated<number | string>;
  delivery_id: string;
  attempt: number;
  started_on: string;
  duration_ms: number;
  status: number | null;
  error: string | null;
  response_body: string;
  node: string;
}

export interface QueueMessagesTable {
  id: Generated<number | string>;
  queue_id: string;
  event_id: number | string;
  subscription_id: string;
  created_ms: number | string;
  visible_ms: number | string;
  attempts: Generated<number>;
  lease: Generated<string | null>;
}

export interface Database {
  accounts: AccountsTable;
  users: UsersTable;
  account_members: AccountMembersTable;
  api_tokens: ApiTokensTable;
  workers: WorkersTable;
  kiln_migrations: MigrationsTable;
  repo_connections: RepoConnectionsTable;
  build_tokens: BuildTokensTable;
  triggers: TriggersTable;
  env_vars: EnvVarsTable;
  worker_previews: WorkerPreviewsTable;
  previews: PreviewsTable;
  deploy_hooks: DeployHooksTable;
  builds: BuildsTable;
  build_logs: BuildLogsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  build_events: BuildEventsTable;
  queues: QueuesTable;
  event_subscriptions: EventSubscriptionsTable;
  queue_messages: QueueMessagesTable;
  event_deliveries: EventDeliveriesTable;
  event_delivery_attempts: EventDeliveryAttemptsTable;
}

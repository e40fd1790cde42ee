/** Webhook deliveries and what each one started (docs/webhooks.md). */

export type GitProvider = "github" | "gitlab";

/** Why a trigger did not build on a delivery. `auto_build_disabled` is Kiln's (a Preview with auto_build off). */
export type SkipReason = "branch_not_included" | "branch_excluded" | "no_watched_path_changed" | "fork" | "duplicate" | "auto_build_disabled";

export interface WebhookResult {
  builds: { build_uuid: string; trigger_uuid: string; external_script_id: string }[];
  skipped: { trigger_uuid: string; reason: SkipReason }[];
}

/**
 * What became of a delivery: `built` (at least one build), `skipped` (matched triggers, none
 * built), `ignored` (an event or ref that never builds: ping, tag, deletion, closed PR),
 * `unknown_repository`, `duplicate` (a delivery id seen before), `rejected` (400).
 */
export type DeliveryOutcome = "built" | "skipped" | "ignored" | "unknown_repository" | "duplicate" | "rejected";

export interface Delivery {
  id: string;
  account_id: string;
  provider: GitProvider;
  delivery_id: string | null;
  event: string;
  received_on: string;
  status: number;
  outcome: DeliveryOutcome;
  result: WebhookResult & { detail?: string };
}

/** Deliveries kept per account; older ones are dropped as new ones arrive. */
export const DELIVERIES_KEPT = 1000;

export interface DeliveryRepository {
  /** False when this account already has a delivery with this provider and delivery id. */
  insert(delivery: Delivery): Promise<boolean>;
  find(accountId: string, provider: GitProvider, deliveryId: string): Promise<Delivery | undefined>;
  /** Newest first. */
  list(accountId: string, limit: number): Promise<Delivery[]>;
  /** Deletes up to `limit` deliveries received before `cutoff`; answers how many. */
  removeBefore(cutoff: string, limit: number): Promise<number>;
  /** Drops all but the newest `keep` deliveries of the account. */
  trim(accountId: string, keep: number): Promise<void>;
}

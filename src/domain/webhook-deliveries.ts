/**
 * Webhook destinations of event subscriptions (a Kiln extension of Cloudflare's `destination`):
 * each event a subscription matches becomes one delivery, tried until the receiver answers 2xx
 * or the retry schedule (webhook-backoff.ts) is spent. What the store keeps of them, and what the
 * deliverer (outbound/webhook-deliverer.ts) asks of the store.
 */
import type { Page, Paged } from "./types.ts";

export const WEBHOOK_DESTINATION = "webhook";

/** pending: to be tried (now or after a back-off); delivered: a 2xx came; failed: given up. */
export type WebhookDeliveryState = "pending" | "delivered" | "failed";

export interface WebhookAttempt {
  attempt: number;
  started_on: string;
  duration_ms: number;
  /** The receiver's HTTP status; null when none came (timeout, refused connection, refused address). */
  status: number | null;
  error: string | null;
  /** The first KiB of the receiver's answer. */
  response_body: string;
  /** Which node tried (its delivery lease owner), so an operator can follow a fleet. */
  node: string;
}

export interface WebhookDelivery {
  id: string;
  subscription_id: string;
  event_id: number;
  event_type: string;
  build_uuid: string;
  state: WebhookDeliveryState;
  attempts: number;
  created_on: string;
  /** When the next attempt is due (pending only). */
  next_attempt_on: string | null;
  last_attempt_on: string | null;
  delivered_on: string | null;
  last_status: number | null;
  last_error: string | null;
}

export interface WebhookDeliveryWithAttempts extends WebhookDelivery {
  attempt_log: WebhookAttempt[];
}

/** A delivery a node holds the lease of, with what it needs to send it. */
export interface ClaimedDelivery {
  id: string;
  lease: string;
  subscription_id: string;
  account_id: string;
  event_id: number;
  /** This attempt's number (1 for the first). */
  attempt: number;
  /** Failed attempts since it was created or last redelivered by hand: drives the back-off. */
  failures: number;
  url: string;
  /** The subscription's whsec_ secret, opened. Never logged. */
  secret: string;
}

export type AttemptOutcome =
  | { state: "delivered" }
  | { state: "pending"; next_attempt_ms: number }
  | { state: "failed" };

export interface WebhookDeliveryRepository {
  /** Stores a subscription's whsec_ secret (sealed). */
  setSecret(accountId: string, subscriptionId: string, secret: string): Promise<void>;
  /**
   * Leases up to `limit` due deliveries for `leaseMs`: pending, past their back-off, not leased by
   * a live node, of an enabled subscription, and the oldest pending one of their subscription and
   * build (event N+1 of a build waits until N is delivered or given up). On PostgreSQL the rows
   * are claimed with SKIP LOCKED, so nodes never wait for one another or take the same one.
   */
  claimDue(node: string, nowMs: number, leaseMs: number, limit: number): Promise<ClaimedDelivery[]>;
  /** Stores one attempt and what follows, if the lease is still this node's; false otherwise. */
  recordAttempt(id: string, lease: string, attempt: WebhookAttempt, outcome: AttemptOutcome): Promise<boolean>;
  list(accountId: string, subscriptionId: string, page: Page): Promise<Paged<WebhookDelivery>>;
  get(accountId: string, subscriptionId: string, deliveryId: string): Promise<WebhookDeliveryWithAttempts | undefined>;
  /**
   * Makes a delivery due now again, with a fresh retry schedule, whatever its state (a lease in
   * progress is left to finish); undefined when there is no such delivery.
   */
  redeliver(accountId: string, subscriptionId: string, deliveryId: string, nowMs: number): Promise<WebhookDelivery | undefined>;
}

/** What build events need from storage (implemented in store/build-events.ts and store/queues.ts). */
import type { StoredBuildEvent } from "./event-envelope.ts";
import type { Page, Paged } from "./types.ts";

/** Reading the outbox of build events (the account stream, webhook deliveries). */
export interface BuildEventReader {
  /**
   * An account's events with an id above `afterId`, oldest first. No event with an id below the
   * last one answered can commit later: resuming after that id misses nothing.
   */
  eventsAfter(accountId: string, afterId: number, limit: number): Promise<StoredBuildEvent[]>;
  /** The events of one build, oldest first. */
  eventsOfBuild(buildUuid: string): Promise<StoredBuildEvent[]>;
  /** The newest event id of an account (0 when none): where a stream without Last-Event-ID starts. */
  lastEventId(accountId: string): Promise<number>;
  /** The events with these ids, oldest first. */
  byIds(ids: number[]): Promise<StoredBuildEvent[]>;
  /** Deletes up to `limit` events raised before `cutoff` that no queue message refers to; how many. */
  removeBefore(cutoffIso: string, limit: number): Promise<number>;
}

/** A queue (Cloudflare Queues) with its one HTTP pull consumer's retry settings. */
export interface Queue {
  queue_id: string;
  account_id: string;
  queue_name: string;
  created_on: string;
  modified_on: string;
  /** Seconds before a new message may be pulled. */
  delivery_delay: number;
  /** Seconds an unacknowledged message is kept. */
  message_retention_period: number;
  /** Deliveries after which a message is not delivered again (dead-lettered or deleted). */
  max_retries: number;
  /** Name of the queue exhausted messages move to; null: they are deleted. */
  dead_letter_queue: string | null;
  /** What a pull that does not say leases (Cloudflare's consumer settings.batch_size). */
  batch_size: number;
  /** How long a pull that does not say leases for (settings.visibility_timeout_ms). */
  visibility_timeout_ms: number;
  /** Seconds a retry that does not say waits (settings.retry_delay). */
  retry_delay: number;
}

/** A message handed out by a pull, with its lease. */
export interface LeasedMessage {
  id: string;
  /** The token of this lease (the lease id is `<id>.<token>`). */
  lease: string;
  attempts: number;
  timestamp_ms: number;
  subscription_id: string;
  event: StoredBuildEvent;
}

export interface QueueRepository {
  /** False when the account already has a queue of that name. */
  insert(queue: Queue): Promise<boolean>;
  get(accountId: string, queueId: string): Promise<Queue | undefined>;
  getByName(accountId: string, name: string): Promise<Queue | undefined>;
  list(accountId: string): Promise<Queue[]>;
  /** Stores the consumer settings (max_retries, dead_letter_queue, batch_size, visibility_timeout_ms, retry_delay). */
  updateConsumer(queue: Queue): Promise<void>;
  /** Deletes the queue, its messages and the subscriptions delivering into it. */
  remove(accountId: string, queueId: string): Promise<boolean>;
  /** Messages not acknowledged yet (leased ones included). */
  backlog(queueId: string): Promise<number>;
  /** The backlog's count, approximate size (its events' payload bytes) and oldest message time (0 when empty). */
  metrics(queueId: string): Promise<{ backlog_count: number; backlog_bytes: number; oldest_message_timestamp_ms: number }>;
  /**
   * Leases up to `limit` visible messages until `nowMs + visibilityMs`, oldest first, each
   * counting one more attempt. First moves visible messages that used up `max_retries` to the
   * dead-letter queue (or deletes them) and drops those older than the retention period. A
   * message is leased by one pull at a time (SKIP LOCKED on PostgreSQL).
   */
  pull(queue: Queue, limit: number, visibilityMs: number, nowMs: number, token: string, deadLetterQueueId: string | null): Promise<LeasedMessage[]>;
  /** Deletes up to `limit` messages, of any queue, older than their queue's retention period; how many. */
  removeExpired(nowMs: number, limit: number): Promise<number>;
  /** Deletes these messages of the queue; the ids it deleted. */
  ack(queueId: string, messageIds: string[]): Promise<string[]>;
  /** Makes each message visible again after its delay, if its lease is still the current one; the ids it retried. */
  retry(queueId: string, retries: { id: string; lease: string; visibleMs: number }[]): Promise<string[]>;
}

export interface QueueDestination {
  type: "queues.queue";
  queue_id: string;
}

/**
 * Where a subscription delivers. Kiln ships `queues.queue`; other types (webhooks) are
 * Kiln extensions carrying their own fields, stored as given.
 */
export type Destination = QueueDestination | { type: string; [field: string]: unknown };

export interface EventSubscription {
  id: string;
  account_id: string;
  name: string;
  enabled: boolean;
  source: { type: string; worker_name: string };
  events: string[];
  destination: Destination;
  created_at: string;
  modified_at: string;
}

export type SubscriptionOrder = "created_at" | "name" | "enabled" | "source";

export interface EventSubscriptionRepository {
  insert(subscription: EventSubscription): Promise<void>;
  get(accountId: string, id: string): Promise<EventSubscription | undefined>;
  list(accountId: string, page: Page, order: SubscriptionOrder, direction: "asc" | "desc"): Promise<Paged<EventSubscription>>;
  update(subscription: EventSubscription): Promise<void>;
  remove(accountId: string, id: string): Promise<boolean>;
}

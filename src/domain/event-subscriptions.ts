/**
 * Event subscriptions (https://developers.cloudflare.com/queues/event-subscriptions/): a source
 * (a Worker's builds), the event types wanted, and a destination. Events raised after a
 * subscription exists are delivered to it (store/build-events.ts fans them out as they commit).
 */
import { errors } from "../errors.ts";
import type { Destination, EventSubscription, SubscriptionOrder } from "./event-ports.ts";
import { newHexId, nowIso } from "./ids.ts";
import type { Repositories } from "./ports.ts";
import type { Page, Paged } from "./types.ts";
import { newWebhookSecret } from "./standard-webhooks.ts";
import { WEBHOOK_DESTINATION } from "./webhook-deliveries.ts";

/** A subscription as just created or changed: a new webhook destination's secret, shown this once. */
export type SubscriptionWithSecret = EventSubscription & { webhook_secret?: string };

/** Gives a webhook destination that has none its whsec_ secret (stored sealed); answers it. */
async function ensureSecret(repos: Repositories, subscription: EventSubscription, before: Destination | undefined): Promise<SubscriptionWithSecret> {
  if (subscription.destination.type !== WEBHOOK_DESTINATION || before?.type === WEBHOOK_DESTINATION) return subscription;
  const webhook_secret = newWebhookSecret();
  await repos.webhookDeliveries.setSecret(subscription.account_id, subscription.id, webhook_secret);
  return { ...subscription, webhook_secret };
}

export interface SubscriptionInput {
  name: string;
  enabled?: boolean | undefined;
  source: { type: string; worker_name: string };
  events: string[];
  destination: Destination;
}

export type SubscriptionPatch = Partial<Pick<SubscriptionInput, "name" | "enabled" | "events" | "destination">>;

/**
 * Checks a destination against the account. The one place each destination type is checked:
 * a new type (a Kiln extension such as webhooks) adds its case here and its schema member in
 * api/schemas/event-subscriptions.ts.
 */
async function checkDestination(repos: Repositories, accountId: string, destination: Destination): Promise<Destination> {
  switch (destination.type) {
    case "queues.queue": {
      const queueId = String(destination.queue_id);
      if (!(await repos.queues.get(accountId, queueId))) throw errors.queueNotFound();
      return { type: "queues.queue", queue_id: queueId };
    }
    case WEBHOOK_DESTINATION:
      // Resolving the host (private addresses, Kiln's own API) is the caller's, before the
      // transaction (api/webhook-destination.ts): DNS must not hold the database's write lock.
      return { type: WEBHOOK_DESTINATION, url: String(destination.url) };
    default:
      throw errors.invalidBody("destination.type", `${JSON.stringify(destination.type)} is not supported`);
  }
}

const unique = (events: string[]) => [...new Set(events)];

export async function createSubscription(repos: Repositories, accountId: string, input: SubscriptionInput): Promise<SubscriptionWithSecret> {
  if (!(await repos.workers.getByName(accountId, input.source.worker_name))) throw errors.unknownSourceWorker(input.source.worker_name);
  const now = nowIso();
  const subscription: EventSubscription = {
    id: newHexId(),
    account_id: accountId,
    name: input.name,
    enabled: input.enabled ?? true,
    source: { type: input.source.type, worker_name: input.source.worker_name },
    events: unique(input.events),
    destination: await checkDestination(repos, accountId, input.destination),
    created_at: now,
    modified_at: now,
  };
  await repos.eventSubscriptions.insert(subscription);
  return ensureSecret(repos, subscription, undefined);
}

export async function getSubscription(repos: Pick<Repositories, "eventSubscriptions">, accountId: string, id: string): Promise<EventSubscription> {
  const subscription = await repos.eventSubscriptions.get(accountId, id);
  if (!subscription) throw errors.subscriptionNotFound();
  return subscription;
}

export function listSubscriptions(repos: Repositories, accountId: string, page: Page, order: SubscriptionOrder, direction: "asc" | "desc"): Promise<Paged<EventSubscription>> {
  return repos.eventSubscriptions.list(accountId, page, order, direction);
}

export async function updateSubscription(repos: Repositories, accountId: string, id: string, patch: SubscriptionPatch): Promise<SubscriptionWithSecret> {
  const current = await getSubscription(repos, accountId, id);
  const updated: EventSubscription = {
    ...current,
    ...(patch.name !== undefined ? { name: patch.name } : {}),
    ...(patch.enabled !== undefined ? { enabled: patch.enabled } : {}),
    ...(patch.events !== undefined ? { events: unique(patch.events) } : {}),
    ...(patch.destination !== undefined ? { destination: await checkDestination(repos, accountId, patch.destination) } : {}),
    modified_at: nowIso(),
  };
  await repos.eventSubscriptions.update(updated);
  return ensureSecret(repos, updated, current.destination);
}

export async function deleteSubscription(repos: Repositories, accountId: string, id: string): Promise<EventSubscription> {
  const current = await getSubscription(repos, accountId, id);
  await repos.eventSubscriptions.remove(accountId, id);
  return current;
}

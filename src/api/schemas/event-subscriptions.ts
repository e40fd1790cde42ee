/**
 * Request and answer shapes of Cloudflare's event subscriptions API as the official
 * `cloudflare` SDK (7.x) sends and parses them (resources/queues/subscriptions.d.ts).
 */
import { z } from "zod";
import { BUILD_EVENT_TYPES, SOURCE_TYPE } from "../../domain/event-envelope.ts";
import { accountParams, isoDate } from "./common.ts";

export const subscriptionParams = accountParams.extend({ subscription_id: z.string().regex(/^[0-9a-f]{32}$/) });

const queueDestination = z.object({ type: z.literal("queues.queue"), queue_id: z.string().min(1, "must not be empty").max(64, "must be at most 64 characters") });

/**
 * Where events go, by `type`. Kiln extensions (webhooks) add their member here and their
 * check in domain/event-subscriptions.ts `checkDestination`.
 */
/** Kiln extension: POST each event, signed per Standard Webhooks (docs/events.md). */
const webhookDestination = z.object({ type: z.literal("webhook"), url: z.string().min(1, "must not be empty").max(2048, "must be at most 2048 characters") });

export const destination = z.discriminatedUnion("type", [queueDestination, webhookDestination], {
  error: (issue) => (issue.code === "invalid_union" ? 'type: must be "queues.queue" or "webhook"' : undefined),
});

export const source = z.object({
  type: z.literal(SOURCE_TYPE, { error: `must be "${SOURCE_TYPE}" (the only source Kiln has)` }),
  worker_name: z.string().min(1, "must not be empty").max(255, "must be at most 255 characters"),
});

export const eventTypes = z
  .array(z.enum(BUILD_EVENT_TYPES as [string, ...string[]], { error: `must be one of ${BUILD_EVENT_TYPES.join(", ")}` }))
  .min(1, "must name at least one event");

const name = z.string().trim().min(1, "must not be empty").max(255, "must be at most 255 characters");

export const createSubscriptionBody = z.object({
  name,
  enabled: z.boolean().optional(),
  source,
  events: eventTypes,
  destination,
});

export const updateSubscriptionBody = z.object({
  name: name.optional(),
  enabled: z.boolean().optional(),
  events: eventTypes.optional(),
  destination: destination.optional(),
});

export const subscriptionListQuery = z.object({
  order: z.enum(["created_at", "name", "enabled", "source"]).default("created_at"),
  direction: z.enum(["asc", "desc"]).default("desc"),
});

export const subscription = z.object({
  id: z.string(),
  name: z.string(),
  enabled: z.boolean(),
  source: z.object({ type: z.string(), worker_name: z.string() }),
  events: z.array(z.string()),
  destination: z.looseObject({ type: z.string() }),
  created_at: isoDate,
  modified_at: isoDate,
});

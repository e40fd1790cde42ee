/** Answers of the webhook delivery log (a Kiln extension of event subscriptions). */
import { z } from "zod";
import { isoDate } from "./common.ts";
import { subscriptionParams } from "./event-subscriptions.ts";

export const deliveryParams = subscriptionParams.extend({ delivery_id: z.string().regex(/^[0-9a-f]{32}$/) });

export const webhookDelivery = z.object({
  id: z.string(),
  subscription_id: z.string(),
  event_id: z.number().int(),
  event_type: z.string(),
  build_uuid: z.string(),
  state: z.enum(["pending", "delivered", "failed"]),
  attempts: z.number().int(),
  created_on: isoDate,
  next_attempt_on: isoDate.nullable(),
  last_attempt_on: isoDate.nullable(),
  delivered_on: isoDate.nullable(),
  last_status: z.number().int().nullable(),
  last_error: z.string().nullable(),
});

export const webhookAttempt = z.object({
  attempt: z.number().int(),
  started_on: isoDate,
  duration_ms: z.number().int(),
  status: z.number().int().nullable(),
  error: z.string().nullable(),
  response_body: z.string(),
  node: z.string(),
});

export const webhookDeliveryWithAttempts = webhookDelivery.extend({ attempt_log: z.array(webhookAttempt) });

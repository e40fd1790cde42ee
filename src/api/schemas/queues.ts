/**
 * Request and answer shapes of Cloudflare's Queues API as the official `cloudflare` SDK (7.x)
 * sends and parses them (its resources/queues/*.d.ts).
 */
import { z } from "zod";
import { PULL_LIMITS } from "../../domain/queues.ts";
import { accountParams, isoDate } from "./common.ts";

export const queueId = z.string().regex(/^[0-9a-f]{32}$/, "must be a queue id");
export const queueParams = accountParams.extend({ queue_id: queueId });

/** Cloudflare: at most 63 characters, lowercase letters, digits and dashes. */
export const queueName = z
  .string()
  .regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, "must be 1 to 63 lowercase letters, digits and dashes, not starting or ending with a dash");

export const createQueueBody = z.object({ queue_name: queueName });

export const httpPullConsumer = z.object({
  consumer_id: z.string(),
  type: z.literal("http_pull"),
  queue_name: z.string(),
  created_on: isoDate,
  dead_letter_queue: z.string(),
  settings: z.object({ batch_size: z.number(), max_retries: z.number(), visibility_timeout_ms: z.number(), retry_delay: z.number() }),
});

export const queue = z.object({
  queue_id: z.string(),
  queue_name: z.string(),
  created_on: isoDate,
  modified_on: isoDate,
  producers: z.array(z.object({ type: z.string() })),
  producers_total_count: z.number(),
  consumers: z.array(httpPullConsumer),
  consumers_total_count: z.number(),
  settings: z.object({ delivery_delay: z.number(), delivery_paused: z.boolean(), message_retention_period: z.number() }),
});

const whole = (name: string, min: number, max: number) =>
  z.number().int(`${name} must be an integer`).min(min, `must be at least ${min}`).max(max, `must be at most ${max}`);

/** An absent body is an empty one: every field has a default. */
export const pullBody = z.preprocess(
  (value) => value ?? {},
  z.object({
    batch_size: whole("batch_size", 1, PULL_LIMITS.batch_size).optional(),
    visibility_timeout_ms: whole("visibility_timeout_ms", 1, PULL_LIMITS.visibility_timeout_ms).optional(),
    /** The name Cloudflare's pull-consumer guide uses (milliseconds too). */
    visibility_timeout: whole("visibility_timeout", 1, PULL_LIMITS.visibility_timeout_ms).optional(),
  }),
);

export const pullResult = z.object({
  message_backlog_count: z.number(),
  messages: z.array(
    z.object({
      id: z.string(),
      lease_id: z.string(),
      attempts: z.number(),
      body: z.string(),
      timestamp_ms: z.number(),
      metadata: z.record(z.string(), z.string()),
    }),
  ),
});

const leaseId = z.string().min(1, "must not be empty").max(200, "must be at most 200 characters");

export const ackBody = z.preprocess(
  (value) => value ?? {},
  z.object({
    acks: z.array(z.object({ lease_id: leaseId })).max(1000, "at most 1000 at once").default([]),
    retries: z
      .array(z.object({ lease_id: leaseId, delay_seconds: whole("delay_seconds", 0, PULL_LIMITS.delay_seconds).optional() }))
      .max(1000, "at most 1000 at once")
      .default([]),
  }),
);

export const queueMetrics = z.object({ backlog_bytes: z.number(), backlog_count: z.number(), oldest_message_timestamp_ms: z.number() });

export const consumerParams = queueParams.extend({ consumer_id: queueId });

export const consumerBody = z.object({
  type: z.literal("http_pull", { error: 'must be "http_pull" (Kiln runs no Worker consumers)' }),
  dead_letter_queue: z.union([z.literal(""), queueName]).optional(),
  settings: z
    .object({
      batch_size: whole("batch_size", 1, PULL_LIMITS.batch_size).optional(),
      max_retries: whole("max_retries", 0, PULL_LIMITS.max_retries).optional(),
      visibility_timeout_ms: whole("visibility_timeout_ms", 1, PULL_LIMITS.visibility_timeout_ms).optional(),
      retry_delay: whole("retry_delay", 0, PULL_LIMITS.delay_seconds).optional(),
    })
    .optional(),
});

export const ackResult = z.object({ ackCount: z.number(), retryCount: z.number(), warnings: z.record(z.string(), z.string()) });

/**
 * Cloudflare Queues: create, list, get and delete queues, and the HTTP pull consumer (pull,
 * ack). Every Kiln queue has one implicit HTTP pull consumer, listed under `consumers`.
 * @see https://developers.cloudflare.com/api/resources/queues/
 * @see https://developers.cloudflare.com/queues/configuration/pull-consumers/
 */
import { z } from "zod";
import { envelopeOf } from "../../domain/event-envelope.ts";
import type { Queue } from "../../domain/event-ports.ts";
import { ackMessages, configureConsumer, createQueue, deleteQueue, leaseIdOf, pullMessages, requireQueue } from "../../domain/queues.ts";
import { errors } from "../../errors.ts";
import { defineRoute, ok } from "../route.ts";
import { accountParams } from "../schemas/common.ts";
import { ackBody, ackResult, consumerBody, consumerParams, createQueueBody, httpPullConsumer, pullBody, pullResult, queue, queueMetrics, queueParams } from "../schemas/queues.ts";

const presentConsumer = (q: Queue): z.input<typeof httpPullConsumer> => ({
  consumer_id: q.queue_id,
  type: "http_pull",
  queue_name: q.queue_name,
  created_on: q.created_on,
  dead_letter_queue: q.dead_letter_queue ?? "",
  settings: { batch_size: q.batch_size, max_retries: q.max_retries, visibility_timeout_ms: q.visibility_timeout_ms, retry_delay: q.retry_delay },
});

export const presentQueue = (q: Queue): z.input<typeof queue> => ({
  queue_id: q.queue_id,
  queue_name: q.queue_name,
  created_on: q.created_on,
  modified_on: q.modified_on,
  producers: [],
  producers_total_count: 0,
  consumers: [presentConsumer(q)],
  consumers_total_count: 1,
  settings: { delivery_delay: q.delivery_delay, delivery_paused: false, message_retention_period: q.message_retention_period },
});

const TAG = "Queues";

export const createQueueRoute = defineRoute({
  method: "POST",
  path: "/accounts/:account_id/queues",
  operationId: "createQueue",
  summary: "Create a queue (names are unique within the account)",
  tag: TAG,
  auth: "queues_write",
  params: accountParams,
  body: createQueueBody,
  result: queue,
  async handler({ params, body, deps }) {
    return ok(presentQueue(await deps.store.transaction((repos) => createQueue(repos, params.account_id, body.queue_name))));
  },
});

export const listQueuesRoute = defineRoute({
  method: "GET",
  path: "/accounts/:account_id/queues",
  operationId: "listQueues",
  summary: "The account's queues, oldest first",
  tag: TAG,
  auth: "queues_read",
  params: accountParams,
  result: z.array(queue),
  async handler({ params, deps }) {
    return ok((await deps.store.queues.list(params.account_id)).map(presentQueue));
  },
});

export const getQueueRoute = defineRoute({
  method: "GET",
  path: "/accounts/:account_id/queues/:queue_id",
  operationId: "getQueue",
  summary: "One queue",
  tag: TAG,
  auth: "queues_read",
  params: queueParams,
  result: queue,
  async handler({ params, deps }) {
    return ok(presentQueue(await requireQueue(deps.store, params.account_id, params.queue_id)));
  },
});

export const deleteQueueRoute = defineRoute({
  method: "DELETE",
  path: "/accounts/:account_id/queues/:queue_id",
  operationId: "deleteQueue",
  summary: "Delete a queue, its messages and the event subscriptions delivering into it",
  tag: TAG,
  auth: "queues_write",
  params: queueParams,
  result: z.null(),
  async handler({ params, deps }) {
    await deps.store.transaction((repos) => deleteQueue(repos, params.account_id, params.queue_id));
    return ok(null);
  },
});

export const queueMetricsRoute = defineRoute({
  method: "GET",
  path: "/accounts/:account_id/queues/:queue_id/metrics",
  operationId: "getQueueMetrics",
  summary: "The queue's backlog: messages not acknowledged, their approximate size, the oldest one's time",
  tag: TAG,
  auth: "queues_read",
  params: queueParams,
  result: queueMetrics,
  async handler({ params, deps }) {
    const q = await requireQueue(deps.store, params.account_id, params.queue_id);
    return ok(await deps.store.queues.metrics(q.queue_id));
  },
});

export const pullMessagesRoute = defineRoute({
  method: "POST",
  path: "/accounts/:account_id/queues/:queue_id/messages/pull",
  operationId: "pullQueueMessages",
  summary: "Lease a batch of messages (HTTP pull consumer)",
  tag: TAG,
  auth: "queues_write",
  params: queueParams,
  body: pullBody,
  result: pullResult,
  async handler({ params, body, deps }) {
    const pulled = await pullMessages(
      deps.store,
      params.account_id,
      params.queue_id,
      body.batch_size,
      body.visibility_timeout_ms ?? body.visibility_timeout,
    );
    return ok({
      message_backlog_count: pulled.backlog,
      messages: pulled.messages.map((m) => ({
        id: m.id,
        lease_id: leaseIdOf(m),
        attempts: m.attempts,
        // Cloudflare base64-encodes a `json` message's body for pull consumers.
        body: Buffer.from(JSON.stringify(envelopeOf(m.event, m.subscription_id))).toString("base64"),
        timestamp_ms: m.timestamp_ms,
        metadata: { "CF-Content-Type": "json" },
      })),
    });
  },
});

export const ackMessagesRoute = defineRoute({
  method: "POST",
  path: "/accounts/:account_id/queues/:queue_id/messages/ack",
  operationId: "ackQueueMessages",
  summary: "Acknowledge messages and/or mark them for retry (with a delay)",
  tag: TAG,
  auth: "queues_write",
  params: queueParams,
  body: ackBody,
  result: ackResult,
  async handler({ params, body, deps }) {
    return ok(
      await ackMessages(
        deps.store,
        params.account_id,
        params.queue_id,
        body.acks.map((a) => a.lease_id),
        body.retries,
      ),
    );
  },
});

export const listConsumersRoute = defineRoute({
  method: "GET",
  path: "/accounts/:account_id/queues/:queue_id/consumers",
  operationId: "listQueueConsumers",
  summary: "The queue's consumer: its one HTTP pull consumer",
  tag: TAG,
  auth: "queues_read",
  params: queueParams,
  result: z.array(httpPullConsumer),
  async handler({ params, deps }) {
    return ok([presentConsumer(await requireQueue(deps.store, params.account_id, params.queue_id))]);
  },
});

export const createConsumerRoute = defineRoute({
  method: "POST",
  path: "/accounts/:account_id/queues/:queue_id/consumers",
  operationId: "createQueueConsumer",
  summary: "Set the queue's HTTP pull consumer: retry limit, dead-letter queue, pull defaults",
  tag: TAG,
  auth: "queues_write",
  params: queueParams,
  body: consumerBody,
  result: httpPullConsumer,
  async handler({ params, body, deps }) {
    return ok(presentConsumer(await deps.store.transaction((repos) => configureConsumer(repos, params.account_id, params.queue_id, body))));
  },
});

export const getConsumerRoute = defineRoute({
  method: "GET",
  path: "/accounts/:account_id/queues/:queue_id/consumers/:consumer_id",
  operationId: "getQueueConsumer",
  summary: "The queue's HTTP pull consumer (its id is the queue's)",
  tag: TAG,
  auth: "queues_read",
  params: consumerParams,
  result: httpPullConsumer,
  async handler({ params, deps }) {
    const q = await requireQueue(deps.store, params.account_id, params.queue_id);
    if (params.consumer_id !== q.queue_id) throw errors.consumerNotFound();
    return ok(presentConsumer(q));
  },
});

export const updateConsumerRoute = defineRoute({
  method: "PUT",
  path: "/accounts/:account_id/queues/:queue_id/consumers/:consumer_id",
  operationId: "updateQueueConsumer",
  summary: "Set the queue's HTTP pull consumer (as create)",
  tag: TAG,
  auth: "queues_write",
  params: consumerParams,
  body: consumerBody,
  result: httpPullConsumer,
  async handler({ params, body, deps }) {
    const q = await deps.store.transaction(async (repos) => {
      if (params.consumer_id !== params.queue_id && (await repos.queues.get(params.account_id, params.queue_id))) throw errors.consumerNotFound();
      return configureConsumer(repos, params.account_id, params.queue_id, body);
    });
    return ok(presentConsumer(q));
  },
});

export const queueRoutes = [
  createQueueRoute,
  listQueuesRoute,
  getQueueRoute,
  deleteQueueRoute,
  queueMetricsRoute,
  pullMessagesRoute,
  ackMessagesRoute,
  listConsumersRoute,
  createConsumerRoute,
  getConsumerRoute,
  updateConsumerRoute,
];

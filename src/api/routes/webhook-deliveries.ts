/**
 * Kiln extension: the delivery log of a subscription's webhook destination, and redelivery.
 *
 *   GET  …/event_subscriptions/subscriptions/{id}/deliveries                      newest event first
 *   GET  …/event_subscriptions/subscriptions/{id}/deliveries/{delivery_id}        with every attempt
 *   POST …/event_subscriptions/subscriptions/{id}/deliveries/{delivery_id}/redeliver
 *
 * A redelivery makes the delivery due now with a fresh retry schedule, whatever its state, and
 * wakes the deliverers of the fleet; the receiver sees the same `webhook-id` again.
 */
import { z } from "zod";
import { getSubscription } from "../../domain/event-subscriptions.ts";
import { errors } from "../../errors.ts";
import { pagedInfo, pageQuery } from "../pagination.ts";
import { defineRoute, ok } from "../route.ts";
import { subscriptionParams } from "../schemas/event-subscriptions.ts";
import { deliveryParams, webhookDelivery, webhookDeliveryWithAttempts } from "../schemas/webhook-deliveries.ts";

const TAG = "Event Subscriptions";
const PATH = "/accounts/:account_id/event_subscriptions/subscriptions/:subscription_id/deliveries";

export const listWebhookDeliveries = defineRoute({
  method: "GET",
  path: PATH,
  operationId: "listSubscriptionDeliveries",
  summary: "A webhook subscription's deliveries, newest event first: state (pending, delivered, failed), attempts, last status and error",
  tag: TAG,
  auth: "queues_read",
  kilnStatus: "extension",
  params: subscriptionParams,
  query: pageQuery,
  result: z.array(webhookDelivery),
  async handler({ params, query, deps }) {
    await getSubscription(deps.store, params.account_id, params.subscription_id);
    const page = { page: query.page, per_page: query.per_page };
    const paged = await deps.store.webhookDeliveries.list(params.account_id, params.subscription_id, page);
    return ok(paged.items, pagedInfo(page, paged));
  },
});

export const getWebhookDelivery = defineRoute({
  method: "GET",
  path: `${PATH}/:delivery_id`,
  operationId: "getSubscriptionDelivery",
  summary: "One webhook delivery with the log of its attempts (status, error, the first KiB of the answer, duration, node)",
  tag: TAG,
  auth: "queues_read",
  kilnStatus: "extension",
  params: deliveryParams,
  result: webhookDeliveryWithAttempts,
  async handler({ params, deps }) {
    await getSubscription(deps.store, params.account_id, params.subscription_id);
    const delivery = await deps.store.webhookDeliveries.get(params.account_id, params.subscription_id, params.delivery_id);
    if (!delivery) throw errors.webhookDeliveryNotFound();
    return ok(delivery);
  },
});

export const redeliverWebhook = defineRoute({
  method: "POST",
  path: `${PATH}/:delivery_id/redeliver`,
  operationId: "redeliverSubscriptionDelivery",
  summary: "Send a webhook delivery again now (same webhook-id), with a fresh retry schedule",
  tag: TAG,
  auth: "queues_write",
  kilnStatus: "extension",
  params: deliveryParams,
  result: webhookDelivery,
  async handler({ params, deps }) {
    await getSubscription(deps.store, params.account_id, params.subscription_id);
    const delivery = await deps.store.webhookDeliveries.redeliver(params.account_id, params.subscription_id, params.delivery_id, Date.now());
    if (!delivery) throw errors.webhookDeliveryNotFound();
    // Wakes every node's deliverer (NOTIFY in a fleet); they poll anyway.
    deps.builds.signals.events(params.account_id);
    return ok(delivery);
  },
});

export const webhookDeliveryRoutes = [listWebhookDeliveries, getWebhookDelivery, redeliverWebhook];

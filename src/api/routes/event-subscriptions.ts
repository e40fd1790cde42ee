/**
 * Event subscriptions: create, list, get, update (PATCH), delete, with a `workersBuilds.worker`
 * source and a `queues.queue` destination, or Kiln's `webhook` one (its secret answered once).
 * @see https://developers.cloudflare.com/api/resources/queues/subresources/subscriptions/
 * @see https://developers.cloudflare.com/workers/ci-cd/builds/event-subscriptions/
 */
import { z } from "zod";
import { createSubscription, deleteSubscription, getSubscription, listSubscriptions, updateSubscription, type SubscriptionWithSecret } from "../../domain/event-subscriptions.ts";
import { checkWebhookDestination } from "../webhook-destination.ts";
import { pagedInfo, pageQuery } from "../pagination.ts";
import { defineRoute, ok } from "../route.ts";
import { accountParams } from "../schemas/common.ts";
import { createSubscriptionBody, subscription, subscriptionListQuery, subscriptionParams, updateSubscriptionBody } from "../schemas/event-subscriptions.ts";

/** A webhook destination's secret is in the answer that made it only (`destination.secret`). */
export const presentSubscription = (s: SubscriptionWithSecret): z.input<typeof subscription> => ({
  id: s.id,
  name: s.name,
  enabled: s.enabled,
  source: { type: s.source.type, worker_name: s.source.worker_name },
  events: s.events,
  destination: { ...s.destination, ...(s.webhook_secret === undefined ? {} : { secret: s.webhook_secret }) },
  created_at: s.created_at,
  modified_at: s.modified_at,
});

const TAG = "Event Subscriptions";
const PATH = "/accounts/:account_id/event_subscriptions/subscriptions";

export const createSubscriptionRoute = defineRoute({
  method: "POST",
  path: PATH,
  operationId: "createEventSubscription",
  summary: "Subscribe a destination to a Worker's build events (a new webhook destination's whsec_ secret is in this answer only, as destination.secret)",
  tag: TAG,
  auth: "queues_write",
  params: accountParams,
  body: createSubscriptionBody,
  result: subscription,
  async handler({ params, body, deps, request }) {
    await checkWebhookDestination(deps, request, body.destination);
    return ok(presentSubscription(await deps.store.transaction((repos) => createSubscription(repos, params.account_id, body))));
  },
});

export const listSubscriptionsRoute = defineRoute({
  method: "GET",
  path: PATH,
  operationId: "listEventSubscriptions",
  summary: "The account's event subscriptions",
  tag: TAG,
  auth: "queues_read",
  params: accountParams,
  query: pageQuery.extend(subscriptionListQuery.shape),
  result: z.array(subscription),
  async handler({ params, query, deps }) {
    const page = { page: query.page, per_page: query.per_page };
    const paged = await listSubscriptions(deps.store, params.account_id, page, query.order, query.direction);
    return ok(paged.items.map(presentSubscription), pagedInfo(page, paged));
  },
});

export const getSubscriptionRoute = defineRoute({
  method: "GET",
  path: `${PATH}/:subscription_id`,
  operationId: "getEventSubscription",
  summary: "One event subscription",
  tag: TAG,
  auth: "queues_read",
  params: subscriptionParams,
  result: subscription,
  async handler({ params, deps }) {
    return ok(presentSubscription(await getSubscription(deps.store, params.account_id, params.subscription_id)));
  },
});

export const updateSubscriptionRoute = defineRoute({
  method: "PATCH",
  path: `${PATH}/:subscription_id`,
  operationId: "updateEventSubscription",
  summary: "Change a subscription's name, events, destination or whether it is enabled",
  tag: TAG,
  auth: "queues_write",
  params: subscriptionParams,
  body: updateSubscriptionBody,
  result: subscription,
  async handler({ params, body, deps, request }) {
    await checkWebhookDestination(deps, request, body.destination);
    return ok(presentSubscription(await deps.store.transaction((repos) => updateSubscription(repos, params.account_id, params.subscription_id, body))));
  },
});

export const deleteSubscriptionRoute = defineRoute({
  method: "DELETE",
  path: `${PATH}/:subscription_id`,
  operationId: "deleteEventSubscription",
  summary: "Delete an event subscription (answers the deleted subscription); messages already in its queue stay",
  tag: TAG,
  auth: "queues_write",
  params: subscriptionParams,
  result: subscription,
  async handler({ params, deps }) {
    return ok(presentSubscription(await deps.store.transaction((repos) => deleteSubscription(repos, params.account_id, params.subscription_id))));
  },
});

export const eventSubscriptionRoutes = [createSubscriptionRoute, listSubscriptionsRoute, getSubscriptionRoute, updateSubscriptionRoute, deleteSubscriptionRoute];

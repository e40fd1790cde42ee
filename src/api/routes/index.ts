/** The route table: every endpoint Kiln serves under /client/v4, grouped by resource. */
import type { RouteSpec } from "../route.ts";
import { accountRoutes } from "./accounts.ts";
import { scriptRoutes } from "./scripts.ts";
import { userRoutes } from "./user.ts";
import { triggerRoutes } from "./triggers.ts";
import { workerRoutes } from "./workers.ts";
import { buildRoutes } from "./builds.ts";
import { deployHookTriggerRoutes } from "./deploy-hook-trigger.ts";
import { repoConnectionRoutes } from "./repo-connections.ts";
import { buildTokenRoutes } from "./build-tokens.ts";
import { envVarRoutes } from "./env-vars.ts";
import { deployHookRoutes } from "./deploy-hooks.ts";
import { limitRoutes } from "./limits.ts";
import { autofillRoutes } from "./autofill.ts";
import { logStreamRoutes } from "./log-stream.ts";
import { eventStreamRoutes } from "./event-stream.ts";
import { queueRoutes } from "./queues.ts";
import { eventSubscriptionRoutes } from "./event-subscriptions.ts";
import { webhookDeliveryRoutes } from "./webhook-deliveries.ts";
import { rawLogRoutes } from "./log-raw.ts";
import { kilnAccountRoutes } from "./kiln-account.ts";

export const routes: RouteSpec[] = [...userRoutes, ...accountRoutes, ...scriptRoutes, ...triggerRoutes, ...workerRoutes, ...buildRoutes, ...deployHookTriggerRoutes, ...repoConnectionRoutes, ...buildTokenRoutes, ...envVarRoutes, ...deployHookRoutes, ...limitRoutes, ...autofillRoutes, ...logStreamRoutes, ...eventStreamRoutes, ...queueRoutes, ...eventSubscriptionRoutes, ...webhookDeliveryRoutes, ...rawLogRoutes, ...kilnAccountRoutes];

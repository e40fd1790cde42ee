/** The route table: every endpoint Kiln serves under /client/v4, grouped by resource. */
import type { RouteSpec } from "../route.ts";
import { accountRoutes } from "./accounts.ts";
import { scriptRoutes } from "./scripts.ts";
import { userRoutes } from "./user.ts";
import { triggerRoutes } from "./triggers.ts";
import { workerRoutes } from "./workers.ts";

export const routes: RouteSpec[] = [...userRoutes, ...accountRoutes, ...scriptRoutes, ...triggerRoutes, ...workerRoutes];

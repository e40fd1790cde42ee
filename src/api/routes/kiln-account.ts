/**
 * Kiln extensions for clients such as the dashboard, read-only, account-scoped:
 *
 *   GET …/accounts/{account_id}/builds/permissions        what the caller may do on the account
 *   GET …/accounts/{account_id}/builds/webhook_deliveries the GitHub/GitLab deliveries received
 *
 * Cloudflare's token verify answers only a token's id and status, and reading a token's policies
 * needs a token-management permission a Workers CI token does not have: without the first, a
 * client learns that a token is Read-only only by being refused.
 */
import { z } from "zod";
import { accessOf } from "../../domain/auth.ts";
import { DELIVERIES_KEPT } from "../../domain/delivery-types.ts";
import { listDeliveries } from "../../domain/webhook-builds.ts";
import { errors } from "../../errors.ts";
import { defineRoute, ok } from "../route.ts";
import { accountParams, isoDate } from "../schemas/common.ts";

const permissions = z.object({
  read: z.boolean().describe("may read builds, logs and configuration (Workers CI Read or Write)"),
  write: z.boolean().describe("may change configuration and start or cancel builds (Workers CI Write)"),
  permission_groups: z.array(z.string()).describe("the permission groups of the token (a global API key has both)"),
});

export const getPermissions = defineRoute({
  method: "GET",
  path: "/accounts/:account_id/builds/permissions",
  operationId: "getBuildsPermissions",
  summary: "What the caller's credentials may do on this account (read, write and the token's permission groups)",
  tag: "Account",
  auth: "read",
  kilnStatus: "extension",
  params: accountParams,
  result: permissions,
  async handler({ params, principal }) {
    // A read route always has a principal; the check keeps the types honest.
    if (!principal) throw errors.unauthenticated();
    return ok(accessOf(principal, params.account_id));
  },
});

const delivery = z.object({
  id: z.string(),
  provider: z.enum(["github", "gitlab"]),
  delivery_id: z.string().nullable().describe("the provider's delivery id (X-GitHub-Delivery, X-Gitlab-Event-UUID)"),
  event: z.string(),
  received_on: isoDate,
  status: z.number().int().describe("the HTTP status Kiln answered"),
  outcome: z.enum(["built", "skipped", "ignored", "unknown_repository", "duplicate", "rejected"]),
  builds: z.array(z.object({ build_uuid: z.string(), trigger_uuid: z.string(), external_script_id: z.string() })),
  skipped: z.array(z.object({ trigger_uuid: z.string(), reason: z.string() })),
  detail: z.string().optional(),
});

const limitQuery = z.object({
  per_page: z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value === "") return 50;
      const n = Number(value);
      if (!/^\d+$/.test(value) || n < 1 || n > DELIVERIES_KEPT) {
        ctx.addIssue({ code: "custom", message: `must be an integer from 1 to ${DELIVERIES_KEPT}` });
        return z.NEVER;
      }
      return n;
    })
    .describe("at most this many, newest first (default 50)"),
});

export const listWebhookDeliveries = defineRoute({
  method: "GET",
  path: "/accounts/:account_id/builds/webhook_deliveries",
  operationId: "listWebhookDeliveries",
  summary: `The account's GitHub and GitLab webhook deliveries, newest first (the last ${DELIVERIES_KEPT} are kept), with the builds each started and the triggers it skipped`,
  tag: "Account",
  auth: "read",
  kilnStatus: "extension",
  params: accountParams,
  query: limitQuery,
  result: z.array(delivery),
  async handler({ params, query, deps }) {
    const list = await listDeliveries(deps.store, params.account_id, query.per_page);
    return ok(
      list.map((d) => ({
        id: d.id,
        provider: d.provider,
        delivery_id: d.delivery_id,
        event: d.event,
        received_on: d.received_on,
        status: d.status,
        outcome: d.outcome,
        builds: d.result.builds,
        skipped: d.result.skipped,
        ...(d.result.detail ? { detail: d.result.detail } : {}),
      })),
    );
  },
});

export const kilnAccountRoutes = [getPermissions, listWebhookDeliveries];

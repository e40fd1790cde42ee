import { z } from "zod";
import { errors } from "../../errors.ts";
import { workersSubdomainOf } from "../../domain/workers-subdomain.ts";
import { defineRoute, ok } from "../route.ts";
import { accountParams, isoDate } from "../schemas/common.ts";

const script = z.object({
  id: z.string().describe("The Worker's name"),
  tag: z.string().describe("The Worker's immutable tag (32 hex)"),
  created_on: isoDate,
  modified_on: isoDate,
});

/** @see https://developers.cloudflare.com/api/resources/workers/subresources/scripts/methods/list/ */
export const listScripts = defineRoute({
  method: "GET",
  path: "/accounts/:account_id/workers/scripts",
  operationId: "listWorkerScripts",
  reuseAnswer: true,
  summary: "The account's Workers",
  tag: "Workers",
  auth: "read",
  params: accountParams,
  result: z.array(script),
  async handler({ params, deps }) {
    const workers = await deps.store.workers.list(params.account_id);
    return ok(workers.map((w) => ({ id: w.name, tag: w.tag, created_on: w.created_on, modified_on: w.modified_on })));
  },
});

/**
 * What Cloudflare's build notification template reads to link to the live Worker
 * (`https://<worker>.<subdomain>.workers.dev`). Cloudflare asks for Workers Scripts Read; Kiln
 * has only the Workers CI groups, so Read, like the scripts list.
 * @see https://developers.cloudflare.com/api/resources/workers/subresources/subdomains/methods/get/
 */
export const getWorkersSubdomain = defineRoute({
  method: "GET",
  path: "/accounts/:account_id/workers/subdomain",
  operationId: "getWorkersSubdomain",
  summary: "The account's workers.dev subdomain (--workers-subdomain, else the account's name as a DNS label)",
  tag: "Workers",
  auth: "read",
  params: accountParams,
  result: z.object({ subdomain: z.string().describe("`<subdomain>.workers.dev`") }),
  async handler({ params, deps }) {
    const account = await deps.store.accounts.get(params.account_id);
    if (!account) throw errors.notFound();
    return ok({ subdomain: workersSubdomainOf(account, deps.config.workersSubdomain) });
  },
});

export const scriptRoutes = [listScripts, getWorkersSubdomain];

import { z } from "zod";
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

export const scriptRoutes = [listScripts];

import { z } from "zod";
import { principalAccounts } from "../../domain/auth.ts";
import { pagedInfo, pageQuery } from "../pagination.ts";
import { defineRoute, ok } from "../route.ts";
import { isoDate } from "../schemas/common.ts";

const account = z.object({
  id: z.string(),
  name: z.string(),
  type: z.literal("standard"),
  created_on: isoDate,
});

/** @see https://developers.cloudflare.com/api/resources/accounts/methods/list/ */
export const listAccounts = defineRoute({
  method: "GET",
  path: "/accounts",
  operationId: "listAccounts",
  summary: "Accounts the credentials cover",
  tag: "Accounts",
  auth: "authenticated",
  query: pageQuery,
  result: z.array(account),
  async handler({ query, principal, deps }) {
    const ids = principal ? principalAccounts(principal) : [];
    const paged = await deps.store.accounts.list(query, ids);
    return ok(
      paged.items.map((a) => ({ id: a.id, name: a.name, type: "standard" as const, created_on: a.created_on })),
      pagedInfo(query, paged),
    );
  },
});

export const accountRoutes = [listAccounts];

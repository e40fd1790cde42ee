/**
 * #1 account limits: the build-minute state of the account this month (UTC).
 * @see https://developers.cloudflare.com/api/resources/workers_builds/subresources/account/subresources/limits/
 */
import { nowIso } from "../../domain/ids.ts";
import { accountBuildMinutes, type BuildMinutesSource } from "../../domain/limits.ts";
import { defineRoute, ok } from "../route.ts";
import { accountParams } from "../schemas/common.ts";
import { accountLimits } from "../schemas/config.ts";
import type { AppDeps } from "../deps.ts";

/** Minutes the account's builds ran (running_on → stopped_on, or now) since an instant. */
const buildMinutes = (deps: AppDeps): BuildMinutesSource => ({
  minutesUsed: (accountId, sinceIso) => deps.store.builds.minutesUsed(accountId, sinceIso, nowIso()),
});

export const getAccountLimitsRoute = defineRoute({
  method: "GET",
  path: "/accounts/:account_id/builds/account/limits",
  operationId: "getAccountLimits",
  summary: "Build-minute limit status of the account (both null when unlimited, the default)",
  tag: "Account",
  auth: "read",
  params: accountParams,
  result: accountLimits,
  async handler({ params, deps }) {
    return ok(await accountBuildMinutes(deps.store, buildMinutes(deps), params.account_id));
  },
});

export const limitRoutes = [getAccountLimitsRoute];

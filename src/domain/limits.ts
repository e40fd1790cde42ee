/**
 * Per-account limits (`kiln account set-limits`): build minutes per calendar month (UTC) and
 * build concurrency. Unlimited build minutes is the default, and then #1 answers both fields
 * null. The month's minutes come from builds, through BuildMinutesSource.
 */
import { AdminError } from "./admin.ts";
import { errors } from "../errors.ts";
import type { Repositories } from "./ports.ts";

/** The answer of #1 (`accountLimits`). */
export interface BuildMinutesState {
  /** First instant of the next month (UTC), ISO with milliseconds; null when unlimited. */
  build_minutes_refresh_on: string | null;
  /** Minutes used this month ≥ the limit; null when unlimited. */
  has_reached_build_minutes_limit: boolean | null;
}

export interface AccountLimits {
  build_minutes_limit: number | null;
  concurrency_limit: number | null;
}

/** Where the build minutes an account used since an instant come from (the builds). */
export interface BuildMinutesSource {
  minutesUsed(accountId: string, sinceIso: string): Promise<number>;
}

/** A source for when no build has ever run: always 0 minutes. */
export const noBuildMinutes: BuildMinutesSource = { minutesUsed: async () => 0 };

/** The first instant of `now`'s month, UTC. */
export function monthStart(now: Date): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
}

/** The first instant of the month after `now`'s, UTC (December rolls over to January). */
export function nextMonthStart(now: Date): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
}

/** #1's answer from the limit (null: unlimited), the minutes used this month and the clock. */
export function buildMinutesState(limit: number | null, used: number, now: Date): BuildMinutesState {
  if (limit === null) return { build_minutes_refresh_on: null, has_reached_build_minutes_limit: null };
  return { build_minutes_refresh_on: nextMonthStart(now).toISOString(), has_reached_build_minutes_limit: used >= limit };
}

/** #1: the account's build-minute state now (404 12000 for an unknown account). */
export async function accountBuildMinutes(
  repos: Pick<Repositories, "accounts">,
  minutes: BuildMinutesSource,
  accountId: string,
  now: Date = new Date(),
): Promise<BuildMinutesState> {
  const limits = await repos.accounts.limits(accountId);
  if (!limits) throw errors.notFound();
  if (limits.build_minutes_limit === null) return buildMinutesState(null, 0, now);
  const used = await minutes.minutesUsed(accountId, monthStart(now).toISOString());
  return buildMinutesState(limits.build_minutes_limit, used, now);
}

/**
 * `kiln account set-limits`: sets the given limits (undefined: unchanged; null: back to the
 * default, i.e. unlimited minutes / the default concurrency) and returns them all.
 */
export async function setAccountLimits(
  repos: Repositories,
  accountId: string,
  patch: { build_minutes_limit?: number | null | undefined; concurrency_limit?: number | null | undefined },
): Promise<AccountLimits> {
  if (!(await repos.accounts.get(accountId))) throw new AdminError(`no account with id ${accountId}`);
  const change: { build_minutes_limit?: number | null; concurrency_limit?: number | null } = {};
  if (patch.build_minutes_limit !== undefined) change.build_minutes_limit = patch.build_minutes_limit;
  if (patch.concurrency_limit !== undefined) change.concurrency_limit = patch.concurrency_limit;
  if (Object.keys(change).length > 0) await repos.accounts.setLimits(accountId, change);
  const limits = await repos.accounts.limits(accountId);
  if (!limits) throw new AdminError(`no account with id ${accountId}`);
  return { build_minutes_limit: limits.build_minutes_limit, concurrency_limit: limits.concurrency_limit };
}

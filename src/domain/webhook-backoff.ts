/**
 * When a webhook delivery is tried again. The schedule is the one Svix documents for Standard
 * Webhooks senders (https://docs.svix.com/retries): immediately, then 5 seconds, 5 minutes,
 * 30 minutes, 2 hours, 5 hours, 10 hours and 10 hours after each failure — 8 attempts over about
 * 27 hours and a half, so a receiver down for an hour or a night still gets every event. Each wait
 * is spread by up to ±10 % so deliveries that failed together do not all come back in one burst.
 */

/** Waits before attempts 2…n, in milliseconds: the delay after the nth failure is DEFAULT[n-1]. */
export const DEFAULT_RETRY_SCHEDULE_MS: readonly number[] = [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000];

export const JITTER = 0.1;

/**
 * The wait after `failures` failed attempts (1 after the first), or undefined when the schedule is
 * spent and the delivery is given up. `random` is injectable so tests can pin the jitter.
 */
export function retryDelayMs(failures: number, schedule: readonly number[] = DEFAULT_RETRY_SCHEDULE_MS, random: () => number = Math.random): number | undefined {
  const base = schedule[failures - 1];
  if (base === undefined || failures < 1) return undefined;
  return Math.round(base * (1 + JITTER * (2 * random() - 1)));
}

/** Attempts a delivery gets in all: the first plus one per wait. */
export const maxAttempts = (schedule: readonly number[] = DEFAULT_RETRY_SCHEDULE_MS): number => schedule.length + 1;

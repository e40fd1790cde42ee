/**
 * The build side as the API sees it: signals to the runners, how long a cancel may wait for
 * its confirmation, and the hook that cancels a deleted trigger's builds. Composed once by
 * the process (`kiln serve`) and handed to the API; the runner gets the same signals.
 */
import type { BuildSignals } from "./build-events.ts";
import { cancelUnfinishedOfTrigger, type CancelOptions } from "./cancel.ts";
import type { StorePort } from "./ports.ts";
import type { TriggerLifecycleHooks } from "./triggers.ts";
import { SlidingWindowLimiter } from "./rate-limit.ts";

export interface BuildServices {
  signals: BuildSignals;
  cancel: CancelOptions;
  hooks: TriggerLifecycleHooks;
  /** Deploy-hook calls per minute (10 per Worker, 100 per account), per process. */
  hookLimiter: SlidingWindowLimiter;
}

export function buildServices(store: StorePort, signals: BuildSignals, timing: { cancelGraceSeconds: number; leaseTtlSeconds: number }): BuildServices {
  // The runner kills within the grace period; a runner that died is fenced out after the
  // lease TTL. Past both, the outcome is stored by someone, or the database is unreachable.
  const cancel: CancelOptions = { confirmWithinMs: (timing.cancelGraceSeconds + timing.leaseTtlSeconds) * 1000 + 5000 };
  return {
    signals,
    cancel,
    hookLimiter: new SlidingWindowLimiter(),
    hooks: {
      cancelUnfinishedBuilds: (accountId, triggerUuid, by) => cancelUnfinishedOfTrigger(store, signals, accountId, triggerUuid, by, cancel),
    },
  };
}

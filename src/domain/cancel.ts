/**
 * Cancel (Woodpecker CI's protocol): a queued build is stopped here
 * and now; a build in progress is only *signalled* — its runner, the single writer of its
 * final state, kills the tree and stores the outcome — and the answer waits until that
 * outcome is stored, so `stopped_on` is true when the caller reads it.
 */
import { errors } from "../errors.ts";
import { describePrincipal } from "./auth.ts";
import type { BuildSignals } from "./build-events.ts";
import type { Build } from "./build-types.ts";
import { requireBuild } from "./builds.ts";
import { nowIso } from "./ids.ts";
import type { StorePort } from "./ports.ts";
import type { Principal } from "./types.ts";

export interface CancelResult {
  build_outcome: "cancelled";
  build_uuid: string;
  stopped_on: string;
}

export interface CancelOptions {
  /** How long to wait for the runner's confirmation: grace + lease TTL + margin. */
  confirmWithinMs: number;
}

const result = (b: Build): CancelResult => {
  if (b.build_outcome !== "cancelled" || !b.stopped_on) throw errors.buildAlreadyStopped();
  return { build_outcome: "cancelled", build_uuid: b.build_uuid, stopped_on: b.stopped_on };
};

export function cancelledLine(by: string): string {
  return `Build was cancelled by ${by}`;
}

export async function cancelBuild(
  store: StorePort,
  signals: BuildSignals,
  accountId: string,
  uuid: string,
  principal: Principal | undefined,
  options: CancelOptions,
): Promise<CancelResult> {
  const by = principal ? describePrincipal(principal) : "the system";
  let build = await requireBuild(store, accountId, uuid);
  if (build.status === "stopped") return result(build);

  if (build.status === "queued") {
    const stopped = await store.transaction(async (repos) => {
      const at = nowIso();
      if (!(await repos.builds.finish(uuid, null, "cancelled", at, ["queued"]))) return false;
      await repos.builds.appendLogs(uuid, build.log_lines, [[Date.parse(at), cancelledLine(by)]]);
      return true;
    });
    if (stopped) {
      signals.stopped(uuid);
      return result(await requireBuild(store, accountId, uuid));
    }
    // A runner claimed it in between: cancel it as a build in progress.
    build = await requireBuild(store, accountId, uuid);
    if (build.status === "stopped") return result(build);
  }

  await store.transaction((repos) => repos.builds.requestCancel(uuid, by, nowIso()));
  signals.cancel(uuid);
  const isStopped = async () => (await store.builds.get(accountId, uuid))?.status === "stopped";
  const confirmed = await signals.waitStopped(uuid, isStopped, options.confirmWithinMs);
  if (!confirmed) throw errors.cancelNotConfirmed();
  return result(await requireBuild(store, accountId, uuid));
}

/** Deleting a trigger or a Worker configuration cancels its unfinished builds the same way. */
export async function cancelUnfinishedOfTrigger(
  store: StorePort,
  signals: BuildSignals,
  accountId: string,
  triggerUuid: string,
  principal: Principal | undefined,
  options: CancelOptions,
): Promise<void> {
  const builds = await store.builds.unfinishedOfTrigger(accountId, triggerUuid);
  await Promise.all(
    builds.map((b) =>
      cancelBuild(store, signals, accountId, b.build_uuid, principal, options).catch((error: unknown) => {
        // A build that stopped on its own meanwhile is fine; anything else is reported.
        if (!(error instanceof Error && "code" in error && (error as { code: number }).code === 12009)) throw error;
      }),
    ),
  );
}

/**
 * Builds whose runner is gone (as Woodpecker CI expires the tasks of a vanished agent): any node — a runner or an API node — stops a build whose lease ran out as
 * `terminated`, or `cancelled` when a cancel had been requested, with a final log line. The
 * stop is conditional on the lease still being out, so a runner whose renewal won the race
 * keeps its build, and on the build not being stopped, so the first final write is the only one.
 */
import type { Build } from "./build-types.ts";
import type { BuildSignals } from "./build-events.ts";
import { nowIso } from "./ids.ts";
import type { StorePort } from "./ports.ts";

/** Stops one abandoned build; `leaseBefore`: only if its lease is still out at that instant. */
export async function stopAbandoned(store: StorePort, build: Build, leaseBefore?: string): Promise<boolean> {
  return store.transaction(async (repos) => {
    const at = nowIso();
    const current = await repos.builds.getByUuid(build.build_uuid);
    if (!current || current.status === "stopped") return false;
    const outcome = current.cancel_requested_on ? "cancelled" : "terminated";
    const line =
      outcome === "cancelled"
        ? `Build was cancelled by ${current.cancel_requested_by ?? "a user"} (its runner stopped before confirming)`
        : `Build was terminated: its runner (${current.runner_id ?? "unknown"}) stopped before the build finished`;
    if (!(await repos.builds.finish(build.build_uuid, null, outcome, at, undefined, leaseBefore))) return false;
    // Counted after the final write: a runner still flushing held the row until its lines landed.
    const lines = (await repos.builds.getByUuid(build.build_uuid))?.log_lines ?? current.log_lines;
    await repos.builds.appendLogs(build.build_uuid, lines, [[Date.parse(at), line]]);
    return true;
  });
}

/** Stops every build whose lease ran out; answers the builds it stopped. */
export async function reapExpiredLeases(store: StorePort, signals: BuildSignals): Promise<Build[]> {
  const now = nowIso();
  const stopped: Build[] = [];
  for (const build of await store.builds.expired(now)) {
    if (await stopAbandoned(store, build, now)) {
      stopped.push(build);
      signals.stopped(build.build_uuid);
    }
  }
  return stopped;
}

/** Runs the reaper every `intervalMs` (API nodes; runners reap on their heartbeat). Returns a stop function. */
export function startLeaseReaper(store: StorePort, signals: BuildSignals, intervalMs: number, onError: (error: unknown) => void, onReaped: (b: Build) => void): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    reapExpiredLeases(store, signals)
      .then((builds) => builds.forEach(onReaped))
      .catch(onError)
      .finally(() => (running = false));
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

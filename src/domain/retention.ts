/**
 * Retention (`kiln prune`, `--retention-days`): builds stopped before a cutoff go with their log lines,
 * webhook deliveries received before it, and build events raised before it that no queue
 * message still waits to deliver (after queue messages past their queue's retention period
 * went, as Cloudflare Queues drop them), in small batches (one short transaction each) so a
 * prune never holds the database for long under a running API.
 */
import type { StorePort } from "./ports.ts";

export interface PruneResult {
  builds: number;
  log_lines: number;
  deliveries: number;
  events: number;
  /** Queue messages older than their queue's retention period (whatever the cutoff). */
  expired_messages: number;
}

/** Builds per batch: each batch deletes their log lines and rows in one transaction. */
export const PRUNE_BATCH = 100;

export async function prune(store: StorePort, cutoffIso: string, batch = PRUNE_BATCH): Promise<PruneResult> {
  const result: PruneResult = { builds: 0, log_lines: 0, deliveries: 0, events: 0, expired_messages: 0 };
  for (;;) {
    const uuids = await store.builds.stoppedBefore(cutoffIso, batch);
    if (uuids.length === 0) break;
    const removed = await store.transaction((repos) => repos.builds.removeWithLogs(uuids));
    result.builds += removed.builds;
    result.log_lines += removed.log_lines;
    if (uuids.length < batch) break;
  }
  for (;;) {
    const n = await store.transaction((repos) => repos.deliveries.removeBefore(cutoffIso, batch * 10));
    result.deliveries += n;
    if (n < batch * 10) break;
  }
  for (;;) {
    const n = await store.transaction((repos) => repos.queues.removeExpired(Date.now(), batch * 10));
    result.expired_messages += n;
    if (n < batch * 10) break;
  }
  for (;;) {
    const n = await store.transaction((repos) => repos.buildEvents.removeBefore(cutoffIso, batch * 10));
    result.events += n;
    if (n < batch * 10) break;
  }
  return result;
}

/** `30d`, `12h`, `90m` → milliseconds; undefined when malformed. */
export function parseAge(text: string): number | undefined {
  const m = /^(\d{1,6})([dhm])$/.exec(text.trim());
  if (!m) return undefined;
  const unit = { d: 86_400_000, h: 3_600_000, m: 60_000 }[m[2] as "d" | "h" | "m"];
  return Number(m[1]) * unit;
}

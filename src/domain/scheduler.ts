/**
 * Which queued builds start next (`--slots`, `kiln account set-limits --concurrency`): oldest first, fair across
 * accounts, within each account's concurrency limit and the runner's free slots. Fair means
 * a free slot goes to the account with the fewest builds in progress, then the oldest build,
 * so one account's backlog never starves another's first build.
 */
import type { Build } from "./build-types.ts";
import { DEFAULT_CONCURRENCY } from "./build-types.ts";

export function pickBuilds(
  queued: Build[],
  inProgress: Map<string, number>,
  limits: Map<string, number | null>,
  freeSlots: number,
): Build[] {
  const running = new Map(inProgress);
  const byAccount = new Map<string, Build[]>();
  for (const b of queued) byAccount.set(b.account_id, [...(byAccount.get(b.account_id) ?? []), b]);
  const picked: Build[] = [];
  while (picked.length < freeSlots) {
    let best: Build | undefined;
    for (const [account, builds] of byAccount) {
      const head = builds[0];
      if (!head) continue;
      const limit = limits.get(account) ?? DEFAULT_CONCURRENCY;
      const load = running.get(account) ?? 0;
      if (load >= limit) continue;
      if (
        !best ||
        load < (running.get(best.account_id) ?? 0) ||
        (load === (running.get(best.account_id) ?? 0) && head.created_on < best.created_on)
      ) {
        best = head;
      }
    }
    if (!best) break;
    picked.push(best);
    byAccount.get(best.account_id)?.shift();
    running.set(best.account_id, (running.get(best.account_id) ?? 0) + 1);
  }
  return picked;
}

/**
 * Fixed per-key budgets over a sliding minute (deploy hooks: 10/min per Worker, 100/min per
 * account). In memory, per process: in a fleet each API node enforces it on its own share.
 */
export class SlidingWindowLimiter {
  private readonly hits = new Map<string, number[]>();

  constructor(private readonly windowMs = 60_000) {}

  /**
   * Records a hit for every key when all of them are under their limit, and answers 0;
   * otherwise records nothing and answers the milliseconds until a slot frees up.
   */
  take(limits: [key: string, max: number][], now = Date.now()): number {
    let wait = 0;
    for (const [key, max] of limits) {
      const recent = (this.hits.get(key) ?? []).filter((t) => t > now - this.windowMs);
      this.hits.set(key, recent);
      if (recent.length >= max) wait = Math.max(wait, (recent[recent.length - max] ?? now) + this.windowMs - now);
    }
    if (wait > 0) return wait;
    for (const [key] of limits) this.hits.get(key)?.push(now);
    return 0;
  }
}

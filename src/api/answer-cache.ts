/**
 * Serialised answers of hot reads (one build, a Worker's builds), reused while the database
 * has seen no commit at all since they were made (SQLite: store/change-signal.ts). A commit
 * anywhere — a build's log batch, a cancel, a revoked token, another process's write —
 * moves the epoch and every entry goes; the next request reads afresh. Polling clients
 * (dashboards, bots, follow loops) mostly ask again between two commits.
 *
 * The credential check still runs on every request before an entry is used: an entry is an
 * answer to a URL (or, for answers about the caller, to a URL and a caller), and it says what
 * access it needs. Bounded in bytes; oldest entries leave first.
 */
import type { RouteAuth } from "./route.ts";

export interface ReusedAnswer {
  /** The whole serialised envelope. */
  body: Buffer;
  /** The route pattern, for the metrics. */
  route: string;
  /** What the route asks of the caller, and of which account. */
  auth: RouteAuth;
  accountId: string;
}

/** The key of an answer that depends on who asks (token verify): the URL and the caller. */
export const callerKey = (url: string, callerId: string): string => `${url}\n${callerId}`;

export class AnswerCache {
  private epoch: number | undefined;
  private readonly entries = new Map<string, ReusedAnswer>();
  private bytes = 0;

  constructor(
    private readonly maxBytes = 32 * 1024 * 1024,
    private readonly maxEntryBytes = 1024 * 1024,
  ) {}

  get(key: string, epoch: number): ReusedAnswer | undefined {
    if (epoch !== this.epoch) return undefined;
    return this.entries.get(key);
  }

  /** `epoch` is the look taken before the answer's reads: a commit after it moves the epoch. */
  set(key: string, epoch: number, answer: ReusedAnswer): void {
    // Made before a look that already moved the cache on: stale on arrival.
    if (this.epoch !== undefined && epoch < this.epoch) return;
    if (epoch !== this.epoch) {
      this.entries.clear();
      this.bytes = 0;
      this.epoch = epoch;
    }
    if (answer.body.length > this.maxEntryBytes) return;
    const old = this.entries.get(key);
    if (old) {
      this.entries.delete(key);
      this.bytes -= old.body.length;
    }
    while (this.bytes + answer.body.length > this.maxBytes) {
      const [oldestKey, oldest] = this.entries.entries().next().value as [string, ReusedAnswer];
      this.entries.delete(oldestKey);
      this.bytes -= oldest.body.length;
    }
    this.entries.set(key, answer);
    this.bytes += answer.body.length;
  }
}

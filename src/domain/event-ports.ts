/** What build events need from storage (implemented in store/build-events.ts and store/queues.ts). */
import type { StoredBuildEvent } from "./event-envelope.ts";

/** Reading the outbox of build events (the account stream, webhook deliveries). */
export interface BuildEventReader {
  /**
   * An account's events with an id above `afterId`, oldest first. No event with an id below the
   * last one answered can commit later: resuming after that id misses nothing.
   */
  eventsAfter(accountId: string, afterId: number, limit: number): Promise<StoredBuildEvent[]>;
  /** The events of one build, oldest first. */
  eventsOfBuild(buildUuid: string): Promise<StoredBuildEvent[]>;
  /** The newest event id of an account (0 when none): where a stream without Last-Event-ID starts. */
  lastEventId(accountId: string): Promise<number>;
  /** The events with these ids, oldest first. */
  byIds(ids: number[]): Promise<StoredBuildEvent[]>;
}

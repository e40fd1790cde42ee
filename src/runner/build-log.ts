/**
 * A build's log on its way to the store: the runner's own lines and the build's output go
 * through one LogPipeline (split, masked, capped, batched) whose sink appends to the store in
 * one transaction per batch. Writes are serialized through a promise chain so the runner's
 * lines and the output stay in the order they happened.
 *
 * Memory stays bounded whatever the build prints: at most MAX_PENDING_CHUNKS output chunks wait
 * in the chain (the caller stops reading the build's pipes when `chunk()` hands it a promise),
 * the batcher holds at most HIGH_WATER_CHARS characters, and the cap's tail its budget.
 */
import type { StorePort } from "../domain/ports.ts";
import { LogPipeline } from "./log-lines.ts";

/** The build was stopped by someone else (lease expired, reaped): this runner's lines are refused. */
export class LostClaimError extends Error {
  constructor(buildUuid: string) {
    super(`build ${buildUuid} is no longer held by this runner; its log lines were refused`);
    this.name = "LostClaimError";
  }
}

/** Output chunks (64 KiB at most from a pipe) waiting for the pipeline before reading stops. */
export const MAX_PENDING_CHUNKS = 16;
/** A batch is written once it holds this many characters (or 2000 lines). */
const BATCH_CHARS = 256 * 1024;
/** The pipeline waits while its lines not yet written hold more characters than this. */
const HIGH_WATER_CHARS = 1024 * 1024;

export class BuildLog {
  private readonly pipeline: LogPipeline;
  private chain: Promise<void> = Promise.resolve();
  private failure: unknown;
  /** Output chunks waiting for the pipeline; the sandbox's stream is paused above the mark. */
  private pending = 0;

  /** `onStored`: lines reached the store (wakes live readers, on any node). */
  constructor(
    store: StorePort,
    buildUuid: string,
    /** Log writes are fenced like every other write: only the runner holding the build may append. */
    runnerId: string,
    startLine: number,
    capBytes: number,
    secrets: readonly string[],
    onStored?: () => void,
    /** The first write that failed (the pipeline stops the build: a log that cannot be stored is not run on). */
    private readonly onFailed?: (error: unknown) => void,
  ) {
    this.store = store;
    this.buildUuid = buildUuid;
    this.runnerId = runnerId;
    this.stored = startLine;
    this.pipeline = new LogPipeline({
      secrets,
      capBytes,
      startIndex: startLine,
      // Big batches: one transaction and one statement per 2000 lines keeps ingest fast.
      batchLines: 2000,
      batchChars: BATCH_CHARS,
      highWaterChars: HIGH_WATER_CHARS,
      flush: async (lines, first, limits) => {
        const stored = await store.transaction(async (r) => {
          if (!(await r.builds.holds(buildUuid, runnerId))) throw new LostClaimError(buildUuid);
          return r.builds.appendLogs(buildUuid, first, lines, limits);
        });
        this.stored = first + stored.rows;
        if (stored.rows > 0) onStored?.();
        return stored;
      },
    });
  }

  private readonly store: StorePort;
  private readonly buildUuid: string;
  private readonly runnerId: string;
  /** Lines stored so far (the next line's number). */
  private stored: number;

  private enqueue(step: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(step).catch((error: unknown) => {
      if (this.failure === undefined) {
        this.failure = error;
        this.onFailed?.(error);
      }
    });
    return this.chain;
  }

  /** Whether a write of this log failed (the log stopped there). */
  get failed(): unknown {
    return this.failure;
  }

  /**
   * After the log failed (a full disk): one last line, written straight to the store after the
   * lines that were stored, when space allows. Resolves whether it was stored.
   */
  async lastLine(text: string): Promise<boolean> {
    try {
      await this.store.transaction(async (r) => {
        if (!(await r.builds.holds(this.buildUuid, this.runnerId))) throw new LostClaimError(this.buildUuid);
        await r.builds.appendLogs(this.buildUuid, this.stored, [[Date.now(), text]]);
      });
      this.stored++;
      return true;
    } catch {
      return false;
    }
  }

  line(text: string): void {
    void this.enqueue(() => this.pipeline.line(text));
  }

  /**
   * Build output. Returns a promise when too much output waits already: the caller stops
   * reading until it settles (the pipeline took this chunk); undefined means read on.
   */
  chunk(chunk: Buffer, stream = "stdout"): Promise<void> | undefined {
    this.pending++;
    const taken = this.enqueue(() => this.pipeline.write(chunk, stream)).finally(() => this.pending--);
    return this.pending > MAX_PENDING_CHUNKS ? taken : undefined;
  }

  get backlog(): number {
    return this.pending;
  }

  updateSecrets(secrets: readonly string[]): void {
    void this.enqueue(async () => this.pipeline.setSecrets(secrets));
  }

  /** Flushes everything; rejects if any write to the store failed. */
  async close(): Promise<void> {
    await this.enqueue(() => this.pipeline.end());
    if (this.failure) throw this.failure;
  }
}

/**
 * The build log pipeline of the runner, pure and
 * storage-agnostic: raw output chunks → {@link LineSplitter} (complete lines, masked, long lines
 * cut) → {@link LogCap} (head written at once, the last lines held past the cap) →
 * {@link LogBatcher} (batched, ordered, back-pressured calls of an async sink). {@link LogPipeline}
 * wires the three together; the sink is what writes lines `firstIndex…` to the store.
 *
 * Lines are `[timestampMs, text]` (milliseconds since the epoch: the time the write that completed
 * the line arrived), numbered contiguously by the batcher from `startIndex`. A sink may store fewer
 * rows than lines (a run of refused lines as one notice) and says so: the numbering follows the rows.
 */
import { StringDecoder } from "node:string_decoder";
import type { LogLimits, StoredLines } from "../domain/build-ports.ts";
import type { LogLine } from "../domain/build-types.ts";
import { LogCap, prefixForBytes, type LogCapOptions } from "./log-cap.ts";
import { SecretMasker } from "./masker.ts";

export { SecretMasker } from "./masker.ts";
export { LogCap, capMarker, prefixForBytes, DEFAULT_LOG_CAP_BYTES, DEFAULT_TAIL_LINES, type LogCapOptions } from "./log-cap.ts";

/** A line with no newline for this many bytes is cut into pieces of at most this size. */
export const DEFAULT_MAX_LINE_BYTES = 64 * 1024;

export interface LineSplitterOptions {
  /** Values replaced by `***` (see masker.ts); can be replaced later with setSecrets. */
  secrets?: readonly string[];
  /** Longest line, in UTF-8 bytes, before it is cut (default 64 KiB, at least 64). */
  maxLineBytes?: number;
  /** Clock for line timestamps (default Date.now). */
  now?: () => number;
}

interface StreamState {
  decoder: StringDecoder;
  /** The unterminated line so far (raw, unmasked). */
  pending: string;
  /** How many characters at the start of `pending` are the rest of a secret already masked in the previous piece. */
  forced: number;
}

/**
 * Turns output chunks into complete, masked lines.
 *
 * - Chunks may split lines and UTF-8 sequences anywhere; each stream (`"stdout"`, `"stderr"`, any
 *   key) keeps its own unterminated line and decoder, so interleaved streams never mix halves.
 *   Invalid UTF-8 becomes U+FFFD. A stream is fed either Buffers or strings, not both.
 * - `\n` ends a line, `\r\n` too (the `\r` is removed); a lone `\r` stays in the text.
 * - Masking happens on complete lines, so a secret split across writes is still masked.
 * - A line longer than maxLineBytes is cut into pieces (each its own line) so memory stays bounded.
 *   A piece cut from a line still being written ends at least `longestSecret - 1` characters
 *   before the data received so far: every secret that begins in the piece is then wholly known
 *   and masked, and when its occurrence runs past the cut, the start of the next piece is masked
 *   too (`***` on both sides of the cut). Nothing of a secret is ever emitted in clear.
 * - `end()` emits the unterminated lines; the splitter can then be written again.
 */
export class LineSplitter {
  private masker: SecretMasker;
  /** Whether masking can leave half a surrogate pair (a secret starting or ending with one). */
  private maskSplitsPairs = false;
  private readonly maxLineBytes: number;
  private readonly now: () => number;
  private readonly streams = new Map<string, StreamState>();
  private lastKey: string | undefined;
  private last: StreamState | undefined;

  constructor(options: LineSplitterOptions = {}) {
    this.masker = new SecretMasker(options.secrets ?? []);
    this.maskSplitsPairs = splitsPairs(this.masker);
    this.maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    if (!Number.isInteger(this.maxLineBytes) || this.maxLineBytes < 64) throw new RangeError("maxLineBytes must be an integer ≥ 64");
    this.now = options.now ?? Date.now;
  }

  /** Replaces the secrets; lines not emitted yet (including unterminated ones) are masked with the new list. */
  setSecrets(secrets: readonly string[]): void {
    this.masker = new SecretMasker(secrets);
    this.maskSplitsPairs = splitsPairs(this.masker);
  }

  /** The complete lines this chunk finishes (maybe none). */
  write(chunk: Uint8Array | string, stream = "stdout"): LogLine[] {
    const state = this.state(stream);
    const text = typeof chunk === "string" ? chunk : state.decoder.write(chunk as Buffer);
    const out: LogLine[] = [];
    if (text.length > 0) this.feed(state, text, this.now(), out);
    return out;
  }

  /**
   * A line written by the runner itself (masked, cut, split at its newlines). The unterminated
   * lines of every stream are emitted first, so it always stands on a line of its own.
   */
  line(text: string): LogLine[] {
    const out = this.end();
    const at = this.now();
    for (const part of wellFormed(text).split("\n")) this.complete(part, 0, at, out);
    return out;
  }

  /** The unterminated line of every stream (an incomplete UTF-8 sequence at the end becomes U+FFFD). */
  end(): LogLine[] {
    const out: LogLine[] = [];
    const at = this.now();
    for (const state of this.streams.values()) {
      const rest = state.decoder.end();
      if (rest.length > 0) this.feed(state, rest, at, out);
      if (state.pending.length > 0) this.complete(state.pending, state.forced, at, out);
      state.pending = "";
      state.forced = 0;
    }
    return out;
  }

  private state(key: string): StreamState {
    if (key === this.lastKey && this.last) return this.last;
    let state = this.streams.get(key);
    if (!state) {
      state = { decoder: new StringDecoder("utf8"), pending: "", forced: 0 };
      this.streams.set(key, state);
    }
    this.lastKey = key;
    this.last = state;
    return state;
  }

  private feed(state: StreamState, text: string, at: number, out: LogLine[]): void {
    let nl = text.indexOf("\n");
    if (nl === -1) {
      state.pending += text;
    } else {
      const first = text.slice(0, nl);
      this.complete(state.pending.length > 0 ? state.pending + first : first, state.forced, at, out);
      state.forced = 0;
      let pos = nl + 1;
      while ((nl = text.indexOf("\n", pos)) !== -1) {
        this.complete(text.slice(pos, nl), 0, at, out);
        pos = nl + 1;
      }
      state.pending = text.slice(pos);
    }
    if (state.pending.length * 3 > this.maxLineBytes) this.cutPending(state, at, out);
  }

  private complete(line: string, forced: number, at: number, out: LogLine[]): void {
    this.emit(this.masker.mask(line.charCodeAt(line.length - 1) === 13 ? line.slice(0, -1) : line, forced), at, out);
  }

  /**
   * Pushes masked text, cut into pieces of at most maxLineBytes (any cut is safe: it is masked).
   * A NUL character becomes U+FFFD, the replacement character, as undecodable bytes already do:
   * PostgreSQL's text cannot hold NUL, and both databases must store the same lines (a secret
   * never holds one: variables with NUL are refused). So does a lone UTF-16 surrogate, which
   * PostgreSQL would store as one U+FFFD and SQLite as three. Decoded output never holds one
   * (and cuts keep pairs whole); runner lines (line()) and masking with a secret that starts or
   * ends with half a pair could.
   */
  private emit(raw: string, at: number, out: LogLine[]): void {
    let text = raw.includes("\0") ? raw.replaceAll("\0", "\uFFFD") : raw;
    if (this.maskSplitsPairs) text = wellFormed(text);
    if (text.length * 3 <= this.maxLineBytes) {
      out.push([at, text]);
      return;
    }
    let rest = text;
    for (;;) {
      const cut = prefixForBytes(rest, this.maxLineBytes);
      out.push([at, cut === rest.length ? rest : rest.slice(0, cut)]);
      if (cut === rest.length) return;
      rest = rest.slice(cut);
    }
  }

  /** Cuts pieces off an unterminated line while it is longer than maxLineBytes. */
  private cutPending(state: StreamState, at: number, out: LogLine[]): void {
    for (;;) {
      const text = state.pending;
      if (text.length <= this.maxLineBytes && Buffer.byteLength(text) <= this.maxLineBytes) return;
      let cut = prefixForBytes(text, this.maxLineBytes);
      // Keep what could be the start of a secret whose end has not arrived yet.
      const keep = this.masker.maxLength - 1;
      if (keep > 0) cut = Math.min(cut, text.length - keep);
      if (cut > 0 && isHighSurrogate(text.charCodeAt(cut - 1))) cut--;
      if (cut > 1 && text.charCodeAt(cut - 1) === 13) cut--; // keep "\r" with its "\n"
      if (cut <= 0) return; // a secret longer than the limit: wait for more (bounded by that secret's length)
      const ranges = this.masker.ranges(text, state.forced);
      // `***` can be longer than what it hides: emit() cuts again if the piece grew past the limit.
      this.emit(this.masker.apply(text, ranges, cut), at, out);
      let forced = 0;
      for (let k = 0; k < ranges.length; k += 2) {
        const s = ranges[k] as number;
        const e = ranges[k + 1] as number;
        if (s < cut && e > cut) forced = e - cut;
        if (s >= cut) break;
      }
      state.pending = text.slice(cut);
      state.forced = forced;
    }
  }
}

/** ES2024 string methods, in Node 20 but not in the ES2022 library this project compiles against. */
interface WellFormed {
  isWellFormed(): boolean;
  toWellFormed(): string;
}

function splitsPairs(masker: SecretMasker): boolean {
  return masker.pieces.some((p) => isLowSurrogate(p.charCodeAt(0)) || isHighSurrogate(p.charCodeAt(p.length - 1)));
}

function wellFormed(text: string): string {
  const checked = text as unknown as WellFormed;
  return checked.isWellFormed() ? text : checked.toWellFormed();
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

/**
 * Writes `lines` as rows `firstIndex`, `firstIndex + 1`, …; a rejection stops the batcher. It
 * resolves with what it stored (the store's appendLogs, `limits` passed on), or nothing when it
 * stored every line as given.
 */
export type LogSink = (lines: LogLine[], firstIndex: number, limits?: LogLimits) => Promise<StoredLines | void>;

export interface LogBatcherOptions {
  /** Lines per sink call at most; a batch this big is flushed at once (default 500). */
  batchLines?: number;
  /** A line waits at most this long for its batch to fill (default 50 ms). */
  batchDelayMs?: number;
  /** push waits while more lines than this are pending (default 5000). */
  highWaterMark?: number;
  /** A batch is flushed at once when its lines hold this many characters (default: no bound). */
  batchChars?: number;
  /** push also waits while the pending lines hold more characters than this (default: no bound). */
  highWaterChars?: number;
  /** Index of the first line pushed (default 0). */
  startIndex?: number;
}

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * Calls the sink with batches of at most batchLines lines, in order, one call at a time: a batch
 * is flushed when it is full (batchLines lines or batchChars characters), when its first line
 * has waited batchDelayMs, or right after the previous call when lines arrived meanwhile (group
 * commit). `push` returns a promise to await: it resolves at once unless more than highWaterMark
 * lines or highWaterChars characters are pending, so a build printing faster than the store
 * writes is slowed down instead of filling memory. Lines are counted and measured both: 5000
 * pending lines of 64 KiB would be 320 MB.
 *
 * The first sink failure stops the batcher (later lines could not keep contiguous indexes): it
 * rejects the pending and later pushes and `close()`, and stays readable in `error`.
 */
export class LogBatcher {
  readonly batchLines: number;
  readonly batchDelayMs: number;
  readonly highWaterMark: number;
  readonly batchChars: number;
  readonly highWaterChars: number;
  /** Index the next line handed to the sink gets. */
  nextIndex: number;
  private pending: LogLine[] = [];
  /** Characters of the pending lines. */
  private pendingChars = 0;
  private flushing = false;
  private running: Promise<void> = RESOLVED;
  private timer: NodeJS.Timeout | undefined;
  private waiters: { resolve: () => void; reject: (error: unknown) => void }[] = [];
  private failed = false;
  private failure: unknown;
  private closed = false;

  constructor(
    private readonly sink: LogSink,
    options: LogBatcherOptions = {},
  ) {
    this.batchLines = options.batchLines ?? 500;
    this.batchDelayMs = options.batchDelayMs ?? 50;
    this.highWaterMark = options.highWaterMark ?? 5000;
    this.batchChars = options.batchChars ?? Infinity;
    this.highWaterChars = options.highWaterChars ?? Infinity;
    this.nextIndex = options.startIndex ?? 0;
    if (!(this.batchLines >= 1) || !(this.highWaterMark >= 0) || !(this.batchDelayMs >= 0) || !(this.batchChars >= 1) || !(this.highWaterChars >= 0)) throw new RangeError("invalid batcher options");
  }

  /** The sink's failure, once one happened. */
  get error(): unknown {
    return this.failure;
  }

  /** Lines accepted and not handed to the sink yet. */
  get pendingLines(): number {
    return this.pending.length;
  }

  push(line: LogLine): Promise<void> {
    if (this.failed) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error("log batcher is closed"));
    this.pending.push(line);
    this.pendingChars += line[1].length;
    return this.afterAdd();
  }

  pushAll(lines: readonly LogLine[]): Promise<void> {
    if (this.failed) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error("log batcher is closed"));
    for (const line of lines) {
      this.pending.push(line);
      this.pendingChars += line[1].length;
    }
    return this.afterAdd();
  }

  /** Takes back the lines not handed to the sink yet (they will not be written). */
  takePending(): LogLine[] {
    const lines = this.pending;
    this.pending = [];
    this.pendingChars = 0;
    this.clearTimer();
    return lines;
  }

  /** Flushes everything pending; resolves when the sink has taken it all, rejects with the sink's failure. */
  async close(): Promise<void> {
    this.closed = true;
    await this.drain();
  }

  /** Like close(), and more lines may come after. */
  async drain(): Promise<void> {
    this.clearTimer();
    while (!this.failed && (this.flushing || this.pending.length > 0)) {
      if (!this.flushing) this.start();
      await this.running;
    }
    if (this.failed) throw this.failure;
  }

  private afterAdd(): Promise<void> {
    if (!this.flushing) {
      if (this.pending.length >= this.batchLines || this.pendingChars >= this.batchChars) this.start();
      else if (!this.timer && this.pending.length > 0) this.timer = setTimeout(() => this.start(), this.batchDelayMs);
    }
    if (!this.overHighWater()) return RESOLVED;
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private overHighWater(): boolean {
    return this.pending.length > this.highWaterMark || this.pendingChars > this.highWaterChars;
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private start(): void {
    this.clearTimer();
    if (this.flushing || this.failed) return;
    // The flag is cleared in the same synchronous step that finds nothing left to flush, so a
    // line pushed at any moment either joins the running loop or schedules a new flush.
    this.flushing = true;
    this.running = this.run();
  }

  private async run(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        let n = 0;
        let chars = 0;
        const limit = Math.min(this.batchLines, this.pending.length);
        while (n < limit && (n === 0 || chars + (this.pending[n] as LogLine)[1].length <= this.batchChars)) chars += (this.pending[n++] as LogLine)[1].length;
        let batch: LogLine[];
        if (n === this.pending.length) {
          batch = this.pending;
          this.pending = [];
        } else {
          batch = this.pending.slice(0, n);
          this.pending = this.pending.slice(n);
        }
        this.pendingChars -= chars;
        const first = this.nextIndex;
        const stored = await this.sink(batch, first);
        this.nextIndex = first + (stored ? stored.rows : batch.length);
        if (!this.overHighWater() && this.waiters.length > 0) {
          const waiters = this.waiters;
          this.waiters = [];
          for (const w of waiters) w.resolve();
        }
      }
    } catch (error) {
      this.failed = true;
      this.failure = error ?? new Error("log sink failed");
      this.pending = [];
      this.pendingChars = 0;
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w.reject(this.failure);
    } finally {
      this.flushing = false;
    }
  }
}

export interface LogPipelineOptions extends LineSplitterOptions, LogCapOptions, LogBatcherOptions {
  flush: LogSink;
}

/**
 * Splitter → cap → batcher. Await every call: the promise carries the back-pressure and, once
 * the sink failed, its error. `end()` emits unterminated lines, the cap's marker and tail, and
 * resolves when the sink has everything.
 *
 * Lines are cut at a quarter of the cap's tail budget at most (64 KiB by default; 4 KiB with a
 * 64 KiB cap), so the tail always holds several pieces of a long line and the end of the log.
 */
export class LogPipeline {
  readonly splitter: LineSplitter;
  readonly cap: LogCap;
  readonly batcher: LogBatcher;

  private readonly flush: LogSink;

  constructor(options: LogPipelineOptions) {
    this.cap = new LogCap(options);
    const maxLineBytes = Math.max(64, Math.min(options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES, Math.floor(this.cap.tailBytes / 4)));
    this.splitter = new LineSplitter({ ...options, maxLineBytes });
    this.flush = options.flush;
    this.batcher = new LogBatcher((lines, first) => this.flushHead(lines, first), options);
  }

  write(chunk: Uint8Array | string, stream?: string): Promise<void> {
    return this.send(this.splitter.write(chunk, stream));
  }

  line(text: string): Promise<void> {
    return this.send(this.splitter.line(text));
  }

  setSecrets(secrets: readonly string[]): void {
    this.splitter.setSecrets(secrets);
  }

  /**
   * The head is written first (and charged, see flushHead); then the marker and the tail, in one
   * all-or-nothing call so that, when the notices of refused lines would take them past the cap,
   * they are written again with fewer tail lines (LogCap.fitWorstCase) and a marker saying so.
   */
  async end(): Promise<void> {
    await this.send(this.splitter.end());
    await this.batcher.close();
    let rest = this.cap.rest();
    if (rest.length > 0) {
      const first = this.batcher.nextIndex;
      const budget = this.cap.capBytes - this.cap.headBytes;
      let stored = await this.flush(rest, first, { extraBytes: budget - bytesOf(rest), whole: true });
      if (stored && stored.taken < rest.length) {
        this.cap.fitWorstCase(budget);
        rest = this.cap.rest();
        stored = await this.flush(rest, first, { extraBytes: budget - bytesOf(rest) });
      }
      this.batcher.nextIndex = first + (stored ? stored.rows : rest.length);
    }
    this.cap.end();
  }

  /**
   * Writes a batch of the head, letting notices take what the cap has left (noticeRoom), and
   * settles it with the cap: when the store stopped short of a notice that did not fit, or the
   * head went past its limit, the lines not written (the rest of the batch, those waiting in the
   * batcher) become dropped lines, so the head ends right before the marker.
   */
  private async flushHead(lines: LogLine[], first: number): Promise<StoredLines | void> {
    const stored = await this.flush(lines, first, { extraBytes: this.cap.noticeRoom(lines.length) });
    this.cap.settle(lines, stored ? stored.taken : lines.length, stored ? stored.extraBytes : 0, () => this.batcher.takePending());
    return stored;
  }

  /**
   * Before the line that would freeze the head, the head lines in flight are written first: the
   * store may have stored them in fewer bytes (a run of refused lines as one notice), and the
   * head is only frozen on what it really takes. Once per build when nothing is refused.
   */
  private async send(lines: LogLine[]): Promise<void> {
    const out: LogLine[] = [];
    for (const line of lines) {
      if (this.cap.push(line, out, true)) continue;
      await this.batcher.pushAll(out.splice(0));
      await this.batcher.drain();
      this.cap.push(line, out);
    }
    return this.batcher.pushAll(out);
  }
}

function bytesOf(lines: readonly LogLine[]): number {
  let n = 0;
  for (const line of lines) n += Buffer.byteLength(line[1]) + 1;
  return n;
}

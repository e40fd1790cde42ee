/**
 * The per-build log cap (`--log-cap`, README "Running it"), decided line by line so the log can be
 * written while it is produced. The stored log never takes more than `capBytes`, marker
 * included: what is written is always one contiguous run of lines, head, marker, tail.
 *
 * Bytes are counted as the log would take as a text file: UTF-8 bytes of the text plus one for
 * its newline. Room for the longest possible marker line is set aside up front, so
 * `headLimit = capBytes - markerRoom` bounds head and tail together:
 *
 * 1. While the head stays under `headLimit - tailBytes`, every line is written at once.
 * 2. Past that, lines are held in a ring (the tail) of at most `tailLines` lines and `tailBytes`
 *    bytes. While head + ring still fit in `headLimit`, the ring slides: a line pushed out of it
 *    by the line count joins the head (written), so a log under the cap is stored whole.
 * 3. The first line that would take head + ring past `headLimit` freezes the head. From then on
 *    the ring may use what the head left (`headLimit - head`, at most tailBytes plus one line),
 *    and lines pushed out of it are dropped and counted.
 *
 * At `end()` the marker (only when something was dropped: nothing is dropped silently, and
 * nothing is claimed dropped when nothing was) and the ring are returned, to be written after
 * the head.
 *
 * Lines the database refuses are stored as notices (domain/log-notice.ts), which can be longer
 * than the lines (a `✓` line is 4 bytes, its notice ~160). The cap counts lines before they are
 * stored, so what the store actually took is charged afterwards (log-lines.ts, LogPipeline):
 * - a head batch may add at most `noticeRoom` bytes of notices (room left for the head without
 *   touching the tail's budget); the store stops the batch before a notice that does not fit;
 *   `charge()` adds what the notices took, and `dropHead()` makes the lines not written (the rest
 *   of a batch cut short, and the batches after it) the start of the dropped middle, so the head
 *   still ends where the marker begins;
 * - the marker and the tail are written last, in one all-or-nothing batch: when their notices do
 *   not fit, `fitWorstCase()` drops the oldest tail lines until they would fit even if every line
 *   left became a notice of MAX_NOTICE_BYTES, and they are written again.
 * Charging afterwards was preferred to counting every line at a notice's size: that would make
 * a small cap's tail of short lines a quarter as long for every build, for the sake of the few
 * whose database refuses lines. Room for the marker is at least MAX_NOTICE_BYTES, in case the
 * database refuses the marker itself.
 *
 * Memory: the ring holds at most `tailLines` lines and about tailBytes plus one line's bytes,
 * whatever the volume of the build's output (the splitter cuts lines to a bounded length before
 * they get here).
 */
import type { LogLine } from "../domain/build-types.ts";
import { MAX_NOTICE_BYTES } from "../domain/log-notice.ts";

export const DEFAULT_LOG_CAP_BYTES = 64 * 1024 * 1024;
export const DEFAULT_TAIL_LINES = 1000;
/** The tail takes at most this share of the cap… */
export const TAIL_SHARE = 4;
/**
 * …and at most this many bytes: the tail is held in memory until the build ends, for every build
 * running at once. 1000 lines of 1 KiB fit; six builds flooding with 8 MiB tails took the server
 * to +323 MiB over its baseline, with 1 MiB tails to +148 MiB (docs/benchmarks.md).
 */
export const MAX_TAIL_BYTES = 1024 * 1024;
/** Smallest cap: the marker line needs room, and a head and tail of a few lines. */
export const MIN_LOG_CAP_BYTES = 1024;

export interface LogCapOptions {
  /** Bytes the stored log may take, marker included (default 64 MiB, `--log-cap`). */
  capBytes?: number;
  /** Lines kept after the dropped middle (default 1000). */
  tailLines?: number;
  /** Bytes kept after the dropped middle (default a quarter of the cap, at most 1 MiB). */
  tailBytes?: number;
}

/** The tail's byte budget for a cap, when none is given. */
export function defaultTailBytes(capBytes: number): number {
  return Math.min(MAX_TAIL_BYTES, Math.floor(capBytes / TAIL_SHARE));
}

export function capMarker(capBytes: number, droppedLines: number, droppedBytes: number, tailLines: number): string {
  return `[kiln] Log cap of ${capBytes} bytes reached: ${droppedLines} lines (${droppedBytes} bytes) dropped here; the last ${tailLines} lines follow.`;
}

export class LogCap {
  readonly capBytes: number;
  readonly tailLines: number;
  readonly tailBytes: number;
  /** Head and tail together never take more than this: the rest of the cap is the marker's. */
  readonly headLimit: number;
  /** `capBytes - headLimit`: the longest marker line, or a notice in its place. */
  readonly markerRoom: number;
  /** Bytes of the head (lines returned by push). */
  headBytes = 0;
  droppedLines = 0;
  droppedBytes = 0;
  private frozen = false;
  // Ring of the tail: `start` is the oldest, `size` how many, `bytes` their sum.
  private readonly ring: LogLine[] = [];
  private readonly ringBytes: number[] = [];
  private start = 0;
  private size = 0;
  private bytes = 0;
  private lastDroppedAt = 0;
  private shifted = 0;
  /** Bytes of each head line handed out by push and not yet reported written (settle), oldest first from `unwrittenStart`. */
  private unwritten: number[] = [];
  private unwrittenStart = 0;

  constructor(options: LogCapOptions = {}) {
    this.capBytes = options.capBytes ?? DEFAULT_LOG_CAP_BYTES;
    this.tailLines = options.tailLines ?? DEFAULT_TAIL_LINES;
    this.tailBytes = options.tailBytes ?? defaultTailBytes(this.capBytes);
    if (!Number.isInteger(this.capBytes) || this.capBytes < MIN_LOG_CAP_BYTES) throw new RangeError(`the log cap must be an integer ≥ ${MIN_LOG_CAP_BYTES}`);
    if (!Number.isInteger(this.tailLines) || this.tailLines < 0 || !Number.isInteger(this.tailBytes) || this.tailBytes < 0) throw new RangeError("invalid log cap options");
    // The longest marker this cap can write: counts are safe integers.
    const longest = Buffer.byteLength(capMarker(this.capBytes, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, this.tailLines)) + 1;
    this.markerRoom = Math.max(longest, MAX_NOTICE_BYTES);
    this.headLimit = this.capBytes - this.markerRoom;
    if (this.tailBytes > this.headLimit) throw new RangeError("the log tail must be smaller than the cap");
  }

  /** Whether lines have been held back (the log got near the cap). */
  get reached(): boolean {
    return this.frozen || this.size > 0;
  }

  /** Lines held in memory right now (never more than tailLines). */
  get held(): number {
    return this.size;
  }

  /** Bytes held in memory right now (at most tailBytes plus one line). */
  get heldBytes(): number {
    return this.bytes;
  }

  /** Bytes that are or will be stored so far: head, tail and (when something was dropped) the marker. */
  get storedBytes(): number {
    const marker = this.droppedBytes > 0 ? Buffer.byteLength(this.marker()) + 1 : 0;
    return this.headBytes + this.bytes + marker;
  }

  /**
   * Takes a line; appends to `out` the lines to be written now (the line itself, or older ones
   * sliding out of the tail). With `waitBeforeFreeze`, a line that would freeze the head while
   * head lines are still unwritten is not taken (false): see LogPipeline.send.
   */
  push(line: LogLine, out: LogLine[], waitBeforeFreeze = false): boolean {
    const text = line[1];
    const bytes = Buffer.byteLength(text) + 1;
    if (!this.frozen) {
      if (this.size === 0 && this.headBytes + bytes <= this.headLimit - this.tailBytes) {
        this.headBytes += bytes;
        this.unwritten.push(bytes);
        out.push(line);
        return true;
      }
      if (this.headBytes + this.bytes + bytes <= this.headLimit && bytes <= this.tailBytes) {
        this.hold(line, bytes);
        while (this.size > this.tailLines) {
          out.push(this.shift());
          this.headBytes += this.shifted;
          this.unwritten.push(this.shifted);
        }
        return true;
      }
      if (waitBeforeFreeze && this.unwrittenLines > 0) return false;
      this.frozen = true;
    }
    const budget = this.headLimit - this.headBytes;
    let kept = line;
    let keptBytes = bytes;
    if (bytes > budget) {
      // Only when the head ended within a line of the limit: the start of the line is kept.
      const cut = prefixForBytes(text, Math.max(0, budget - 1));
      this.lastDroppedAt = line[0];
      if (cut === 0) {
        // Nothing of it kept: all its bytes are dropped, newline included.
        this.droppedLines++;
        this.droppedBytes += bytes;
        return true;
      }
      kept = [line[0], text.slice(0, cut)];
      keptBytes = Buffer.byteLength(kept[1]) + 1;
      this.droppedBytes += bytes - keptBytes;
    }
    this.hold(kept, keptBytes);
    while (this.size > this.tailLines || this.bytes > budget) this.dropOldest();
    return true;
  }

  /** What remains to be written after the head: the marker line (when lines were dropped) and the tail. Empties the ring. */
  end(): LogLine[] {
    const out = this.rest();
    this.ring.length = 0;
    this.ringBytes.length = 0;
    this.start = 0;
    this.size = 0;
    this.bytes = 0;
    return out;
  }

  /** What end() would return, the ring left as it is. */
  rest(): LogLine[] {
    const out: LogLine[] = [];
    if (this.droppedBytes > 0) out.push([this.lastDroppedAt, this.marker()]);
    for (let i = this.start; i < this.start + this.size; i++) out.push(this.ring[i] as LogLine);
    return out;
  }

  /** Head lines handed out by push and not reported written yet (settle). */
  get unwrittenLines(): number {
    return this.unwritten.length - this.unwrittenStart;
  }

  /**
   * Bytes notices may add to a batch of the next `lines` unwritten head lines: what is left of
   * the head's share, keeping the tail's budget (or the ring, when it holds more), once the head
   * written so far and the batch are counted. Lines after the batch are not counted: they are
   * dropped if the notices leave them no room (settle).
   */
  noticeRoom(lines: number): number {
    let through = this.headBytes;
    for (let i = this.unwrittenStart + lines; i < this.unwritten.length; i++) through -= this.unwritten[i] as number;
    return Math.max(0, this.headLimit - through - Math.max(this.bytes, this.tailBytes));
  }

  /**
   * The next `batch` of unwritten head lines reached the store: the first `taken` were stored,
   * taking `extra` bytes more than their own (notices; negative when they took less). When the
   * store stopped short, or the notices took the head past its limit, the rest of the batch and
   * every head line not written yet (`takePending`, the batcher's) are dropped instead: they
   * become the start of the dropped middle, and the head is frozen where it was stored. Then head
   * and ring are made to fit again (the oldest ring lines dropped).
   */
  settle(batch: readonly LogLine[], taken: number, extra: number, takePending: () => LogLine[]): void {
    this.headBytes += extra;
    if (taken < batch.length || this.headBytes > this.headLimit) {
      const dropped = [...batch.slice(taken), ...takePending()];
      let bytes = 0;
      for (let i = this.unwrittenStart + taken; i < this.unwritten.length; i++) bytes += this.unwritten[i] as number;
      this.unwritten = [];
      this.unwrittenStart = 0;
      this.headBytes -= bytes;
      // Lines dropped before (from the ring) are newer: the marker keeps their time.
      if (this.droppedBytes === 0 && dropped.length > 0) this.lastDroppedAt = (dropped[dropped.length - 1] as LogLine)[0];
      this.droppedLines += dropped.length;
      this.droppedBytes += bytes;
      this.frozen = true;
    } else {
      this.unwrittenStart += batch.length;
      if (this.unwrittenStart >= 1024 && this.unwrittenStart * 2 >= this.unwritten.length) {
        this.unwritten.splice(0, this.unwrittenStart);
        this.unwrittenStart = 0;
      }
    }
    this.fit();
  }

  /**
   * Drops the oldest tail lines until the marker and the tail fit in `budget` bytes even if the
   * database refused every line left, each then a notice of MAX_NOTICE_BYTES at most (the marker
   * in its room). Always possible: budget ≥ markerRoom once the head is written.
   */
  fitWorstCase(budget: number): void {
    let worst = 0;
    for (let i = this.start; i < this.start + this.size; i++) worst += Math.max(this.ringBytes[i] as number, MAX_NOTICE_BYTES);
    while (this.size > 0 && worst + (this.droppedBytes > 0 ? this.markerRoom : 0) > budget) {
      worst -= Math.max(this.ringBytes[this.start] as number, MAX_NOTICE_BYTES);
      this.dropOldest();
    }
  }

  /** Head and ring within headLimit again, by freezing the head and dropping the oldest ring lines. */
  fit(): void {
    if (this.headBytes + this.bytes <= this.headLimit) return;
    this.frozen = true;
    while (this.size > 0 && this.headBytes + this.bytes > this.headLimit) this.dropOldest();
  }

  private dropOldest(): void {
    this.lastDroppedAt = this.shift()[0];
    this.droppedLines++;
    this.droppedBytes += this.shifted;
  }

  private marker(): string {
    return capMarker(this.capBytes, this.droppedLines, this.droppedBytes, this.size);
  }

  private hold(line: LogLine, bytes: number): void {
    // Held lines are copied flat: a slice of a big output chunk would keep the whole chunk alive.
    const held: LogLine = [line[0], flat(line[1])];
    const at = this.start + this.size;
    this.ring[at] = held;
    this.ringBytes[at] = bytes;
    this.size++;
    this.bytes += bytes;
  }

  /** Takes the oldest line out of the ring; its bytes are left in `shifted`. */
  private shift(): LogLine {
    const line = this.ring[this.start] as LogLine;
    const bytes = this.ringBytes[this.start] as number;
    this.ring[this.start] = undefined as unknown as LogLine;
    this.start++;
    this.size--;
    this.bytes -= bytes;
    this.shifted = bytes;
    // Compact now and then so the arrays stay about the ring's size.
    if (this.start >= 1024 && this.start * 2 >= this.ring.length) {
      this.ring.splice(0, this.start);
      this.ringBytes.splice(0, this.start);
      this.start = 0;
    }
    return line;
  }
}

function flat(text: string): string {
  return (" " + text).slice(1);
}

/** The longest prefix of `text` (in UTF-16 units, on a code point boundary) whose UTF-8 encoding fits in maxBytes. */
export function prefixForBytes(text: string, maxBytes: number): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    let n = 3;
    let width = 1;
    if (c < 0x80) n = 1;
    else if (c < 0x800) n = 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n = 4;
        width = 2;
      }
    }
    if (bytes + n > maxBytes) return i;
    bytes += n;
    i += width - 1;
  }
  return text.length;
}

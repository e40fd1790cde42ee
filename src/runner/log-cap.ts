/**
 * The per-build log cap (design brief §2.4 "Cap"), decided line by line so the log can be
 * written while it is produced.
 *
 * Until the cap is reached every line is written at once (the head). The first line that would
 * take the log past `capBytes` switches the cap on: from then on lines are held in a ring of the
 * last `tailLines`; a line pushed out of the ring is dropped and counted. At `end()` the marker
 * line (only when something was dropped — nothing is dropped silently, and nothing is claimed
 * dropped when nothing was) and the ring are returned, to be written after the head. What is
 * written is therefore always one contiguous run of lines: head, marker, tail.
 *
 * Bytes are counted as the log would take as a text file: UTF-8 bytes of the text plus one for
 * its newline. Memory: the ring holds at most `tailLines` lines, each at most the splitter's
 * long-line limit (64 KiB by default), whatever the volume of the build's output.
 */
import type { LogLine } from "../domain/build-types.ts";

export const DEFAULT_LOG_CAP_BYTES = 64 * 1024 * 1024;
export const DEFAULT_TAIL_LINES = 1000;

export interface LogCapOptions {
  /** Bytes kept before lines start being dropped (default 64 MiB, `--log-cap`). */
  capBytes?: number;
  /** Lines kept after the dropped middle (default 1000). */
  tailLines?: number;
}

export function capMarker(capBytes: number, droppedLines: number, droppedBytes: number, tailLines: number): string {
  return `[kiln] Log cap of ${capBytes} bytes reached: ${droppedLines} lines (${droppedBytes} bytes) dropped here; the last ${tailLines} lines follow.`;
}

export class LogCap {
  readonly capBytes: number;
  readonly tailLines: number;
  /** Bytes of the head (lines returned by push). */
  headBytes = 0;
  droppedLines = 0;
  droppedBytes = 0;
  private capped = false;
  // Ring of the last tailLines lines once capped: `start` is the oldest, `size` how many.
  private readonly ring: LogLine[] = [];
  private readonly ringBytes: number[] = [];
  private start = 0;
  private size = 0;
  private lastDroppedAt = 0;

  constructor(options: LogCapOptions = {}) {
    this.capBytes = options.capBytes ?? DEFAULT_LOG_CAP_BYTES;
    this.tailLines = options.tailLines ?? DEFAULT_TAIL_LINES;
    if (!(this.capBytes >= 0) || !Number.isInteger(this.tailLines) || this.tailLines < 0) throw new RangeError("invalid log cap options");
  }

  /** Whether the cap was reached. */
  get reached(): boolean {
    return this.capped;
  }

  /** Lines held in memory right now (never more than tailLines). */
  get held(): number {
    return this.ring.length;
  }

  /** The line when it is to be written now; undefined when it is held back (past the cap). */
  push(line: LogLine): LogLine | undefined {
    const text = line[1];
    const bytes = Buffer.byteLength(text) + 1;
    if (!this.capped) {
      if (this.headBytes + bytes <= this.capBytes) {
        this.headBytes += bytes;
        return line;
      }
      this.capped = true;
    }
    if (this.tailLines === 0) {
      this.drop(line[0], bytes);
      return undefined;
    }
    // Held lines are copied flat: a slice of a big output chunk would keep the whole chunk alive.
    const held: LogLine = [line[0], flat(text)];
    if (this.size < this.tailLines) {
      this.ring.push(held);
      this.ringBytes.push(bytes);
      this.size++;
    } else {
      const old = this.ring[this.start] as LogLine;
      this.drop(old[0], this.ringBytes[this.start] as number);
      this.ring[this.start] = held;
      this.ringBytes[this.start] = bytes;
      this.start = (this.start + 1) % this.tailLines;
    }
    return undefined;
  }

  /** What remains to be written after the head: the marker line (when lines were dropped) and the tail. Empties the ring. */
  end(): LogLine[] {
    const out: LogLine[] = [];
    if (this.droppedLines > 0) out.push([this.lastDroppedAt, capMarker(this.capBytes, this.droppedLines, this.droppedBytes, this.size)]);
    for (let k = 0; k < this.size; k++) out.push(this.ring[(this.start + k) % this.tailLines] as LogLine);
    this.ring.length = 0;
    this.ringBytes.length = 0;
    this.start = 0;
    this.size = 0;
    return out;
  }

  private drop(at: number, bytes: number): void {
    this.droppedLines++;
    this.droppedBytes += bytes;
    this.lastDroppedAt = at;
  }
}

function flat(text: string): string {
  return (" " + text).slice(1);
}

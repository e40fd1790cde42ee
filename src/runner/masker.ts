/**
 * Secret masking for build log lines, as Cloudflare masks secret variables in a build's log.
 *
 * Every occurrence of every secret is replaced by `***`. Occurrences are found for each secret
 * separately (overlapping ones included) and the union of their ranges is masked, so two secrets
 * that overlap in the text ("abcd" and "cdef" in "abcdef"), or one that is a prefix of another,
 * never leave a fragment visible: one `***` stands for each maximal masked run. Secrets are plain
 * strings, never patterns, so regex special characters mean nothing.
 *
 * Masking works on complete lines (the splitter in log-lines.ts hands it lines), which is what
 * makes a secret split across two or more writes still masked. A secret containing a newline can
 * never appear whole in one line, so each of its lines is masked as a secret of its own (a
 * trailing `\r` removed), the way CI services mask multi-line secrets. Empty and whitespace-only
 * secrets and pieces are ignored: masking every space of a log would hide it without protecting
 * anything. So are pieces shorter than MIN_MASKED_SECRET_LENGTH: masking a value such as `e`
 * turns "Success" into "Succ***ss" and so shows the value to anyone who reads the log.
 */
import { MIN_MASKED_SECRET_LENGTH } from "../domain/env-vars.ts";

const STARS = "***";

export class SecretMasker {
  /** The strings masked, longest first, without duplicates. */
  readonly pieces: readonly string[];
  /** Length (UTF-16 units) of the longest piece; 0 without secrets. */
  readonly maxLength: number;

  constructor(secrets: readonly string[]) {
    const set = new Set<string>();
    for (const secret of secrets) {
      for (const raw of secret.split("\n")) {
        const piece = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
        if (piece.trim() !== "" && piece.length >= MIN_MASKED_SECRET_LENGTH) set.add(piece);
      }
    }
    this.pieces = [...set].sort((a, b) => b.length - a.length);
    this.maxLength = this.pieces[0]?.length ?? 0;
  }

  /** `text` with every secret replaced by `***`; `forcedPrefix` characters at its start are masked whatever they are. */
  mask(text: string, forcedPrefix = 0): string {
    if (forcedPrefix === 0 && !this.found(text)) return text;
    return this.apply(text, this.ranges(text, forcedPrefix), text.length);
  }

  /** Whether any secret occurs in `text` (the fast path: most lines hold none). */
  found(text: string): boolean {
    for (const piece of this.pieces) if (text.includes(piece)) return true;
    return false;
  }

  /**
   * Masked ranges of `text`, merged and sorted: a flat list `[start0, end0, start1, end1, …]`
   * (end exclusive). `[0, forcedPrefix)` is always one of them when forcedPrefix > 0.
   */
  ranges(text: string, forcedPrefix = 0): number[] {
    const found: [number, number][] = [];
    if (forcedPrefix > 0) found.push([0, forcedPrefix]);
    for (const piece of this.pieces) {
      for (let i = text.indexOf(piece); i !== -1; i = text.indexOf(piece, i + 1)) found.push([i, i + piece.length]);
    }
    if (found.length === 0) return [];
    found.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
    const merged: number[] = [];
    let [start, end] = found[0] as [number, number];
    for (let k = 1; k < found.length; k++) {
      const [s, e] = found[k] as [number, number];
      if (s < end) {
        if (e > end) end = e;
      } else {
        merged.push(start, end);
        start = s;
        end = e;
      }
    }
    merged.push(start, end);
    return merged;
  }

  /** `text.slice(0, upTo)` with `ranges` (from {@link ranges}) replaced by `***`; ranges are clipped at upTo. */
  apply(text: string, ranges: readonly number[], upTo: number): string {
    let out = "";
    let pos = 0;
    for (let k = 0; k < ranges.length; k += 2) {
      const s = ranges[k] as number;
      if (s >= upTo) break;
      out += text.slice(pos, s) + STARS;
      pos = Math.min(ranges[k + 1] as number, upTo);
    }
    return out + text.slice(pos, upTo);
  }
}

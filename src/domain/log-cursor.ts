/**
 * Build log paging (docs/compatibility.md): `cursor` is unpadded URL-safe base64 of
 * `{"line":N,"timestamp":T}`, N the 0-based index of the next line to read; it is always
 * returned, and `truncated` is true exactly when more lines exist after the page right now.
 */
import type { LogLine } from "./build-types.ts";

export const LOG_PAGE_SIZE = 1000;

export interface LogCursor {
  /** 0-based index of the next line to read. */
  line: number;
  /** Timestamp (ms since the epoch) of the last line read, 0 before any. */
  timestamp: number;
}

const SHAPE = /^[\w-]+$/;
/** Far above any real cursor (~70 characters); keeps a hostile query from reaching JSON.parse. */
const MAX_LENGTH = 512;

export function encodeCursor(cursor: LogCursor): string {
  return Buffer.from(JSON.stringify({ line: cursor.line, timestamp: cursor.timestamp })).toString("base64url");
}

/** The cursor, or undefined when `s` is not one (shape, base64, JSON, a whole line ≥ 0 and a finite timestamp). */
export function decodeCursor(s: string): LogCursor | undefined {
  if (s.length > MAX_LENGTH || !SHAPE.test(s) || s.length % 4 === 1) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(s, "base64url").toString("utf8"));
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const { line, timestamp } = value as Record<string, unknown>;
  if (typeof line !== "number" || !Number.isSafeInteger(line) || line < 0) return undefined;
  if (typeof timestamp !== "number" || !Number.isFinite(timestamp)) return undefined;
  return { line, timestamp };
}

export interface LogPage {
  cursor: string;
  lines: LogLine[];
  truncated: boolean;
}

/**
 * Which lines a page asks for: from the cursor's line (0 without one), at most pageSize, none
 * when the cursor is at or past the end. `linesTotal` is the build's line count read now.
 */
export function pageRange(linesTotal: number, cursor: LogCursor | undefined, pageSize = LOG_PAGE_SIZE): { from: number; limit: number } {
  const from = cursor?.line ?? 0;
  return { from, limit: Math.max(0, Math.min(pageSize, linesTotal - from)) };
}

/**
 * The page for `lines` read from `pageRange(...).from`. The cursor points after the last line
 * read (or stays where it was, keeping its timestamp, when nothing was read); `truncated` is
 * true exactly when `linesTotal` says more lines exist after them.
 */
export function pageLogs(linesTotal: number, cursor: LogCursor | undefined, lines: LogLine[]): LogPage {
  const next = (cursor?.line ?? 0) + lines.length;
  const last = lines[lines.length - 1];
  return {
    cursor: encodeCursor({ line: next, timestamp: last ? last[0] : (cursor?.timestamp ?? 0) }),
    lines,
    truncated: next < linesTotal,
  };
}

/**
 * What is stored in place of log lines the database refused (a value its encoding cannot hold, an
 * operator's constraint or trigger): one notice for a run of consecutive refused lines, saying how
 * many lines it stands for and why. ASCII, so any database encoding holds it.
 *
 * A notice can be longer than the lines it replaces (a `✓` line is 4 bytes, its notice ~160): the
 * log cap (runner/log-cap.ts) bounds what notices take with MAX_NOTICE_BYTES.
 */

/** Characters of the database's message kept in a notice. */
const REASON_CHARS = 200;

export function refusedLinesNotice(count: number, error: unknown): string {
  const message = String((error as { message?: unknown } | null)?.message ?? error);
  const reason = message.replace(/[^\x20-\x7e]+/g, "?").slice(0, REASON_CHARS);
  const what = count === 1 ? "A line" : `${count} lines`;
  return `[kiln] ${what} of this build's output could not be stored: ${reason}`;
}

/** The most a notice takes in the stored log (its bytes and newline), whatever the count and message. */
export const MAX_NOTICE_BYTES = Buffer.byteLength(refusedLinesNotice(Number.MAX_SAFE_INTEGER, "x".repeat(REASON_CHARS))) + 1;

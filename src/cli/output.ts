/**
 * How commands answer: with --json exactly one JSON object on stdout, otherwise short
 * human lines. Errors go to stderr; the exit code says what kind (docs/errors.md, "The command line").
 */
import { plainLines } from "./client/terminal-text.ts";

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export function emit(json: boolean, object: Record<string, unknown>, human: string): void {
  process.stdout.write(json ? `${JSON.stringify(object)}\n` : `${plainLines(human)}\n`);
}

export function table<T extends object>(items: T[], columns: string[]): string {
  const rows = items as unknown as Record<string, unknown>[];
  if (rows.length === 0) return "(none)";
  // Stripped before the widths are measured: a cell holding an escape sequence neither reaches the terminal nor skews the columns.
  const cell = (v: unknown) => (v === null || v === undefined ? "-" : plainLines(Array.isArray(v) ? v.join(",") : String(v)).replaceAll("\n", " "));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i] ?? 0)).join("  ").trimEnd();
  return [line(columns), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join("\n");
}

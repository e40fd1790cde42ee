/**
 * Reading a build's log: every page through the cursor (#6), or following it until the build
 * stops — with Kiln's live stream when the server has it, by polling the cursor elsewhere
 * (Cloudflare). A progress line goes to stderr when it is a terminal.
 */
import type { ApiClient } from "./api-client.ts";
import { logLine } from "./format.ts";
import type { TerminalMode } from "./terminal-text.ts";

type Line = [number, string];
/** A build phase of the logs answer (Cloudflare's `events`; Kiln's list is empty). */
interface LogEvent {
  type: string;
  started_on?: string;
  ended_on?: string;
}
interface LogsPage {
  lines: Line[];
  cursor: string;
  truncated: boolean;
  /** Absent from older answers. */
  events?: LogEvent[];
}

const POLL_MS = 2000;

/** All lines stored so far, page by page. */
async function readFrom(api: ApiClient, path: string, cursor: string | undefined): Promise<{ lines: Line[]; cursor: string | undefined; events: LogEvent[] }> {
  const lines: Line[] = [];
  for (;;) {
    const r = await api.request<LogsPage>("GET", `${path}${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ""}`);
    lines.push(...r.result.lines);
    cursor = r.result.cursor ?? cursor;
    // The phases describe the whole build, so the last page's list is the latest one.
    if (!r.result.truncated) return { lines, cursor, events: r.result.events ?? [] };
  }
}

export async function printLines(api: ApiClient, account: string, uuid: string, json: boolean, mode: TerminalMode = "plain"): Promise<void> {
  const { lines, cursor, events } = await readFrom(api, `/accounts/${account}/builds/builds/${uuid}/logs`, undefined);
  process.stdout.write(json ? `${JSON.stringify({ cursor, truncated: false, lines, events })}\n` : lines.map((l) => `${logLine(l, mode)}\n`).join(""));
}

class Progress {
  private readonly tty = Boolean(process.stderr.isTTY);
  private shown = false;
  constructor(private readonly uuid: string) {}
  clear(): void {
    if (this.tty && this.shown) process.stderr.write("\r\u001b[K");
    this.shown = false;
  }
  show(lines: number, status: string): void {
    if (!this.tty) return;
    process.stderr.write(`\r\u001b[K… build ${this.uuid.slice(0, 8)} ${status}, ${lines} lines`);
    this.shown = true;
  }
}

/** Follows until the build stops; answers its outcome. */
export async function followLogs(api: ApiClient, account: string, uuid: string, o: { json: boolean; mode?: TerminalMode }): Promise<string | null> {
  const base = `/accounts/${account}/builds/builds/${uuid}`;
  const collected: Line[] = [];
  const progress = new Progress(uuid);
  const emit = (batch: Line[]) => {
    if (batch.length === 0) return;
    if (o.json) collected.push(...batch);
    else {
      progress.clear();
      process.stdout.write(batch.map((l) => `${logLine(l, o.mode ?? "plain")}\n`).join(""));
    }
  };
  const finish = (outcome: string | null) => {
    progress.clear();
    if (o.json) process.stdout.write(`${JSON.stringify({ build_uuid: uuid, build_outcome: outcome, lines: collected })}\n`);
    process.stderr.write(`build ${uuid}: ${outcome ?? "stopped"}\n`);
    return outcome;
  };

  // Kiln: the live stream, resumed from the next line if the connection drops.
  let next = 0;
  for (let attempt = 0; attempt < 5; attempt++) {
    const events = await api.events(`${base}/logs/stream${next > 0 ? `?from=${next}` : ""}`);
    if (!events) break;
    try {
      for await (const ev of events) {
        if (ev.event === "line") {
          emit([JSON.parse(ev.data) as Line]);
          next = Number(ev.id ?? next) + 1;
          progress.show(next, "running");
        } else if (ev.event === "end") {
          return finish((JSON.parse(ev.data) as { build_outcome: string | null }).build_outcome);
        }
      }
    } catch {
      // The connection broke mid-stream (a proxy's timeout, a restart): resume from the next line,
      // and after the last attempt poll the cursor instead.
    }
  }

  // Elsewhere: poll the cursor, and the build's status, until it has stopped and every line is read.
  let cursor: string | undefined;
  if (next > 0) {
    // Lines already printed from the stream are skipped by count.
    const { lines, cursor: c } = await readFrom(api, `${base}/logs`, undefined);
    emit(lines.slice(next));
    cursor = c;
    next = lines.length;
  }
  for (;;) {
    const build = await api.request<{ status: string; build_outcome: string | null }>("GET", base);
    const { lines, cursor: c } = await readFrom(api, `${base}/logs`, cursor);
    emit(lines);
    next += lines.length;
    cursor = c;
    if (build.result.status === "stopped") {
      // Lines stored just before the stop were read above, after the status.
      return finish(build.result.build_outcome);
    }
    progress.show(next, build.result.status);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

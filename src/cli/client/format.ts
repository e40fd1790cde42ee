/** How the client shows builds to people (tables and key: value lines); configuration is in config-format.ts. */
import { terminalText, type TerminalMode } from "./terminal-text.ts";

export interface BuildView {
  build_uuid: string;
  status: string;
  build_outcome: string | null;
  created_on: string;
  initializing_on: string | null;
  running_on: string | null;
  stopped_on: string | null;
  pull_request?: { pull_request_url?: string } | null;
  preview_url?: string;
  build_trigger_metadata: {
    build_trigger_source: string;
    branch: string;
    commit_hash: string;
    commit_message: string;
    author: string;
    build_command: string;
    deploy_command: string;
    root_directory: string;
  };
  trigger?: { trigger_name?: string; external_script_id?: string };
}

export const BUILD_COLUMNS = ["build_uuid", "status", "outcome", "branch", "commit", "source", "created", "duration"];

/** `1m 05s`, `12s`; "-" before the build ran. */
export function duration(b: BuildView, now = Date.now()): string {
  const start = b.running_on ?? b.initializing_on;
  if (!start) return "-";
  const ms = (b.stopped_on ? Date.parse(b.stopped_on) : now) - Date.parse(start);
  const s = Math.max(0, Math.round(ms / 1000));
  return s >= 60 ? `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

export const shortTime = (iso: string | null): string => (iso ? iso.replace("T", " ").replace(/\.\d+Z$/, "Z") : "-");

export function buildRow(b: BuildView): Record<string, string> {
  const m = b.build_trigger_metadata;
  return {
    build_uuid: b.build_uuid,
    status: b.status,
    outcome: b.build_outcome ?? "-",
    // Either is "" while a build asked for by branch or commit waits for git to resolve it.
    branch: m.branch || "-",
    commit: m.commit_hash.slice(0, 7) || "-",
    source: m.build_trigger_source,
    created: shortTime(b.created_on),
    duration: duration(b),
  };
}

export function buildDetails(b: BuildView): string {
  const m = b.build_trigger_metadata;
  const rows: [string, string][] = [
    ["build", b.build_uuid],
    ["status", b.status],
    ["outcome", b.build_outcome ?? "-"],
    ["branch", m.branch || "-"],
    ["commit", `${m.commit_hash} ${m.commit_message.split("\n")[0] ?? ""}`.trim() || "-"],
    ["author", m.author || "-"],
    ["source", m.build_trigger_source],
    ["build command", m.build_command || "-"],
    ["deploy command", m.deploy_command || "-"],
    ["root directory", m.root_directory],
    ["created", shortTime(b.created_on)],
    ["initializing", shortTime(b.initializing_on)],
    ["running", shortTime(b.running_on)],
    ["stopped", shortTime(b.stopped_on)],
    ["duration", duration(b)],
  ];
  if (b.preview_url) rows.push(["preview url", b.preview_url]);
  if (b.pull_request?.pull_request_url) rows.push(["pull request", b.pull_request.pull_request_url]);
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${v}`).join("\n");
}

/** A log line for people: the time of day (UTC, ms) and the text. */
/** One log line for a human: its time and its text, made safe for the terminal (terminal-text.ts). */
export const logLine = ([ts, text]: [number, string], mode: TerminalMode = "plain"): string => `${new Date(ts).toISOString().slice(11, 23)}  ${terminalText(text, mode)}`;

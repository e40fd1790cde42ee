/**
 * Which Worker version a deploy produced (a build's version id, as Cloudflare shows it): wrangler writes
 * ND-JSON entries to WRANGLER_OUTPUT_FILE_PATH (`deploy` and `version-upload` entries carry
 * `version_id`, uploads also `preview_url`); older wranglers only print "Version ID:" and
 * "Version Preview URL:" lines, read as a fallback.
 */
export interface DeployVersion {
  version_id?: string;
  preview_url?: string;
}

const VERSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The last deploy or version-upload entry's version id and preview URL; malformed lines are skipped. */
export function parseWranglerOutput(ndjson: string): DeployVersion {
  const found: DeployVersion = {};
  for (const line of ndjson.split("\n")) {
    if (!line.trim()) continue;
    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch {
      continue;
    }
    if (typeof entry !== "object" || entry === null) continue;
    const e = entry as Record<string, unknown>;
    if (e.type !== "deploy" && e.type !== "version-upload") continue;
    if (typeof e.version_id === "string" && VERSION_ID.test(e.version_id)) found.version_id = e.version_id;
    if (typeof e.preview_url === "string" && /^https?:\/\//.test(e.preview_url)) found.preview_url = e.preview_url;
  }
  return found;
}

/** Reads "Version ID: …" / "Version Preview URL: …" from output as it streams (lines may span chunks). */
export class VersionLineScanner {
  private pending = "";
  readonly found: DeployVersion = {};

  feed(text: string): void {
    const lines = (this.pending + text).split("\n");
    this.pending = (lines.pop() ?? "").slice(-4096);
    for (const line of lines) this.line(line);
  }

  end(): DeployVersion {
    if (this.pending) this.line(this.pending);
    this.pending = "";
    return this.found;
  }

  private line(line: string): void {
    const id = /Version ID:\s*([0-9a-fA-F-]{36})/.exec(line)?.[1];
    if (id && VERSION_ID.test(id)) this.found.version_id = id;
    const url = /Version Preview URL:\s*(https?:\/\/\S+)/.exec(line)?.[1];
    if (url) this.found.preview_url = url;
  }
}

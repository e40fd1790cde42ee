/**
 * Commit statuses on the git provider, as Cloudflare reports them
 * (https://developers.cloudflare.com/workers/ci-cd/builds/git-integration/github-integration/): one per Worker per commit, named
 * `Workers Builds: <worker name>`, linking to the build. GitHub gets a commit status rather
 * than a check run: check runs need a GitHub App installation token, statuses work with the
 * personal or fine-grained token most self-hosted installs have (docs/webhooks.md).
 */
import type { BuildOutcome, BuildStatus } from "../domain/build-types.ts";

export type ProviderState = "pending" | "running" | BuildOutcome;

export function providerState(status: BuildStatus | null, outcome: BuildOutcome | null): ProviderState | null {
  if (status === null) return null;
  if (status === "queued" || status === "initializing") return "pending";
  if (status === "running") return "running";
  return outcome ?? "terminated";
}

const DESCRIPTION: Record<ProviderState, string> = {
  pending: "Build queued",
  running: "Build running",
  success: "Build succeeded",
  fail: "Build failed",
  cancelled: "Build cancelled",
  terminated: "Build terminated",
  skipped: "Build skipped: a newer commit superseded it",
};

/** GitHub has no running, cancelled or skipped state for statuses: the description says which. */
const GITHUB_STATE: Record<ProviderState, string> = {
  pending: "pending",
  running: "pending",
  success: "success",
  fail: "failure",
  cancelled: "error",
  terminated: "error",
  skipped: "error",
};

const GITLAB_STATE: Record<ProviderState, string> = {
  pending: "pending",
  running: "running",
  success: "success",
  fail: "failed",
  cancelled: "canceled",
  terminated: "failed",
  skipped: "skipped",
};

export interface StatusReport {
  state: ProviderState;
  /** `Workers Builds: <worker name>` */
  context: string;
  target_url: string;
  sha: string;
  branch: string;
  repo: { owner: string; name: string; id: string };
}

export interface ProviderApi {
  apiUrl: string;
  token: string;
}

export class ReportFailed extends Error {
  constructor(readonly status: number | undefined, detail: string) {
    super(detail);
    this.name = "ReportFailed";
  }
}

const TIMEOUT_MS = 10_000;

async function post(url: string, headers: Record<string, string>, body: unknown): Promise<void> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", "user-agent": "kiln", ...headers },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (error) {
    throw new ReportFailed(undefined, error instanceof Error ? error.message : String(error));
  }
  // Drain the body so the connection is reused; its text may help an operator, not a secret.
  const text = await response.text().catch(() => "");
  if (!response.ok) throw new ReportFailed(response.status, text.slice(0, 200));
}

export function reportToGithub(api: ProviderApi, r: StatusReport): Promise<void> {
  const url = `${api.apiUrl}/repos/${encodeURIComponent(r.repo.owner)}/${encodeURIComponent(r.repo.name)}/statuses/${r.sha}`;
  return post(
    url,
    { authorization: `Bearer ${api.token}`, accept: "application/vnd.github+json", "x-github-api-version": "2022-11-28" },
    { state: GITHUB_STATE[r.state], context: r.context, description: DESCRIPTION[r.state], target_url: r.target_url },
  );
}

export function reportToGitlab(api: ProviderApi, r: StatusReport): Promise<void> {
  const url = `${api.apiUrl}/projects/${encodeURIComponent(r.repo.id)}/statuses/${r.sha}`;
  return post(
    url,
    { "private-token": api.token },
    { state: GITLAB_STATE[r.state], name: r.context, description: DESCRIPTION[r.state], target_url: r.target_url, ref: r.branch },
  );
}

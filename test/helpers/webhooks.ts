/**
 * Webhook deliveries for tests, shaped like the examples in GitHub's and GitLab's webhook
 * documentation (only the fields Kiln reads are required; the rest is there to be realistic),
 * signed the way each provider signs them, and delivered to the harness.
 */
import { createHmac, randomUUID } from "node:crypto";
import type { Answer, Harness } from "./harness.ts";

export interface PushCommit {
  id: string;
  message?: string;
  added?: string[];
  removed?: string[];
  modified?: string[];
}

export interface GithubRepo {
  id: number;
  owner: string;
  name: string;
}

const ZERO = "0".repeat(40);

export function githubPush(repo: GithubRepo, ref: string, after: string, commits: PushCommit[], extra: Record<string, unknown> = {}) {
  const full = commits.map((c) => ({
    id: c.id,
    tree_id: "f9d2a07e9488b91af2641b26b9407fe22a451433",
    distinct: true,
    message: c.message ?? "update",
    timestamp: "2026-11-28T12:00:00Z",
    url: `https://github.com/${repo.owner}/${repo.name}/commit/${c.id}`,
    author: { name: "Ada Lovelace", email: "ada@example.com", username: "ada" },
    committer: { name: "Ada Lovelace", email: "ada@example.com", username: "ada" },
    added: c.added ?? [],
    removed: c.removed ?? [],
    modified: c.modified ?? [],
  }));
  return {
    ref,
    before: "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
    after,
    created: false,
    deleted: after === ZERO,
    forced: false,
    base_ref: null,
    compare: `https://github.com/${repo.owner}/${repo.name}/compare/6113728f27ae...${after.slice(0, 12)}`,
    commits: full,
    head_commit: full.at(-1) ?? null,
    repository: { id: repo.id, node_id: "R_kgDO", name: repo.name, full_name: `${repo.owner}/${repo.name}`, private: false, owner: { login: repo.owner, id: 315958746 } },
    pusher: { name: "ada", email: "ada@example.com" },
    sender: { login: "ada", id: 1 },
    ...extra,
  };
}

export function githubPullRequest(
  repo: GithubRepo,
  action: string,
  pr: { number: number; branch: string; head: string; base: string; headRepoId?: number | null; title?: string },
) {
  const headRepo = pr.headRepoId === null ? null : { id: pr.headRepoId ?? repo.id, name: repo.name, full_name: `${repo.owner}/${repo.name}`, fork: pr.headRepoId !== undefined && pr.headRepoId !== repo.id };
  return {
    action,
    number: pr.number,
    pull_request: {
      url: `https://api.github.com/repos/${repo.owner}/${repo.name}/pulls/${pr.number}`,
      id: 1000 + pr.number,
      html_url: `https://github.com/${repo.owner}/${repo.name}/pull/${pr.number}`,
      number: pr.number,
      state: "open",
      title: pr.title ?? "Add a feature",
      user: { login: "ada", id: 1 },
      created_at: "2026-11-27T10:11:12Z",
      updated_at: "2026-11-28T10:11:12Z",
      head: { label: `ada:${pr.branch}`, ref: pr.branch, sha: pr.head, repo: headRepo },
      base: { label: `${repo.owner}:main`, ref: "main", sha: pr.base, repo: { id: repo.id, name: repo.name, full_name: `${repo.owner}/${repo.name}` } },
    },
    repository: { id: repo.id, name: repo.name, full_name: `${repo.owner}/${repo.name}`, owner: { login: repo.owner, id: 315958746 } },
    sender: { login: "ada", id: 1 },
  };
}

export const signGithub = (secret: string, body: string): string => `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;

export interface DeliverOptions {
  secret?: string;
  /** Overrides the signature header (wrong or missing signatures). */
  signature?: string | null;
  deliveryId?: string | null;
  /** Overrides the JSON body (malformed payloads). */
  rawBody?: string;
  contentType?: string;
}

export async function deliverGithub(h: Harness, path: string, event: string | null, payload: unknown, o: DeliverOptions = {}): Promise<Answer> {
  const body = o.rawBody ?? JSON.stringify(payload);
  const headers: Record<string, string> = { "content-type": o.contentType ?? "application/json", "user-agent": "GitHub-Hookshot/test" };
  if (event !== null) headers["x-github-event"] = event;
  const deliveryId = o.deliveryId === undefined ? randomUUID() : o.deliveryId;
  if (deliveryId !== null) headers["x-github-delivery"] = deliveryId;
  const signature = o.signature === undefined ? (o.secret === undefined ? null : signGithub(o.secret, body)) : o.signature;
  if (signature !== null) headers["x-hub-signature-256"] = signature;
  return h.call("POST", path, { headers, rawBody: body });
}

export interface GitlabProject {
  id: number;
  namespace: string;
  name: string;
}

export function gitlabPush(project: GitlabProject, ref: string, after: string, commits: PushCommit[], total?: number) {
  return {
    object_kind: "push",
    event_name: "push",
    before: "95790bf891e76fee5e1747ab589903a6a1f80f22",
    after,
    ref,
    ref_protected: true,
    checkout_sha: after === ZERO ? null : after,
    user_id: 4,
    user_name: "Ada Lovelace",
    user_username: "ada",
    project_id: project.id,
    project: { id: project.id, name: project.name, path_with_namespace: `${project.namespace}/${project.name}`, default_branch: "main" },
    commits: commits.map((c) => ({
      id: c.id,
      message: c.message ?? "update",
      title: c.message ?? "update",
      timestamp: "2026-11-28T12:00:00+00:00",
      url: `https://gitlab.com/${project.namespace}/${project.name}/-/commit/${c.id}`,
      author: { name: "Ada Lovelace", email: "ada@example.com" },
      added: c.added ?? [],
      modified: c.modified ?? [],
      removed: c.removed ?? [],
    })),
    total_commits_count: total ?? commits.length,
    repository: { name: project.name, homepage: `https://gitlab.com/${project.namespace}/${project.name}` },
  };
}

export function gitlabMergeRequest(
  project: GitlabProject,
  action: string,
  mr: { iid: number; branch: string; head: string; base: string; sourceProjectId?: number; oldrev?: string },
) {
  return {
    object_kind: "merge_request",
    event_type: "merge_request",
    user: { id: 1, name: "Ada Lovelace", username: "ada" },
    project: { id: project.id, name: project.name, path_with_namespace: `${project.namespace}/${project.name}` },
    object_attributes: {
      id: 90 + mr.iid,
      iid: mr.iid,
      title: "Add a feature",
      action,
      state: "opened",
      created_at: "2026-11-27 10:11:12 UTC",
      source_branch: mr.branch,
      source_project_id: mr.sourceProjectId ?? project.id,
      target_branch: "main",
      target_project_id: project.id,
      url: `https://gitlab.com/${project.namespace}/${project.name}/-/merge_requests/${mr.iid}`,
      last_commit: { id: mr.head, message: "feature work", title: "feature work", author: { name: "Ada Lovelace", email: "ada@example.com" } },
      diff_refs: { base_sha: mr.base, head_sha: mr.head, start_sha: mr.base },
      ...(mr.oldrev ? { oldrev: mr.oldrev } : {}),
    },
  };
}

export async function deliverGitlab(
  h: Harness,
  path: string,
  event: string | null,
  payload: unknown,
  o: { token?: string | null; uuid?: string | null; rawBody?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (event !== null) headers["x-gitlab-event"] = event;
  if (o.token !== undefined && o.token !== null) headers["x-gitlab-token"] = o.token;
  const uuid = o.uuid === undefined ? randomUUID() : o.uuid;
  if (uuid !== null) headers["x-gitlab-event-uuid"] = uuid;
  return h.call("POST", path, { headers, rawBody: o.rawBody ?? JSON.stringify(payload) });
}

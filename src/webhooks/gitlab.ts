/**
 * GitLab deliveries → provider-neutral events. Events (X-Gitlab-Event): `Push Hook` (branches;
 * deletions ignored) and `Merge Request Hook` (open, reopen, and update with new commits); any
 * other event (Tag Push Hook, …) is ignored. Payload shapes:
 * https://docs.gitlab.com/user/project/integrations/webhook_events/
 */
import { z } from "zod";
import type { GitEvent } from "../domain/git-events.ts";
import { authorOf, isoDate, numericId, parsePayload, paths, person, sha, ZERO_SHA } from "./payload.ts";

const commit = z.object({
  id: z.string(),
  message: z.string().default(""),
  author: person,
  added: paths,
  modified: paths,
  removed: paths,
});

const push = z.object({
  ref: z.string(),
  after: sha,
  project: z.object({ id: numericId }),
  commits: z.array(commit).default([]),
  /** The payload lists at most 20 commits; this counts them all. */
  total_commits_count: z.number().int().nonnegative().optional(),
});

const mergeRequest = z.object({
  project: z.object({ id: numericId }),
  user: z.object({ username: z.string() }).partial().nullish(),
  object_attributes: z.object({
    action: z.string().optional(),
    url: z.string(),
    title: z.string().default(""),
    created_at: z.string().optional(),
    source_branch: z.string(),
    source_project_id: numericId,
    target_project_id: numericId,
    oldrev: z.string().optional(),
    last_commit: z.object({ id: sha, message: z.string().default(""), author: person }),
    diff_refs: z.object({ base_sha: sha.nullish() }).partial().nullish(),
  }),
});

export function gitlabEvent(name: string, payload: unknown): GitEvent {
  if (name === "Push Hook") {
    const p = parsePayload(push, payload);
    if (!p.ref.startsWith("refs/heads/")) return { kind: "ignored", reason: "not a branch" };
    if (p.after === ZERO_SHA) return { kind: "ignored", reason: "branch deleted" };
    const head = p.commits.find((c) => c.id === p.after) ?? p.commits.at(-1);
    const files = new Set<string>();
    for (const c of p.commits) for (const f of [...c.added, ...c.removed, ...c.modified]) files.add(f);
    return {
      kind: "push",
      repo: { provider: "gitlab", repo_id: p.project.id },
      commit: { commit: p.after, branch: p.ref.slice("refs/heads/".length), message: head?.message ?? "", author: authorOf(head?.author) },
      changes: { files: [...files], commits: Math.max(p.total_commits_count ?? 0, p.commits.length) },
    };
  }
  if (name === "Merge Request Hook") {
    const p = parsePayload(mergeRequest, payload);
    const mr = p.object_attributes;
    // `update` fires for title and label edits too; only an update that brought commits (oldrev) builds.
    const builds = mr.action === "open" || mr.action === "reopen" || (mr.action === "update" && mr.oldrev !== undefined);
    if (!builds) return { kind: "ignored", reason: `merge request ${mr.action ?? "event"}` };
    return {
      kind: "pull_request",
      repo: { provider: "gitlab", repo_id: p.project.id },
      branch: mr.source_branch,
      head_sha: mr.last_commit.id,
      base_sha: mr.diff_refs?.base_sha ?? null,
      fork: mr.source_project_id !== mr.target_project_id,
      url: mr.url,
      created_on: isoDate(mr.created_at),
      title: mr.last_commit.message || mr.title,
      author: authorOf(mr.last_commit.author) || (p.user?.username ?? ""),
    };
  }
  return { kind: "ignored", reason: `event ${name}` };
}

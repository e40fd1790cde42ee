/**
 * GitHub deliveries → provider-neutral events. Events: `push` (branches only; tags and
 * deletions are ignored), `pull_request` (opened, reopened, synchronize) and `ping`; any other
 * event is ignored. Payload shapes: https://docs.github.com/webhooks/webhook-events-and-payloads
 */
import { z } from "zod";
import type { GitEvent } from "../domain/git-events.ts";
import { authorOf, isoDate, numericId, parsePayload, paths, person, sha, ZERO_SHA } from "./payload.ts";

const repository = z.object({ id: numericId });

const commit = z.object({
  id: z.string(),
  message: z.string().default(""),
  author: person,
  added: paths,
  removed: paths,
  modified: paths,
});

const push = z.object({
  ref: z.string(),
  after: sha,
  deleted: z.boolean().optional(),
  commits: z.array(commit).default([]),
  head_commit: commit.partial().nullish(),
  repository,
});

const pullRequest = z.object({
  action: z.string(),
  repository,
  pull_request: z.object({
    html_url: z.string(),
    created_at: z.string().optional(),
    title: z.string().default(""),
    user: z.object({ login: z.string() }).partial().nullish(),
    head: z.object({ ref: z.string(), sha, repo: z.object({ id: numericId }).nullish() }),
    base: z.object({ sha, repo: z.object({ id: numericId }) }),
  }),
});

const BUILDING_ACTIONS = new Set(["opened", "reopened", "synchronize"]);

export function githubEvent(name: string, payload: unknown): GitEvent {
  if (name === "ping") return { kind: "ignored", reason: "ping" };
  if (name === "push") {
    const p = parsePayload(push, payload);
    if (!p.ref.startsWith("refs/heads/")) return { kind: "ignored", reason: "not a branch" };
    if (p.deleted || p.after === ZERO_SHA) return { kind: "ignored", reason: "branch deleted" };
    const head = p.head_commit ?? p.commits.at(-1);
    const files = new Set<string>();
    for (const c of p.commits) for (const f of [...c.added, ...c.removed, ...c.modified]) files.add(f);
    return {
      kind: "push",
      repo: { provider: "github", repo_id: p.repository.id },
      commit: { commit: p.after, branch: p.ref.slice("refs/heads/".length), message: head?.message ?? "", author: authorOf(head?.author) },
      changes: { files: [...files], commits: p.commits.length },
    };
  }
  if (name === "pull_request") {
    const p = parsePayload(pullRequest, payload);
    if (!BUILDING_ACTIONS.has(p.action)) return { kind: "ignored", reason: `pull request ${p.action}` };
    const pr = p.pull_request;
    return {
      kind: "pull_request",
      repo: { provider: "github", repo_id: p.repository.id },
      branch: pr.head.ref,
      head_sha: pr.head.sha,
      base_sha: pr.base.sha,
      // A deleted fork has no head repository; either way the head is not this repository.
      fork: !pr.head.repo || pr.head.repo.id !== pr.base.repo.id,
      url: pr.html_url,
      created_on: isoDate(pr.created_at),
      title: pr.title,
      author: pr.user?.login ?? "",
    };
  }
  return { kind: "ignored", reason: `event ${name}` };
}

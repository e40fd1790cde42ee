/**
 * A webhook delivery, once verified and parsed: what happened in which repository, in terms
 * that do not depend on the provider (webhooks/github.ts and webhooks/gitlab.ts produce these).
 */
import type { ResolvedCommit } from "./builds.ts";
import type { GitProvider } from "./delivery-types.ts";
import type { Changes } from "./patterns.ts";

export interface RepoRef {
  provider: GitProvider;
  /** The provider's repository (project) id, as repo connections store it. */
  repo_id: string;
}

export interface PushEvent {
  kind: "push";
  repo: RepoRef;
  /** The pushed branch's head. */
  commit: ResolvedCommit;
  changes: Changes;
}

export interface PullRequestEvent {
  kind: "pull_request";
  repo: RepoRef;
  /** The head branch. */
  branch: string;
  head_sha: string;
  /** The base the head's changes are counted from; null when the provider did not say. */
  base_sha: string | null;
  /** The head lives in another repository. */
  fork: boolean;
  url: string;
  created_on: string;
  /** Used for the build's commit message and author when git cannot tell them. */
  title: string;
  author: string;
}

/** A delivery that never builds (ping, tag push, branch deletion, closed pull request, other events). */
export interface IgnoredEvent {
  kind: "ignored";
  reason: string;
}

export type GitEvent = PushEvent | PullRequestEvent | IgnoredEvent;

/** The repository connection provider types a provider's deliveries match. */
export const CONNECTION_TYPES: Readonly<Record<GitProvider, readonly string[]>> = {
  github: ["github"],
  gitlab: ["gitlab", "gitlab_internal"],
};

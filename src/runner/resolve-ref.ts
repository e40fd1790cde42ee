/**
 * A build asked for by branch and/or commit (metadata.unresolved) learns its commit here, when
 * it initializes and before its checkout, not when it was created: creating a build never waits
 * on git. The commit, its message and author are stored on the build (and in `build.metadata`).
 */
import type { BuildSignals } from "../domain/build-events.ts";
import type { Build } from "../domain/build-types.ts";
import { recordResolvedCommit } from "../domain/builds.ts";
import type { StorePort } from "../domain/ports.ts";
import type { GitCallOptions, Mirrors } from "../git/mirror.ts";

export interface ResolveContext {
  store: StorePort;
  signals: BuildSignals;
  mirrors: Mirrors;
  runnerId: string;
}

/**
 * Resolves and stores the build's commit; nothing to do for a build created with one. Throws
 * an Error naming the branch or commit git does not know (the build then fails with it), or
 * git's own error when the repository cannot be reached.
 */
export async function resolveBuildRef(ctx: ResolveContext, build: Build, url: string, options: GitCallOptions = {}): Promise<void> {
  const m = build.metadata;
  if (!m.unresolved) return;
  const mirror = ctx.mirrors.mirror(url, options);
  // Any fetch that began after the build was created sees its branch as it was then, or newer:
  // the builds waiting on one repository share one fetch (or none, if one already ran since).
  // created_on is the creating node's clock: a fleet's clocks are taken to agree, as leases do.
  const resolved = await mirror.resolveRef({ branch: m.branch || undefined, commit: m.commit_hash || undefined }, options.signal, Date.parse(build.created_on));
  const repo = `${m.provider_account_name}/${m.repo_name}`;
  if (!resolved.ok) {
    throw new Error(
      resolved.reason === "unknown_commit"
        ? `commit ${m.commit_hash} was not found in the repository ${repo}`
        : m.branch
          ? `branch "${m.branch}" was not found in the repository ${repo}`
          : `the repository ${repo} has no default branch`,
    );
  }
  const info = await mirror.commitInfo(resolved.commit);
  const commit = { commit: resolved.commit, branch: resolved.branch, message: info.message, author: info.author };
  if (!(await ctx.store.transaction((repos) => recordResolvedCommit(repos, build, ctx.runnerId, commit)))) {
    throw new Error("the build was stopped or taken over while its commit was resolved");
  }
  // The status reporter listens for this signal: the build's first status (pending) can go to
  // its git provider now that there is a commit, rather than at its next poll, when the build
  // may already be running.
  ctx.signals.queued(build.build_uuid);
}

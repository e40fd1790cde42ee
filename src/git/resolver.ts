/**
 * The domain's CommitResolver through git mirrors: a connection → its clone URL (template) →
 * the mirror → branch/commit resolved, with the commit's message and author e-mail.
 */
import type { CommitResolver, ResolvedCommit } from "../domain/builds.ts";
import type { RepoConnection } from "../domain/config-types.ts";
import { GitError } from "./exec.ts";
import type { Mirrors, RefQuery } from "./mirror.ts";
import { cloneUrl, NoCloneUrlError } from "./url.ts";

export interface GitCommitResolverOptions {
  mirrors: Mirrors;
  /** config.gitUrlTemplate */
  template: string | undefined;
  /** Told about failures to reach a repository (answered as "unknown" to the caller). */
  onError?: (error: Error, connection: RepoConnection) => void;
}

export function gitCommitResolver(options: GitCommitResolverOptions): CommitResolver {
  return {
    async resolve(connection: RepoConnection, ref: RefQuery): Promise<ResolvedCommit | undefined> {
      try {
        const mirror = options.mirrors.mirror(cloneUrl(connection, options.template));
        const resolved = await mirror.resolveRef(ref);
        if (!resolved.ok) return undefined;
        const info = await mirror.commitInfo(resolved.commit);
        return { commit: resolved.commit, branch: resolved.branch, message: info.message, author: info.author };
      } catch (error) {
        if (error instanceof GitError || error instanceof NoCloneUrlError) {
          options.onError?.(error, connection);
          return undefined;
        }
        throw error;
      }
    },
  };
}

/**
 * The domain's CommitResolver through git mirrors: a connection → its clone URL (template) →
 * the mirror → branch/commit resolved, with the commit's message and author e-mail.
 */
import type { CommitResolver, ResolvedCommit } from "../domain/builds.ts";
import type { RepoConnection } from "../domain/config-types.ts";
import { GitError } from "./exec.ts";
import type { Mirror, Mirrors, RefQuery } from "./mirror.ts";
import { cloneUrl, NoCloneUrlError, type GitCredential } from "./url.ts";

export interface GitCommitResolverOptions {
  mirrors: Mirrors;
  /** config.gitUrlTemplate */
  template: string | undefined;
  /** The server's token for a provider's private repositories (KILN_GITHUB_TOKEN, KILN_GITLAB_TOKEN). */
  credentials?: (providerType: string) => GitCredential | undefined;
  /** Told about failures to reach a repository (answered as "unknown" to the caller). */
  onError?: (error: Error, connection: RepoConnection) => void;
}

export function gitCommitResolver(options: GitCommitResolverOptions): CommitResolver {
  const mirrorOf = (connection: RepoConnection): Mirror => {
    const credential = options.credentials?.(connection.provider_type);
    return options.mirrors.mirror(cloneUrl(connection, options.template), credential ? { credential } : {});
  };
  /** Runs a git question; git's and the template's failures become `undefined` (reported to onError). */
  const attempt = async <T>(connection: RepoConnection, fn: (mirror: Mirror) => Promise<T | undefined>): Promise<T | undefined> => {
    try {
      return await fn(mirrorOf(connection));
    } catch (error) {
      if (error instanceof GitError || error instanceof NoCloneUrlError) {
        options.onError?.(error, connection);
        return undefined;
      }
      throw error;
    }
  };
  return {
    resolve: (connection: RepoConnection, ref: RefQuery) =>
      attempt(connection, async (mirror): Promise<ResolvedCommit | undefined> => {
        const resolved = await mirror.resolveRef(ref);
        if (!resolved.ok) return undefined;
        const info = await mirror.commitInfo(resolved.commit);
        return { commit: resolved.commit, branch: resolved.branch, message: info.message, author: info.author };
      }),
    changedFiles: (connection: RepoConnection, base: string, head: string) =>
      attempt(connection, async (mirror) => {
        // Each lookup fetches only when the mirror lacks the commit.
        const [from, to] = [await mirror.resolveRef({ commit: base }), await mirror.resolveRef({ commit: head })];
        if (!from.ok || !to.ok) return undefined;
        return mirror.changedFiles(from.commit, to.commit, true);
      }),
  };
}

/**
 * Branch and watch-path patterns
 * (https://developers.cloudflare.com/workers/ci-cd/builds/build-watch-paths/): `*` stands for any run
 * of characters, `/` included, wherever it appears; every other character is literal; a
 * pattern matches the whole branch or path. Excludes are applied first.
 */
import type { SkipReason } from "./delivery-types.ts";

const compiled = new Map<string, RegExp>();
const COMPILED_MAX = 10_000;

export function matchesPattern(pattern: string, value: string): boolean {
  let re = compiled.get(pattern);
  if (!re) {
    const source = pattern
      .split("*")
      .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
      .join("[\\s\\S]*");
    re = new RegExp(`^${source}$`);
    // Patterns come from configuration (few); the bound only guards against a flood of distinct ones.
    if (compiled.size >= COMPILED_MAX) compiled.clear();
    compiled.set(pattern, re);
  }
  return re.test(value);
}

const anyMatch = (patterns: readonly string[], value: string) => patterns.some((p) => matchesPattern(p, value));

/** undefined when the branch builds, else why not. */
export function branchSkipReason(includes: readonly string[], excludes: readonly string[], branch: string): SkipReason | undefined {
  if (anyMatch(excludes, branch)) return "branch_excluded";
  return anyMatch(includes, branch) ? undefined : "branch_not_included";
}

/** What a push or pull request changed, as far as the watch paths care. */
export interface Changes {
  /** Changed paths, relative to the repository root; null when they could not be known. */
  files: readonly string[] | null;
  /** Commits in the push. */
  commits: number;
}

/** Past these, watch paths are bypassed and every matching trigger builds (Cloudflare's build watch paths page). */
export const BYPASS_FILES = 3000;
export const BYPASS_COMMITS = 20;

/** Whether the watch paths let a build start: any changed file left after the excludes matches an include. */
export function pathsAllowBuild(includes: readonly string[], excludes: readonly string[], changes: Changes): boolean {
  const files = changes.files;
  if (files === null || files.length === 0 || files.length >= BYPASS_FILES || changes.commits >= BYPASS_COMMITS) return true;
  return files.some((file) => !anyMatch(excludes, file) && anyMatch(includes, file));
}

/** Branch and watch-path rules (docs/webhooks.md, "What builds"), case by case. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { branchSkipReason, matchesPattern, pathsAllowBuild } from "../../src/domain/patterns.ts";

describe("patterns", () => {
  it("`*` matches any run of characters, `/` included, anywhere in the pattern", () => {
    const cases: [string, string, boolean][] = [
      ["*", "", true],
      ["*", "a/b/c", true],
      ["main", "main", true],
      ["main", "main2", false],
      ["main", "xmain", false],
      ["fix/*", "fix/", true],
      ["fix/*", "fix/1", true],
      ["fix/*", "fix/a/b", true],
      ["fix/*", "fixes/1", false],
      ["*.md", "README.md", true],
      ["*.md", "docs/guide/intro.md", true],
      ["*.md", "README.mdx", false],
      ["project-a/*", "project-a/src/index.ts", true],
      ["project-a/*", "project-b/src/index.ts", false],
      ["src/*/test.ts", "src/a/b/test.ts", true],
      ["docs/README.md", "docs/README.md", true],
      ["docs/README.md", "docs/README.mdx", false],
      // Every other character is literal: regular-expression syntax means nothing.
      ["a.b", "axb", false],
      ["v(1)+", "v(1)+", true],
      ["[abc]", "a", false],
      ["**", "x/y", true],
    ];
    for (const [pattern, value, expected] of cases) assert.equal(matchesPattern(pattern, value), expected, `${pattern} vs ${value}`);
  });

  it("branches: excludes first, then any include", () => {
    assert.equal(branchSkipReason(["main"], [], "main"), undefined);
    assert.equal(branchSkipReason(["main"], [], "dev"), "branch_not_included");
    assert.equal(branchSkipReason(["*"], ["main"], "main"), "branch_excluded");
    assert.equal(branchSkipReason(["*"], ["main"], "feature/x"), undefined);
    assert.equal(branchSkipReason(["release/*"], ["release/old*"], "release/old-1"), "branch_excluded");
    assert.equal(branchSkipReason([], [], "main"), "branch_not_included");
  });

  it("paths: drop excluded files, build when any remaining file matches an include", () => {
    assert.equal(pathsAllowBuild(["*"], ["docs/*"], { files: ["docs/a.md"], commits: 1 }), false);
    assert.equal(pathsAllowBuild(["*"], ["docs/*"], { files: ["docs/a.md", "src/x.ts"], commits: 1 }), true);
    assert.equal(pathsAllowBuild(["project-a/*", "packages/*"], [], { files: ["project-b/x"], commits: 1 }), false);
    assert.equal(pathsAllowBuild(["project-a/*", "packages/*"], [], { files: ["packages/ui/x"], commits: 1 }), true);
    assert.equal(pathsAllowBuild(["*.md"], [], { files: ["src/a.ts", "notes.md"], commits: 2 }), true);
    // An excluded file never counts, even if an include matches it too.
    assert.equal(pathsAllowBuild(["src/*"], ["src/*.test.ts"], { files: ["src/a.test.ts"], commits: 1 }), false);
    assert.equal(pathsAllowBuild([], [], { files: ["a"], commits: 1 }), false);
  });

  it("paths are bypassed for 0 changed files, 3000 or more, or 20 or more commits", () => {
    const none = { includes: ["nothing/*"], excludes: ["*"] };
    assert.equal(pathsAllowBuild(none.includes, none.excludes, { files: [], commits: 1 }), true);
    assert.equal(pathsAllowBuild(none.includes, none.excludes, { files: Array.from({ length: 2999 }, (_, i) => `f${i}`), commits: 1 }), false);
    assert.equal(pathsAllowBuild(none.includes, none.excludes, { files: Array.from({ length: 3000 }, (_, i) => `f${i}`), commits: 1 }), true);
    assert.equal(pathsAllowBuild(none.includes, none.excludes, { files: ["a"], commits: 19 }), false);
    assert.equal(pathsAllowBuild(none.includes, none.excludes, { files: ["a"], commits: 20 }), true);
    // Unknown changes (git could not tell) build rather than silently skip a deploy.
    assert.equal(pathsAllowBuild(none.includes, none.excludes, { files: null, commits: 1 }), true);
  });
});

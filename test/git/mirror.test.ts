import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { git, GitError } from "../../src/git/exec.ts";
import { isValidBranchName, Mirrors, mirrorsDir } from "../../src/git/mirror.ts";
import { cloneUrl } from "../../src/git/url.ts";
import { startGitHttpServer } from "../helpers/git-http-server.ts";
import { makeRepo, readTree, runGit, type TestRepo } from "../helpers/git-repos.ts";

function countObjects(gitDir: string): Record<string, number> {
  const out = runGit(["--git-dir", gitDir, "count-objects", "-v"]);
  return Object.fromEntries(out.split("\n").map((line) => [line.split(":")[0] ?? "", Number(line.split(":")[1])]));
}

describe("git mirrors", () => {
  let dataDir: string;
  let mirrors: Mirrors;
  const repos: TestRepo[] = [];
  const newRepo = (...args: Parameters<typeof makeRepo>) => {
    const r = makeRepo(...args);
    repos.push(r);
    return r;
  };

  before(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-data-"));
    mirrors = new Mirrors({ dir: mirrorsDir(dataDir) });
  });
  after(() => {
    fs.rmSync(dataDir, { recursive: true, force: true });
    for (const r of repos) r.cleanup();
  });

  it("reaches a test repository through a file:// template", () => {
    const repo = newRepo({ name: "my-app", files: { "a.txt": "a" } });
    const url = cloneUrl({ provider_type: "github", provider_account_id: "1", provider_account_name: "acme", repo_id: "2", repo_name: "my-app" }, repo.template);
    assert.equal(url, repo.url);
  });

  it("creates a mirror once under <dataDir>/git/<sha256(url)>, then fetches only what is new", async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 150; i++) files[`src/f${i}.ts`] = `export const v = ${i};\n`;
    const repo = newRepo({ files });
    const mirror = await mirrors.fetch(repo.url);
    assert.equal(mirror.dir, path.join(dataDir, "git", createHash("sha256").update(repo.url).digest("hex")));
    fs.writeFileSync(path.join(mirror.dir, "marker"), "still the same mirror");
    const first = countObjects(mirror.dir);
    assert.equal(first["packs"], 1);

    const second = repo.commit({ "src/f1.ts": "changed\n" }, "second");
    await mirrors.fetch(repo.url);
    assert.equal(fs.readFileSync(path.join(mirror.dir, "marker"), "utf8"), "still the same mirror");
    const after = countObjects(mirror.dir);
    // Only the new commit, its two trees and one blob came over; the first pack is untouched.
    assert.equal(after["packs"], 1);
    assert.equal(after["count"], (first["count"] ?? 0) + 4);
    assert.equal(runGit(["--git-dir", mirror.dir, "rev-parse", "refs/heads/main"]), second);
    assert.ok(!fs.existsSync(`${mirror.dir}.lock`), "the lock file is gone");
  });

  it("prunes deleted branches and follows force-pushes", async () => {
    const repo = newRepo({ files: { "a.txt": "1" } });
    const base = repo.head()!;
    repo.commit({ "b.txt": "2" }, "on feature", { branch: "feature" });
    repo.commit({ "a.txt": "2" }, "to be rewritten");
    const mirror = await mirrors.fetch(repo.url);
    assert.ok(runGit(["--git-dir", mirror.dir, "branch", "--list"]).includes("feature"));
    repo.deleteBranch("feature");
    const rewritten = repo.commit({ "c.txt": "3" }, "rewritten", { branch: "tmp", from: base });
    repo.setBranch("main", rewritten);
    repo.deleteBranch("tmp");
    await mirror.fetch();
    assert.equal(runGit(["--git-dir", mirror.dir, "branch", "--list", "--format=%(refname:short)"]), "main");
    assert.equal(runGit(["--git-dir", mirror.dir, "rev-parse", "refs/heads/main"]), rewritten);
  });

  describe("resolveRef", () => {
    let repo: TestRepo;
    let c1: string;
    let c2: string;
    let feature: string;
    before(() => {
      repo = newRepo({ files: { "a.txt": "1" } });
      c1 = repo.head()!;
      c2 = repo.commit({ "a.txt": "2" }, "two");
      feature = repo.commit({ "f.txt": "f" }, "feature work", { branch: "feature/x" });
    });

    it("a branch → its tip, fetched fresh each time", async () => {
      assert.deepEqual(await mirrors.resolveRef(repo.url, { branch: "main" }), { ok: true, commit: c2, branch: "main" });
      assert.deepEqual(await mirrors.resolveRef(repo.url, { branch: "feature/x" }), { ok: true, commit: feature, branch: "feature/x" });
      const c3 = repo.commit({ "a.txt": "3" }, "three");
      assert.deepEqual(await mirrors.resolveRef(repo.url, { branch: "main" }), { ok: true, commit: c3, branch: "main" });
    });

    it("a full or abbreviated commit → the full hash; alone, the branch that contains it", async () => {
      assert.deepEqual(await mirrors.resolveRef(repo.url, { commit: c1 }), { ok: true, commit: c1, branch: "main" });
      assert.deepEqual(await mirrors.resolveRef(repo.url, { commit: c1.slice(0, 7) }), { ok: true, commit: c1, branch: "main" });
      assert.deepEqual(await mirrors.resolveRef(repo.url, { commit: feature.toUpperCase() }), { ok: true, commit: feature, branch: "feature/x" });
      assert.deepEqual(await mirrors.resolveRef(repo.url, { branch: "feature/x", commit: c1.slice(0, 10) }), { ok: true, commit: c1, branch: "feature/x" });
    });

    it("neither → the remote's default branch", async () => {
      const r = await mirrors.resolveRef(repo.url, {});
      assert.equal(r.ok && r.branch, "main");
    });

    it("unknown or invalid refs → a typed result, never an exception", async () => {
      assert.deepEqual(await mirrors.resolveRef(repo.url, { branch: "nope" }), { ok: false, reason: "unknown_branch" });
      assert.deepEqual(await mirrors.resolveRef(repo.url, { branch: "--upload-pack=evil" }), { ok: false, reason: "unknown_branch" });
      assert.deepEqual(await mirrors.resolveRef(repo.url, { branch: "main", commit: "0".repeat(40) }), { ok: false, reason: "unknown_commit" });
      assert.deepEqual(await mirrors.resolveRef(repo.url, { commit: "deadbeefdeadbeef" }), { ok: false, reason: "unknown_commit" });
      assert.deepEqual(await mirrors.resolveRef(repo.url, { commit: "HEAD~1" }), { ok: false, reason: "unknown_commit" });
      assert.deepEqual(await mirrors.resolveRef(repo.url, { commit: "--all" }), { ok: false, reason: "unknown_commit" });
    });

    it("a missing repository is a GitError (the caller maps it)", async () => {
      await assert.rejects(mirrors.resolveRef(`file://${repo.dir}/missing.git`, { branch: "main" }), GitError);
    });

    it("concurrent callers share the mirror safely", async () => {
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => mirrors.resolveRef(repo.url, i % 2 ? { branch: "main" } : { commit: c1 })));
      assert.ok(results.every((r) => r.ok));
    });
  });

  it("freshSince: callers share a fetch begun after their moment, skip one finished since, never one begun before", async () => {
    const repo = newRepo({ name: "fresh", files: { "a.txt": "1" } });
    const remote = await startGitHttpServer(repo.dir, "u", "p", { delayMs: 150 });
    try {
      const fetches = () => remote.requests.filter((r) => r.path.endsWith("/info/refs") && r.status === 200).length;
      const url = `${remote.url}/fresh.git`;
      const options = { credential: { username: "u", token: "p" } };
      const moment = Date.now();
      const first = await Promise.all(Array.from({ length: 10 }, () => mirrors.resolveRef(url, { branch: "main" }, { ...options, freshSince: moment })));
      assert.ok(first.every((r) => r.ok && r.commit === repo.head("main")));
      assert.equal(fetches(), 1, "ten callers, one fetch");
      assert.ok((await mirrors.resolveRef(url, { branch: "main" }, { ...options, freshSince: moment })).ok);
      assert.equal(fetches(), 1, "a fetch begun after the moment already finished: none");

      const second = repo.commit({ "a.txt": "2" }, "two");
      // One fetch is under way (its answer delayed); a caller whose moment is later needs its own.
      const running = mirrors.resolveRef(url, { branch: "main" }, options);
      await new Promise((r) => setTimeout(r, 50));
      const later = await mirrors.resolveRef(url, { branch: "main" }, { ...options, freshSince: Date.now() });
      await running;
      assert.equal(fetches(), 3, "the later caller did not share the fetch begun before its moment");
      assert.equal(later.ok && later.commit, second);
    } finally {
      await remote.close();
    }
  });

  it("branch names are checked like git does", () => {
    for (const ok of ["main", "feature/x", "release-1.2", "user@host", "ü"]) assert.ok(isValidBranchName(ok), ok);
    for (const bad of ["", "-x", "/a", "a/", "a..b", "a.lock", "a b", "a~1", "a^", "a:b", "a?", "a*", "a[", "a\\b", "@", "a@{1}", ".hidden", "a/.b", "a//b"]) {
      assert.ok(!isValidBranchName(bad), bad);
    }
  });

  it("commitInfo: hash, whole message trimmed, author e-mail and name", async () => {
    const repo = newRepo({ files: { "a.txt": "1" } });
    const sha = repo.commit({ "a.txt": "2" }, "Fix the thing\n\nLonger explanation.\n\n", { author: { name: "Grace Hopper", email: "grace@example.com" } });
    const mirror = await mirrors.fetch(repo.url);
    assert.deepEqual(await mirror.commitInfo(sha), {
      hash: sha,
      message: "Fix the thing\n\nLonger explanation.",
      author: "grace@example.com",
      authorName: "Grace Hopper",
    });
    assert.equal((await mirror.commitInfo(sha.slice(0, 8))).hash, sha);
  });

  it("readFile / listFiles read a commit without a checkout", async () => {
    const repo = newRepo({ files: { "package.json": '{"name":"x"}', "apps/web/wrangler.toml": 'name = "web"', "apps/web/src/i.ts": "1", "apps/api/x": "" } });
    const sha = repo.head()!;
    const later = repo.commit({ "package.json": '{"name":"y"}' }, "later");
    const mirror = await mirrors.fetch(repo.url);
    assert.equal((await mirror.readFile(sha, "package.json"))?.toString(), '{"name":"x"}');
    assert.equal((await mirror.readFile(later, "/package.json"))?.toString(), '{"name":"y"}');
    assert.equal((await mirror.readFile(sha, "apps/web/wrangler.toml"))?.toString(), 'name = "web"');
    assert.equal((await mirror.readFile(sha, "apps/api/x"))?.length, 0);
    assert.equal(await mirror.readFile(sha, "missing.json"), undefined);
    assert.equal(await mirror.readFile(sha, "apps"), undefined, "a directory is not a file");
    assert.equal(await mirror.readFile(sha, "../etc/passwd"), undefined);

    assert.deepEqual(await mirror.listFiles(sha), [
      { name: "apps", type: "tree" },
      { name: "package.json", type: "blob" },
    ]);
    assert.deepEqual(await mirror.listFiles(sha, "/apps/web/"), [
      { name: "src", type: "tree" },
      { name: "wrangler.toml", type: "blob" },
    ]);
    assert.equal(await mirror.listFiles(sha, "nope"), undefined);
    assert.equal(await mirror.listFiles(sha, "package.json"), undefined);
    assert.equal(await mirror.listFiles(sha, ".."), undefined);
  });

  it("changedFiles lists the paths that differ (renames as old and new)", async () => {
    const repo = newRepo({ files: { "a.txt": "1", "docs/b.md": "b", "c.txt": "c" } });
    const from = repo.head()!;
    repo.commit({ "a.txt": "2", "docs/new.md": "n" }, "two");
    const to = repo.commit({ "c.txt": null, "d.txt": "c" }, "rename c → d");
    const mirror = await mirrors.fetch(repo.url);
    assert.deepEqual((await mirror.changedFiles(from, to)).sort(), ["a.txt", "c.txt", "d.txt", "docs/new.md"]);
    assert.deepEqual(await mirror.changedFiles(to, to), []);
  });

  describe("checkout", () => {
    it("gives exactly the commit's tree, HEAD detached at it, in a self-contained repository", async () => {
      const repo = newRepo({ files: { "a.txt": "1", "gone.txt": "x", "src/index.ts": "export {}" } });
      const first = repo.head()!;
      const second = repo.commit({ "a.txt": "2", "gone.txt": null, "src/new.ts": "new" }, "second");
      const ws = path.join(dataDir, "work", "b1", "repo");
      fs.mkdirSync(ws, { recursive: true });
      await mirrors.checkout(repo.url, second, ws);
      assert.deepEqual(readTree(ws), { "a.txt": "2", "src/index.ts": "export {}", "src/new.ts": "new" });
      assert.equal(runGit(["-C", ws, "rev-parse", "HEAD"]), second);
      assert.equal(runGit(["-C", ws, "status", "--porcelain"]), "");
      assert.ok(!fs.existsSync(path.join(ws, ".git", "objects", "info", "alternates")), "no alternates into the mirror");
      assert.equal(runGit(["-C", ws, "for-each-ref"]), "", "no leftover refs");

      const ws2 = path.join(dataDir, "work", "b2", "repo");
      await mirrors.checkout(repo.url, first.slice(0, 9), ws2);
      assert.deepEqual(readTree(ws2), { "a.txt": "1", "gone.txt": "x", "src/index.ts": "export {}" });
    });

    it("two checkouts of different commits run concurrently, and leave the mirror untouched", async () => {
      const repo = newRepo({ files: { "v.txt": "1" } });
      const a = repo.head()!;
      const b = repo.commit({ "v.txt": "2", "only-b.txt": "b" }, "b");
      const mirror = await mirrors.fetch(repo.url);
      const refsBefore = runGit(["--git-dir", mirror.dir, "for-each-ref"]);
      const [wsA, wsB] = [path.join(dataDir, "work", "ca"), path.join(dataDir, "work", "cb")];
      await Promise.all([mirror.checkout(a, wsA), mirror.checkout(b, wsB)]);
      assert.deepEqual(readTree(wsA), { "v.txt": "1" });
      assert.deepEqual(readTree(wsB), { "v.txt": "2", "only-b.txt": "b" });
      assert.equal(runGit(["--git-dir", mirror.dir, "for-each-ref"]), refsBefore);
      assert.ok(!fs.existsSync(path.join(mirror.dir, "index")), "the bare mirror never gets an index");
    });

    it("fetches a commit the mirror does not have yet; an unknown commit fails", async () => {
      const repo = newRepo({ files: { "v.txt": "1" } });
      await mirrors.fetch(repo.url);
      const fresh = repo.commit({ "v.txt": "fresh" }, "fresh");
      const ws = path.join(dataDir, "work", "fresh");
      await mirrors.checkout(repo.url, fresh, ws);
      assert.deepEqual(readTree(ws), { "v.txt": "fresh" });
      await assert.rejects(mirrors.checkout(repo.url, "1".repeat(40), path.join(dataDir, "work", "none")), GitError);
    });

    it("an abort signal stops it", async () => {
      const repo = newRepo({ files: { "v.txt": "1" } });
      const controller = new AbortController();
      controller.abort();
      await assert.rejects(mirrors.checkout(repo.url, repo.head()!, path.join(dataDir, "work", "aborted"), { signal: controller.signal }));
    });
  });

  it("a git command that hangs is killed at its timeout", async () => {
    const sockets = new Set<import("node:net").Socket>();
    const server = http.createServer(() => undefined /* never answers */);
    server.on("connection", (s) => sockets.add(s));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/x.git`;
      const started = Date.now();
      await assert.rejects(git(["ls-remote", "--", url], { timeoutMs: 300 }), (e: unknown) => e instanceof GitError && e.timedOut);
      assert.ok(Date.now() - started < 5000);
    } finally {
      for (const s of sockets) s.destroy();
      server.close();
    }
  });
});

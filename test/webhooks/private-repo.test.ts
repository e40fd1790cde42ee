/**
 * Private repositories: the server's provider token reaches git as HTTP Basic
 * credentials through git's environment — never in a URL, a log line, an answer or a file —
 * against a local git server over HTTP that refuses anyone without them.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { startHarness } from "../helpers/harness.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";
import { allLogs, setupTrigger, startBuild, waitForStatus } from "../helpers/builds.ts";
import { startGitHttpServer, type GitHttpServer } from "../helpers/git-http-server.ts";

const GITHUB_TOKEN = "ghp_PrivateToken0123456789abcdef";
const GITLAB_TOKEN = "glpat-PrivateToken9876543210";

/** Every file under `dir` that contains `needle`. */
function filesContaining(dir: string, needle: string): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) walk(full);
      else if (e.isFile() && fs.statSync(full).size < 50 * 1024 * 1024 && fs.readFileSync(full).includes(needle)) found.push(full);
    }
  };
  walk(dir);
  return found;
}

describe("private repositories over HTTPS with the server's provider tokens", () => {
  let repo: TestRepo;
  let github: GitHttpServer;
  let gitlab: GitHttpServer;
  before(async () => {
    repo = makeRepo({ name: "secret-app", files: { "package.json": "{}", "hello.txt": "private hello" } });
    github = await startGitHttpServer(repo.dir, "x-access-token", GITHUB_TOKEN);
    gitlab = await startGitHttpServer(repo.dir, "oauth2", GITLAB_TOKEN);
  });
  after(async () => {
    await github.close();
    await gitlab.close();
    repo.cleanup();
  });

  it("GitHub: resolves and clones with the token; it appears in no answer, log line or file", async () => {
    const logs: string[] = [];
    const h = await startHarness("sqlite", {}, { runner: true, gitUrlTemplate: `${github.url}/{repo_name}.git`, githubToken: GITHUB_TOKEN }, { logs });
    try {
      const s = await setupTrigger(h, repo, { build: "cat hello.txt" }, "private");
      const uuid = await startBuild(h, s);
      const done = await waitForStatus(h, s, uuid, "stopped");
      assert.equal(done.build_outcome, "success");
      const { lines } = await allLogs(h, s, uuid);
      assert.ok(lines.some(([, text]) => text === "private hello"), "the build read the private repository");
      assert.ok(github.requests.some((r) => r.credentials === `x-access-token:${GITHUB_TOKEN}` && r.status === 200));

      const answers = JSON.stringify([done, lines, (await h.call("GET", `/client/v4/accounts/${s.accountId}/builds/triggers/${s.triggerUuid}`, { token: s.read })).body]);
      assert.ok(!answers.includes(GITHUB_TOKEN), "not in an answer");
      assert.ok(logs.length > 0);
      assert.ok(!logs.join("\n").includes(GITHUB_TOKEN), "not in a server log line");
      assert.ok(!logs.join("\n").includes(Buffer.from(`x-access-token:${GITHUB_TOKEN}`).toString("base64")), "not even base64-encoded");
      assert.deepEqual(filesContaining(h.db.dataDir, GITHUB_TOKEN), [], "not in the mirrors' git config or any file");
    } finally {
      await h.close();
    }
  });

  it("GitLab: the oauth2 user name with the GitLab token", async () => {
    const h = await startHarness("sqlite", {}, { runner: true, gitUrlTemplate: `${gitlab.url}/{repo_name}.git`, gitlabToken: GITLAB_TOKEN });
    try {
      const s = await setupTrigger(h, repo, { build: "cat hello.txt" }, "private-gl", "gitlab");
      const uuid = await startBuild(h, s);
      const done = await waitForStatus(h, s, uuid, "stopped");
      assert.equal(done.build_outcome, "success");
      assert.ok(gitlab.requests.some((r) => r.credentials === `oauth2:${GITLAB_TOKEN}` && r.status === 200));
    } finally {
      await h.close();
    }
  });

  it("without the token the server refuses: the build fails at the clone, saying so", async () => {
    const h = await startHarness("sqlite", {}, { runner: true, gitUrlTemplate: `${github.url}/{repo_name}.git` });
    try {
      const s = await setupTrigger(h, repo, { build: "true" }, "no-token");
      const before = github.requests.length;
      const uuid = await startBuild(h, s);
      const done = await waitForStatus(h, s, uuid, "stopped");
      assert.equal(done.build_outcome, "fail");
      const last = (await allLogs(h, s, uuid)).lines.at(-1)?.[1] ?? "";
      assert.match(last, /^Failed: error occurred while cloning repository: /);
      assert.ok(github.requests.length > before, "the runner asked the remote");
      assert.ok(github.requests.slice(before).every((q) => q.status === 401 && q.credentials === null));
    } finally {
      await h.close();
    }
  });
});

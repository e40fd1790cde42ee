/**
 * Creating a build answers at once: the build is stored `queued` with the branch
 * and/or commit as asked, without git; the runner resolves the ref when the build initializes,
 * builds waiting on one repository sharing one fetch of its mirror. An unknown branch or commit
 * fails the build with a log line naming it (no more 400 12012 at create).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { build as buildSchema } from "../../src/api/schemas/builds.ts";
import { allLogs, getBuild, setupTrigger, startBuild, waitForStatus, type BuildSetup } from "../helpers/builds.ts";
import { dialects } from "../helpers/databases.ts";
import { startGitHttpServer, type GitHttpServer } from "../helpers/git-http-server.ts";
import { makeRepo, TEST_AUTHOR, type TestRepo } from "../helpers/git-repos.ts";
import { startHarness, type Harness } from "../helpers/harness.ts";

const TOKEN = "ghp_CreateAtOnceToken0123456789";
const texts = (lines: [number, string][]) => lines.map(([, t]) => t);

for (const dialect of dialects()) {
  describe(`${dialect}: creating a build answers at once; the runner resolves its ref`, () => {
    let h: Harness;
    let repo: TestRepo;
    let remote: GitHttpServer;
    /** Fetches (and ls-remotes) of the repository: each starts with one ref advertisement. */
    const advertisements = () => remote.requests.filter((r) => r.path.endsWith("/info/refs") && r.status === 200).length;
    const hold = (s: BuildSetup) => h.store.accounts.setLimits(s.accountId, { concurrency_limit: 0 });
    const release = async (s: BuildSetup, uuids: string[]) => {
      await h.store.accounts.setLimits(s.accountId, { concurrency_limit: null });
      for (const uuid of uuids) h.kiln.signals.queued(uuid);
    };

    before(async () => {
      repo = makeRepo({ name: `at-once-${dialect}`, files: { "a.txt": "a" }, message: "First\n\nbody" });
      // A remote that answers each fetch 300 ms late, like a real provider far away.
      remote = await startGitHttpServer(repo.dir, "x-access-token", TOKEN, { delayMs: 300 });
      h = await startHarness(dialect, {}, { runner: true, gitUrlTemplate: `${remote.url}/{repo_name}.git`, githubToken: TOKEN, slots: 4 });
    });
    after(async () => {
      await h.close();
      await remote.close();
      repo.cleanup();
    });

    it("answers a queued build without touching git; it then resolves to the branch's head and succeeds", async () => {
      const s = await setupTrigger(h, repo, { build: 'echo "at $WORKERS_CI_COMMIT_SHA on $WORKERS_CI_BRANCH"' }, "at-once");
      await hold(s);
      const before = remote.requests.length;
      const r = await h.call("POST", `/client/v4/accounts/${s.accountId}/builds/triggers/${s.triggerUuid}/builds`, { token: s.write, body: { branch: "main" } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(Object.keys(r.body.result).sort(), ["build_uuid", "created_on"]);
      const uuid = r.body.result.build_uuid as string;
      assert.equal(remote.requests.length, before, "the create asked nothing of the remote");

      const queued = await getBuild(h, s, uuid);
      buildSchema.parse(queued);
      assert.equal(queued.status, "queued");
      assert.equal(queued.created_on, r.body.result.created_on);
      const m = queued.build_trigger_metadata;
      assert.deepEqual([m.branch, m.commit_hash, m.commit_message, m.author], ["main", "", "", ""], "the branch as asked; no commit before git resolves it");

      await release(s, [uuid]);
      const done = await waitForStatus(h, s, uuid, "stopped");
      const t = texts((await allLogs(h, s, uuid)).lines);
      assert.equal(done.build_outcome, "success", t.join("\n"));
      const head = repo.head("main") ?? "";
      const d = done.build_trigger_metadata;
      assert.deepEqual([d.branch, d.commit_hash, d.commit_message, d.author], ["main", head, "First\n\nbody", TEST_AUTHOR.email]);
      assert.ok(t.includes(`at ${head} on main`), t.join("\n"));
      // The stored row carries the commit too (webhook de-duplication and status reports read it).
      const row = await h.store.db.kysely.selectFrom("builds").select(["branch", "commit_hash"]).where("uuid", "=", uuid).executeTakeFirstOrThrow();
      assert.deepEqual(row, { branch: "main", commit_hash: head });
    });

    it("a commit alone (abbreviated) resolves to the full hash and the branch holding it; uppercase is accepted", async () => {
      const s = await setupTrigger(h, repo, { deploy: "true" }, "by-commit");
      const sha = repo.commit({ "f.txt": "f" }, "On feature", { branch: "feature" });
      await hold(s);
      const uuid = await startBuild(h, s, { commit_hash: sha.slice(0, 12).toUpperCase() });
      const queued = (await getBuild(h, s, uuid)).build_trigger_metadata;
      assert.deepEqual([queued.branch, queued.commit_hash], ["", sha.slice(0, 12)], "as asked, until resolved");
      await release(s, [uuid]);
      const done = await waitForStatus(h, s, uuid, "stopped");
      assert.equal(done.build_outcome, "success");
      assert.deepEqual([done.build_trigger_metadata.branch, done.build_trigger_metadata.commit_hash, done.build_trigger_metadata.commit_message], ["feature", sha, "On feature"]);
    });

    it("an unknown branch or commit fails the build with a line naming it (outcome fail); a retry asks again", async () => {
      const s = await setupTrigger(h, repo, { build: "echo SHOULD-NOT-RUN" }, "unknown-ref");
      const cases: [Record<string, string>, string][] = [
        [{ branch: "no-such-branch" }, `Failed: error occurred while cloning repository: branch "no-such-branch" was not found in the repository acme/${repo.name}`],
        [{ commit_hash: "0".repeat(40) }, `Failed: error occurred while cloning repository: commit ${"0".repeat(40)} was not found in the repository acme/${repo.name}`],
        [{ branch: "main", commit_hash: "deadbeef" }, `Failed: error occurred while cloning repository: commit deadbeef was not found in the repository acme/${repo.name}`],
        [{ branch: "bad..name" }, `Failed: error occurred while cloning repository: branch "bad..name" was not found in the repository acme/${repo.name}`],
      ];
      for (const [body, line] of cases) {
        const uuid = await startBuild(h, s, body);
        const done = await waitForStatus(h, s, uuid, "stopped");
        const t = texts((await allLogs(h, s, uuid)).lines);
        assert.equal(done.build_outcome, "fail", JSON.stringify(body));
        assert.equal(t.at(-1), line, t.join("\n"));
        assert.ok(!t.includes("SHOULD-NOT-RUN"));
        assert.equal(done.build_trigger_metadata.commit_message, "");
      }
      // The branch appears later: retrying the failed build asks for it again (not for a commit).
      const failed = await startBuild(h, s, { branch: "later" });
      await waitForStatus(h, s, failed, "stopped");
      const sha = repo.commit({ "l.txt": "l" }, "Later", { branch: "later" });
      const retried = await h.call("POST", `/client/v4/accounts/${s.accountId}/builds/builds/${failed}/retry`, { token: s.write });
      assert.equal(retried.status, 200, JSON.stringify(retried.body));
      const second = await waitForStatus(h, s, retried.body.result.build_uuid, "stopped");
      assert.equal(second.build_outcome, "success");
      assert.equal(second.build_trigger_metadata.commit_hash, sha);
      assert.equal(second.build_trigger_metadata.build_trigger_source, "manual");
    });

    it("20 concurrent creates answer without git; their builds then share one fetch of the mirror", async () => {
      const s = await setupTrigger(h, repo, { deploy: "true" }, "twenty");
      // Twenty branches, so no build supersedes another.
      const heads = Array.from({ length: 20 }, (_, i) => repo.commit({ [`b${i}.txt`]: String(i) }, `Branch ${i}`, { branch: `b${i}` }));
      await hold(s);
      const before = advertisements();
      const created = await Promise.all(heads.map((_, i) => startBuild(h, s, { branch: `b${i}` })));
      assert.equal(advertisements(), before, "no create asked the remote anything");
      await release(s, created);
      const done = await Promise.all(created.map((uuid) => waitForStatus(h, s, uuid, "stopped", 120_000)));
      assert.deepEqual(done.map((b) => b.build_outcome), heads.map(() => "success"));
      assert.deepEqual(done.map((b) => b.build_trigger_metadata.commit_hash), heads);
      assert.equal(advertisements() - before, 1, "one fetch of the mirror for all twenty builds");
    });

    it("a deploy hook answers at once too; a branch gone from the repository fails its build, naming it", async () => {
      const s = await setupTrigger(h, repo, { deploy: "true" }, "hook");
      const worker = (await h.store.workers.getByTag(s.accountId, s.workerTag))?.name ?? "";
      const hook = await h.call("POST", `/client/v4/accounts/${s.accountId}/builds/workers/${worker}/deploy_hooks`, { token: s.write, body: { deploy_hook_name: "gone", branch: "gone-branch" } });
      assert.equal(hook.status, 200, JSON.stringify(hook.body));
      const before = remote.requests.length;
      const r = await h.call("POST", `/client/v4/workers/builds/deploy_hooks/${hook.body.result.deploy_hook_uuid}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.result.already_exists, false);
      assert.equal(remote.requests.length, before, "the hook asked nothing of the remote");
      const done = await waitForStatus(h, s, r.body.result.build_uuid, "stopped");
      assert.equal(done.build_outcome, "fail");
      assert.equal(texts((await allLogs(h, s, done.build_uuid)).lines).at(-1), `Failed: error occurred while cloning repository: branch "gone-branch" was not found in the repository acme/${repo.name}`);
    });
  });
}

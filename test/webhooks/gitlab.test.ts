/** GitLab deliveries: token, Push Hook, Merge Request Hook, replays, bad input. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { dialects } from "../helpers/databases.ts";
import { errorCodes, startHarness, type Harness } from "../helpers/harness.ts";
import { seedBuildToken } from "../helpers/fixtures.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";
import { deliverGitlab, gitlabMergeRequest, gitlabPush, type GitlabProject } from "../helpers/webhooks.ts";
import { newUuid } from "../../src/domain/ids.ts";

const SINGLE_TENANT_TOKEN = "gitlab-single-tenant-token";

for (const dialect of dialects()) {
  describe(`${dialect}: GitLab webhooks`, () => {
    let h: Harness;
    let repo: TestRepo;
    let projectIds = 40_000;
    before(async () => {
      repo = makeRepo({ name: "glrepo", files: { "package.json": "{}", "src/a.ts": "a" } });
      h = await startHarness(dialect, {}, { gitUrlTemplate: repo.template, gitlabWebhookToken: SINGLE_TENANT_TOKEN });
    });
    after(async () => {
      await h.close();
      repo.cleanup();
    });

    async function project(opts: { paths?: string[]; branches?: string[]; excludes?: string[] } = {}) {
      const account = await h.account("gl");
      const write = (await h.token([account.id], ["Workers CI Write"])).value;
      const read = (await h.token([account.id], ["Workers CI Read"])).value;
      const worker = await h.worker(account.id, "gl-worker");
      const gl: GitlabProject = { id: ++projectIds, namespace: "acme-group", name: "glrepo" };
      const now = new Date().toISOString();
      const connection = {
        repo_connection_uuid: newUuid(),
        account_id: account.id,
        provider_type: "gitlab" as const,
        provider_account_id: "77",
        provider_account_name: "acme-group",
        repo_id: String(gl.id),
        repo_name: "glrepo",
        grant_id: null,
        created_on: now,
        modified_on: now,
        deleted_on: null,
      };
      await h.store.transaction((r) => r.repoConnections.insert(connection));
      const { token } = await seedBuildToken(h, account.id);
      const t = await h.call("POST", `/client/v4/accounts/${account.id}/builds/triggers`, {
        token: write,
        body: {
          external_script_id: worker.tag,
          trigger_name: "gl",
          repo_connection_uuid: connection.repo_connection_uuid,
          build_token_uuid: token.build_token_uuid,
          build_command: "",
          deploy_command: "npx wrangler deploy",
          root_directory: "/",
          branch_includes: opts.branches ?? ["*"],
          branch_excludes: opts.excludes ?? [],
          path_includes: opts.paths ?? ["*"],
          path_excludes: [],
        },
      });
      assert.equal(t.status, 200, JSON.stringify(t.body));
      const secret = (await h.store.accounts.webhookSecret(account.id)) as string;
      return { account, read, worker, gl, trigger: t.body.result.trigger_uuid as string, secret, path: `/webhooks/gitlab/${account.id}` };
    }

    it("a Push Hook builds with the commit, message and author of the payload; a replayed event UUID does not", async () => {
      const p = await project();
      const sha = repo.commit({ "src/b.ts": String(Math.random()) }, "Add b");
      const payload = gitlabPush(p.gl, "refs/heads/main", sha, [{ id: sha, message: "Add b", added: ["src/b.ts"] }]);
      const r = await deliverGitlab(h, p.path, "Push Hook", payload, { token: p.secret, uuid: "gl-event-1" });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      assert.equal(r.body.result.builds.length, 1);
      assert.deepEqual(r.body.result.builds[0], { build_uuid: r.body.result.builds[0].build_uuid, trigger_uuid: p.trigger, external_script_id: p.worker.tag });
      const b = await h.call("GET", `/client/v4/accounts/${p.account.id}/builds/builds/${r.body.result.builds[0].build_uuid}`, { token: p.read });
      const meta = b.body.result.build_trigger_metadata;
      assert.deepEqual(
        [meta.build_trigger_source, meta.branch, meta.commit_hash, meta.commit_message, meta.author, meta.provider_type, meta.provider_account_name, meta.repo_name],
        ["push", "main", sha, "Add b", "ada@example.com", "gitlab", "acme-group", "glrepo"],
      );
      const replay = await deliverGitlab(h, p.path, "Push Hook", payload, { token: p.secret, uuid: "gl-event-1" });
      assert.deepEqual(replay.body.result, { builds: [], skipped: [{ trigger_uuid: p.trigger, reason: "duplicate" }] });
      const list = await h.store.deliveries.list(p.account.id, 10);
      assert.deepEqual(list.map((d) => [d.provider, d.event, d.delivery_id, d.outcome]), [["gitlab", "Push Hook", "gl-event-1", "built"]]);
    });

    it("watch paths, and total_commits_count ≥ 20 bypasses them (the payload lists only 20 commits)", async () => {
      const p = await project({ paths: ["web/*"] });
      const sha = repo.commit({ "src/c.ts": String(Math.random()) }, "c");
      const skipped = await deliverGitlab(h, p.path, "Push Hook", gitlabPush(p.gl, "refs/heads/main", sha, [{ id: sha, added: ["src/c.ts"] }]), { token: p.secret });
      assert.deepEqual(skipped.body.result, { builds: [], skipped: [{ trigger_uuid: p.trigger, reason: "no_watched_path_changed" }] });
      const sha2 = repo.commit({ "src/d.ts": String(Math.random()) }, "d");
      const many = await deliverGitlab(h, p.path, "Push Hook", gitlabPush(p.gl, "refs/heads/main", sha2, [{ id: sha2, added: ["src/d.ts"] }], 25), { token: p.secret });
      assert.equal(many.body.result.builds.length, 1);
    });

    it("Merge Request Hook: open builds a new head with the MR link; forks and updates without commits do not", async () => {
      const p = await project({ branches: ["*"] });
      const base = repo.head("main") as string;
      const head = repo.commit({ "src/mr.ts": String(Math.random()) }, "feature work", { branch: "mr-branch" });
      const opened = await deliverGitlab(h, p.path, "Merge Request Hook", gitlabMergeRequest(p.gl, "open", { iid: 3, branch: "mr-branch", head, base }), { token: p.secret });
      assert.equal(opened.status, 202, JSON.stringify(opened.body));
      assert.equal(opened.body.result.builds.length, 1);
      const b = await h.call("GET", `/client/v4/accounts/${p.account.id}/builds/builds/${opened.body.result.builds[0].build_uuid}`, { token: p.read });
      assert.equal(b.body.result.build_trigger_metadata.build_trigger_source, "pull_request");
      assert.equal(b.body.result.build_trigger_metadata.branch, "mr-branch");
      assert.deepEqual(b.body.result.pull_request, { created_on: "2026-11-27T10:11:12.000Z", pull_request_url: "https://gitlab.com/acme-group/glrepo/-/merge_requests/3" });

      const titleEdit = await deliverGitlab(h, p.path, "Merge Request Hook", gitlabMergeRequest(p.gl, "update", { iid: 3, branch: "mr-branch", head, base }), { token: p.secret });
      assert.deepEqual(titleEdit.body.result, { builds: [], skipped: [] });
      const reopened = await deliverGitlab(h, p.path, "Merge Request Hook", gitlabMergeRequest(p.gl, "reopen", { iid: 3, branch: "mr-branch", head, base }), { token: p.secret });
      assert.deepEqual(reopened.body.result, { builds: [], skipped: [{ trigger_uuid: p.trigger, reason: "duplicate" }] });
      const head2 = repo.commit({ "src/mr2.ts": "2" }, "more", { branch: "mr-branch" });
      const updated = await deliverGitlab(h, p.path, "Merge Request Hook", gitlabMergeRequest(p.gl, "update", { iid: 3, branch: "mr-branch", head: head2, base, oldrev: head }), { token: p.secret });
      assert.equal(updated.body.result.builds.length, 1);
      const fork = await deliverGitlab(h, p.path, "Merge Request Hook", gitlabMergeRequest(p.gl, "open", { iid: 4, branch: "main", head: head2, base, sourceProjectId: 999 }), { token: p.secret });
      assert.deepEqual(fork.body.result, { builds: [], skipped: [{ trigger_uuid: p.trigger, reason: "fork" }] });
    });

    it("tags, deletions and other events build nothing; the single-tenant endpoint takes the server's token", async () => {
      const p = await project();
      const sha = repo.commit({ "src/t.ts": String(Math.random()) }, "t");
      const nothing = [
        await deliverGitlab(h, p.path, "Tag Push Hook", { ...gitlabPush(p.gl, "refs/tags/v1", sha, []), object_kind: "tag_push" }, { token: p.secret }),
        await deliverGitlab(h, p.path, "Push Hook", gitlabPush(p.gl, "refs/heads/old", "0".repeat(40), []), { token: p.secret }),
        await deliverGitlab(h, p.path, "Pipeline Hook", { object_kind: "pipeline" }, { token: p.secret }),
      ];
      for (const r of nothing) {
        assert.equal(r.status, 202, JSON.stringify(r.body));
        assert.deepEqual(r.body.result, { builds: [], skipped: [] });
      }
      const all = await deliverGitlab(h, "/webhooks/gitlab", "Push Hook", gitlabPush(p.gl, "refs/heads/main", sha, [{ id: sha, added: ["src/t.ts"] }]), { token: SINGLE_TENANT_TOKEN });
      assert.equal(all.status, 202);
      assert.equal(all.body.result.builds.length, 1);
      const wrong = await deliverGitlab(h, "/webhooks/gitlab", "Push Hook", gitlabPush(p.gl, "refs/heads/main", sha, []), { token: p.secret });
      assert.equal(wrong.status, 401);
    });

    it("bad input: a missing or wrong token → 401; malformed payloads → 400; nothing built", async () => {
      const p = await project();
      const sha = repo.commit({ "src/bad.ts": String(Math.random()) }, "bad");
      const payload = gitlabPush(p.gl, "refs/heads/main", sha, [{ id: sha, added: ["src/bad.ts"] }]);
      for (const token of [null, "", "wrong-token", `${p.secret}x`, p.secret.slice(1)]) {
        const r = await deliverGitlab(h, p.path, "Push Hook", payload, { token });
        assert.equal(r.status, 401, String(token));
        assert.deepEqual(errorCodes(r), [10401]);
      }
      const malformed: [string, string | null][] = [
        ["{", "Push Hook"],
        [JSON.stringify({ ...payload, project: null }), "Push Hook"],
        [JSON.stringify({ ...payload, commits: "many" }), "Push Hook"],
        [JSON.stringify({ object_attributes: { action: "open" }, project: { id: p.gl.id } }), "Merge Request Hook"],
        [JSON.stringify(payload), null],
      ];
      for (const [rawBody, event] of malformed) {
        const r = await deliverGitlab(h, p.path, event, null, { token: p.secret, rawBody });
        assert.equal(r.status, 400, `${rawBody.slice(0, 30)} ${JSON.stringify(r.body)}`);
        assert.deepEqual(errorCodes(r), [10400]);
      }
      assert.equal((await h.store.builds.listByWorker(p.account.id, p.worker.tag, { page: 1, per_page: 10 })).total, 0);
    });
  });
}

/**
 * GitHub deliveries end to end through the HTTP app: signature, events, the matching
 * rules of docs/webhooks.md ("What builds") on a three-Worker monorepo, pull requests, Previews,
 * de-duplication, the delivery's answer, and every bad input.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { dialects } from "../helpers/databases.ts";
import { errorCodes, startHarness, type Harness } from "../helpers/harness.ts";
import { seedBuildToken, seedConnection } from "../helpers/fixtures.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";
import { deliverGithub, githubPullRequest, githubPush, signGithub, type GithubRepo } from "../helpers/webhooks.ts";

const SINGLE_TENANT_SECRET = "single-tenant-secret-123";

for (const dialect of dialects()) {
  describe(`${dialect}: GitHub webhooks`, () => {
    let h: Harness;
    let repo: TestRepo;
    before(async () => {
      repo = makeRepo({ name: "mono", files: { "package.json": "{}", "apps/web/index.ts": "web", "apps/api/index.ts": "api", "docs/index.md": "docs" } });
      h = await startHarness(dialect, {}, { gitUrlTemplate: repo.template, githubWebhookSecret: SINGLE_TENANT_SECRET });
    });
    after(async () => {
      await h.close();
      repo.cleanup();
    });

    let repoIds = 7_000_000;
    /** An account whose Workers build from one GitHub repository. */
    async function monorepo(workers: { name: string; paths?: string[]; excludes?: string[]; branches?: string[]; branchExcludes?: string[] }[]) {
      const account = await h.account("mono");
      const write = (await h.token([account.id], ["Workers CI Write"])).value;
      const read = (await h.token([account.id], ["Workers CI Read"])).value;
      const gh: GithubRepo = { id: ++repoIds, owner: "acme", name: "mono" };
      const connection = await seedConnection(h, account.id, { name: "mono", id: String(gh.id) });
      const { token } = await seedBuildToken(h, account.id);
      const triggers: Record<string, string> = {};
      const tags: Record<string, string> = {};
      for (const w of workers) {
        const worker = tags[w.name] ? { tag: tags[w.name] as string } : await h.worker(account.id, w.name);
        tags[w.name] = worker.tag;
        const r = await h.call("POST", `/client/v4/accounts/${account.id}/builds/triggers`, {
          token: write,
          body: {
            external_script_id: worker.tag,
            trigger_name: w.name,
            repo_connection_uuid: connection.repo_connection_uuid,
            build_token_uuid: token.build_token_uuid,
            build_command: "npm run build",
            deploy_command: "npx wrangler deploy",
            root_directory: "/",
            branch_includes: w.branches ?? ["main"],
            branch_excludes: w.branchExcludes ?? [],
            path_includes: w.paths ?? ["*"],
            path_excludes: w.excludes ?? [],
          },
        });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        triggers[w.name + (w.branches?.[0] === "*" ? ":preview" : "")] = r.body.result.trigger_uuid;
      }
      const secret = (await h.store.accounts.webhookSecret(account.id)) as string;
      assert.ok(secret && secret.length >= 32, "an account is created with its own webhook secret");
      return { account, write, read, gh, connection, triggers, tags, secret, path: `/webhooks/github/${account.id}`, buildToken: token };
    }

    const THREE = [
      { name: "web", paths: ["apps/web/*", "packages/*"] },
      { name: "api", paths: ["apps/api/*", "packages/*"] },
      { name: "docs", paths: ["*"], excludes: ["apps/*", "packages/*"] },
    ];

    it("a push to a monorepo builds exactly the Workers whose watch paths changed; the answer says what each delivery did", async () => {
      const m = await monorepo(THREE);
      const sha = repo.commit({ "apps/api/index.ts": "api v2" }, "Fix the API\n\nLonger body.");
      const r = await deliverGithub(h, m.path, "push", githubPush(m.gh, "refs/heads/main", sha, [{ id: sha, message: "Fix the API\n\nLonger body.", modified: ["apps/api/index.ts"] }]), { secret: m.secret });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      assert.equal(r.body.success, true);
      assert.deepEqual(r.body.errors, []);
      assert.deepEqual(Object.keys(r.body.result).sort(), ["builds", "skipped"]);
      assert.equal(r.body.result.builds.length, 1);
      const built = r.body.result.builds[0];
      assert.deepEqual(Object.keys(built).sort(), ["build_uuid", "external_script_id", "trigger_uuid"]);
      assert.equal(built.trigger_uuid, m.triggers.api);
      assert.equal(built.external_script_id, m.tags.api);
      assert.deepEqual(
        [...r.body.result.skipped].sort((a: { trigger_uuid: string }, b: { trigger_uuid: string }) => a.trigger_uuid.localeCompare(b.trigger_uuid)),
        [
          { trigger_uuid: m.triggers.web, reason: "no_watched_path_changed" },
          { trigger_uuid: m.triggers.docs, reason: "no_watched_path_changed" },
        ].sort((a, b) => String(a.trigger_uuid).localeCompare(String(b.trigger_uuid))),
      );

      // The build, through the API: queued, source push, the commit from the payload.
      const b = await h.call("GET", `/client/v4/accounts/${m.account.id}/builds/builds/${built.build_uuid}`, { token: m.read });
      assert.equal(b.status, 200);
      assert.equal(b.body.result.status, "queued");
      assert.equal(b.body.result.pull_request, null);
      const meta = b.body.result.build_trigger_metadata;
      assert.equal(meta.build_trigger_source, "push");
      assert.equal(meta.branch, "main");
      assert.equal(meta.commit_hash, sha);
      assert.equal(meta.commit_message, "Fix the API\n\nLonger body.");
      assert.equal(meta.author, "ada@example.com");
      assert.equal(meta.provider_type, "github");
      assert.equal(meta.provider_account_name, "acme");
      assert.equal(meta.repo_name, "mono");
      assert.equal(meta.build_token_uuid, m.buildToken.build_token_uuid);

      // A shared package changes: both apps build, the docs do not.
      const sha2 = repo.commit({ "packages/ui/button.ts": "x" }, "ui");
      const r2 = await deliverGithub(h, m.path, "push", githubPush(m.gh, "refs/heads/main", sha2, [{ id: sha2, added: ["packages/ui/button.ts"] }]), { secret: m.secret });
      assert.equal(r2.status, 202);
      assert.deepEqual(r2.body.result.builds.map((x: { trigger_uuid: string }) => x.trigger_uuid).sort(), [m.triggers.web, m.triggers.api].sort());
      assert.deepEqual(r2.body.result.skipped, [{ trigger_uuid: m.triggers.docs, reason: "no_watched_path_changed" }]);

      // Only docs: the excludes drop apps/*, so docs/* builds docs alone.
      const sha3 = repo.commit({ "docs/guide.md": "x", "apps/web/readme.md": "y" }, "docs");
      const r3 = await deliverGithub(h, m.path, "push", githubPush(m.gh, "refs/heads/main", sha3, [{ id: sha3, added: ["docs/guide.md"] }, { id: sha3, modified: ["apps/web/readme.md"] }]), { secret: m.secret });
      assert.deepEqual(r3.body.result.builds.map((x: { trigger_uuid: string }) => x.trigger_uuid).sort(), [m.triggers.docs, m.triggers.web].sort());

      // Every delivery is recorded with its outcome.
      const deliveries = await h.store.deliveries.list(m.account.id, 10);
      assert.deepEqual(deliveries.map((d) => [d.event, d.status, d.outcome]), [["push", 202, "built"], ["push", 202, "built"], ["push", 202, "built"]]);
      assert.equal(deliveries[2]?.result.builds[0]?.build_uuid, built.build_uuid);
    });

    it("watch paths are bypassed for 0 changed files, 3000+ files and 20+ commits", async () => {
      const m = await monorepo([{ name: "web", paths: ["apps/web/*"] }]);
      const push = (commits: Parameters<typeof githubPush>[3]) => {
        const sha = repo.commit({ [`bypass/${Math.random()}`]: "x" }, "bypass");
        return deliverGithub(h, m.path, "push", githubPush(m.gh, "refs/heads/main", sha, commits.map((c) => ({ ...c, id: sha }))), { secret: m.secret });
      };
      const empty = await push([]);
      assert.equal(empty.body.result.builds.length, 1, "an empty push (0 files) always builds");
      const manyFiles = await push([{ id: "", added: Array.from({ length: 3000 }, (_, i) => `other/${i}`) }]);
      assert.equal(manyFiles.body.result.builds.length, 1, "3000 changed files always build");
      const fewFiles = await push([{ id: "", added: Array.from({ length: 2999 }, (_, i) => `other/${i}`) }]);
      assert.deepEqual(fewFiles.body.result.skipped, [{ trigger_uuid: m.triggers.web, reason: "no_watched_path_changed" }]);
      const manyCommits = await push(Array.from({ length: 20 }, () => ({ id: "", modified: ["other/file"] })));
      assert.equal(manyCommits.body.result.builds.length, 1, "20 commits always build");
      const fewCommits = await push(Array.from({ length: 19 }, () => ({ id: "", modified: ["other/file"] })));
      assert.equal(fewCommits.body.result.builds.length, 0);
    });

    it("branch patterns pick the trigger; tags, deletions, ping and other events build nothing", async () => {
      const m = await monorepo([{ name: "site" }, { name: "site", branches: ["*"], branchExcludes: ["main"] }]);
      const prod = m.triggers.site as string;
      const preview = m.triggers["site:preview"] as string;
      const sha = repo.commit({ "feature.txt": "1" }, "feature", { branch: "feature/login" });
      const dev = await deliverGithub(h, m.path, "push", githubPush(m.gh, "refs/heads/feature/login", sha, [{ id: sha, added: ["feature.txt"] }]), { secret: m.secret });
      assert.equal(dev.status, 202);
      assert.deepEqual(dev.body.result.builds.map((b: { trigger_uuid: string }) => b.trigger_uuid), [preview]);
      assert.deepEqual(dev.body.result.skipped, [{ trigger_uuid: prod, reason: "branch_not_included" }]);
      const buildUuid = dev.body.result.builds[0].build_uuid;
      const b = await h.call("GET", `/client/v4/accounts/${m.account.id}/builds/builds/${buildUuid}`, { token: m.read });
      assert.equal(b.body.result.build_trigger_metadata.branch, "feature/login");

      const main = repo.commit({ "main.txt": "1" }, "main");
      const onMain = await deliverGithub(h, m.path, "push", githubPush(m.gh, "refs/heads/main", main, [{ id: main, added: ["main.txt"] }]), { secret: m.secret });
      assert.deepEqual(onMain.body.result.builds.map((x: { trigger_uuid: string }) => x.trigger_uuid), [prod]);
      assert.deepEqual(onMain.body.result.skipped, [{ trigger_uuid: preview, reason: "branch_excluded" }]);

      const before = (await h.store.builds.listByWorker(m.account.id, m.tags.site as string, { page: 1, per_page: 50 })).total;
      const nothing = [
        await deliverGithub(h, m.path, "push", githubPush(m.gh, "refs/tags/v1.0.0", main, [{ id: main }]), { secret: m.secret }),
        await deliverGithub(h, m.path, "push", githubPush(m.gh, "refs/heads/feature/login", "0".repeat(40), []), { secret: m.secret }),
        await deliverGithub(h, m.path, "ping", { zen: "Keep it logically awesome.", hook_id: 1, hook: { type: "Repository" } }, { secret: m.secret }),
        await deliverGithub(h, m.path, "issues", { action: "opened", issue: {}, repository: { id: m.gh.id } }, { secret: m.secret }),
      ];
      for (const r of nothing) {
        assert.equal(r.status, 202, JSON.stringify(r.body));
        assert.deepEqual(r.body.result, { builds: [], skipped: [] });
      }
      assert.equal((await h.store.builds.listByWorker(m.account.id, m.tags.site as string, { page: 1, per_page: 50 })).total, before);
      const outcomes = (await h.store.deliveries.list(m.account.id, 4)).map((d) => [d.event, d.outcome]).sort();
      assert.deepEqual(outcomes, [["issues", "ignored"], ["ping", "ignored"], ["push", "ignored"], ["push", "ignored"]]);
    });

    it("a replayed delivery id and a second delivery of a built commit create nothing; concurrent copies build once", async () => {
      const m = await monorepo([{ name: "app" }]);
      const sha = repo.commit({ "x.txt": String(Math.random()) }, "x");
      const payload = githubPush(m.gh, "refs/heads/main", sha, [{ id: sha, modified: ["x.txt"] }]);
      const first = await deliverGithub(h, m.path, "push", payload, { secret: m.secret, deliveryId: "d-1" });
      assert.equal(first.body.result.builds.length, 1);
      const replay = await deliverGithub(h, m.path, "push", payload, { secret: m.secret, deliveryId: "d-1" });
      assert.equal(replay.status, 202);
      assert.deepEqual(replay.body.result, { builds: [], skipped: [{ trigger_uuid: m.triggers.app, reason: "duplicate" }] });
      const again = await deliverGithub(h, m.path, "push", payload, { secret: m.secret, deliveryId: "d-2" });
      assert.deepEqual(again.body.result, { builds: [], skipped: [{ trigger_uuid: m.triggers.app, reason: "duplicate" }] });

      const sha2 = repo.commit({ "y.txt": String(Math.random()) }, "y");
      const payload2 = githubPush(m.gh, "refs/heads/main", sha2, [{ id: sha2, modified: ["y.txt"] }]);
      const answers = await Promise.all(Array.from({ length: 6 }, () => deliverGithub(h, m.path, "push", payload2, { secret: m.secret, deliveryId: "d-3" })));
      assert.ok(answers.every((a) => a.status === 202), JSON.stringify(answers.map((a) => a.body)));
      assert.equal(answers.reduce((n, a) => n + a.body.result.builds.length, 0), 1, "six concurrent copies of one delivery build once");
      const builds = await h.store.builds.listByWorker(m.account.id, m.tags.app as string, { page: 1, per_page: 50 });
      assert.equal(builds.items.filter((b) => b.metadata.commit_hash === sha2).length, 1);
      assert.equal(builds.total, 2);
      const recorded = (await h.store.deliveries.list(m.account.id, 50)).filter((d) => d.delivery_id === "d-3");
      assert.equal(recorded.length, 1);
    });

    it("pull requests build a commit not built yet, with source pull_request and the PR link; never from forks", async () => {
      const m = await monorepo([{ name: "site" }, { name: "site", branches: ["*"], branchExcludes: ["main"] }]);
      const preview = m.triggers["site:preview"] as string;
      const base = repo.head("main") as string;
      const head = repo.commit({ "pr.txt": String(Math.random()) }, "PR work", { branch: "pr-branch" });
      // The push of the branch builds the preview trigger first…
      const pushed = await deliverGithub(h, m.path, "push", githubPush(m.gh, "refs/heads/pr-branch", head, [{ id: head, added: ["pr.txt"] }]), { secret: m.secret });
      assert.equal(pushed.body.result.builds.length, 1);
      // …so opening the PR for the same head builds nothing more.
      const opened = await deliverGithub(h, m.path, "pull_request", githubPullRequest(m.gh, "opened", { number: 7, branch: "pr-branch", head, base }), { secret: m.secret });
      assert.equal(opened.status, 202);
      assert.deepEqual(opened.body.result.builds, []);
      assert.deepEqual(
        opened.body.result.skipped.map((s: { reason: string }) => s.reason).sort(),
        ["branch_not_included", "duplicate"],
      );

      // A head commit no push built (e.g. a missed delivery): the synchronize event builds it.
      const head2 = repo.commit({ "pr2.txt": "2" }, "More PR work\n\nbody", { branch: "pr-branch" });
      const sync = await deliverGithub(h, m.path, "pull_request", githubPullRequest(m.gh, "synchronize", { number: 7, branch: "pr-branch", head: head2, base }), { secret: m.secret });
      assert.deepEqual(sync.body.result.builds.map((b: { trigger_uuid: string }) => b.trigger_uuid), [preview]);
      const b = await h.call("GET", `/client/v4/accounts/${m.account.id}/builds/builds/${sync.body.result.builds[0].build_uuid}`, { token: m.read });
      assert.equal(b.body.result.build_trigger_metadata.build_trigger_source, "pull_request");
      assert.equal(b.body.result.build_trigger_metadata.branch, "pr-branch");
      assert.equal(b.body.result.build_trigger_metadata.commit_hash, head2);
      assert.equal(b.body.result.build_trigger_metadata.commit_message, "More PR work\n\nbody", "the message comes from git");
      assert.equal(b.body.result.build_trigger_metadata.author, "ada@example.com");
      assert.deepEqual(b.body.result.pull_request, { created_on: "2026-11-27T10:11:12.000Z", pull_request_url: "https://github.com/acme/mono/pull/7" });

      // Forks never build, whatever their branch.
      const forked = await deliverGithub(h, m.path, "pull_request", githubPullRequest(m.gh, "opened", { number: 8, branch: "main", head: repo.commit({ "f.txt": "f" }, "fork"), base, headRepoId: 999 }), { secret: m.secret });
      assert.deepEqual(forked.body.result.builds, []);
      assert.deepEqual(forked.body.result.skipped.map((s: { reason: string }) => s.reason), ["fork", "fork"]);
      const deletedFork = await deliverGithub(h, m.path, "pull_request", githubPullRequest(m.gh, "reopened", { number: 9, branch: "x", head: head2, base, headRepoId: null }), { secret: m.secret });
      assert.deepEqual(deletedFork.body.result.skipped.map((s: { reason: string }) => s.reason), ["fork", "fork"]);

      const closed = await deliverGithub(h, m.path, "pull_request", githubPullRequest(m.gh, "closed", { number: 7, branch: "pr-branch", head: head2, base }), { secret: m.secret });
      assert.deepEqual(closed.body.result, { builds: [], skipped: [] });
    });

    it("pull requests obey the watch paths, counted from the merge base", async () => {
      const m = await monorepo([{ name: "paths", paths: ["apps/web/*"], branches: ["*"] }]);
      const base = repo.head("main") as string;
      const head = repo.commit({ "apps/api/only.ts": String(Math.random()) }, "api only", { branch: "pr-paths" });
      const r = await deliverGithub(h, m.path, "pull_request", githubPullRequest(m.gh, "opened", { number: 11, branch: "pr-paths", head, base }), { secret: m.secret });
      assert.deepEqual(r.body.result, { builds: [], skipped: [{ trigger_uuid: m.triggers["paths:preview"], reason: "no_watched_path_changed" }] });
      // main moves on with web changes: they are not the PR's, so the PR still does not build.
      repo.commit({ "apps/web/main-only.ts": String(Math.random()) }, "web on main");
      const r2 = await deliverGithub(h, m.path, "pull_request", githubPullRequest(m.gh, "reopened", { number: 11, branch: "pr-paths", head, base: repo.head("main") as string }), { secret: m.secret });
      assert.deepEqual(r2.body.result.builds, []);
      const head2 = repo.commit({ "apps/web/pr.ts": "web" }, "web too", { branch: "pr-paths" });
      const r3 = await deliverGithub(h, m.path, "pull_request", githubPullRequest(m.gh, "synchronize", { number: 11, branch: "pr-paths", head: head2, base }), { secret: m.secret });
      assert.equal(r3.body.result.builds.length, 1);
    });

    it("with previews_enabled a push to another branch builds that branch's Preview (created on the first push)", async () => {
      const account = await h.account("previews");
      const write = (await h.token([account.id], ["Workers CI Write"])).value;
      const read = (await h.token([account.id], ["Workers CI Read"])).value;
      const worker = await h.worker(account.id, "pv");
      const { token: bt } = await seedBuildToken(h, account.id);
      const gh: GithubRepo = { id: ++repoIds, owner: "acme", name: "mono" };
      const created = await h.call("POST", `/client/v4/accounts/${account.id}/builds/workers`, {
        token: write,
        body: {
          script_tag: worker.tag,
          git_repository: { provider_type: "github", provider_account_id: "315958746", provider_account_name: "acme", repo_id: String(gh.id), repo_name: "mono", branch: "main" },
          production_settings: { build_command: "npm run build", deploy_command: "npx wrangler deploy", build_token_uuid: bt.build_token_uuid },
          previews_enabled: true,
          previews_base_config: { build_command: "npm run build", deploy_command: "npx wrangler preview", build_token_uuid: bt.build_token_uuid, path_excludes: ["docs/*"] },
        },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const prodTrigger = (await h.store.triggers.listByWorker(account.id, worker.tag))[0]?.trigger_uuid as string;
      const secret = (await h.store.accounts.webhookSecret(account.id)) as string;
      const path = `/webhooks/github/${account.id}`;

      const sha = repo.commit({ "apps/web/p.ts": String(Math.random()) }, "preview me", { branch: "preview-branch" });
      const r = await deliverGithub(h, path, "push", githubPush(gh, "refs/heads/preview-branch", sha, [{ id: sha, modified: ["apps/web/p.ts"] }]), { secret });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      assert.deepEqual(r.body.result.builds.map((b: { trigger_uuid: string; external_script_id: string }) => [b.trigger_uuid, b.external_script_id]), [[prodTrigger, worker.tag]]);
      const previews = await h.call("GET", `/client/v4/accounts/${account.id}/builds/workers/${worker.tag}/previews`, { token: read });
      assert.equal(previews.body.result.length, 1);
      const preview = previews.body.result[0];
      assert.equal(preview.branch, "preview-branch");
      const list = await h.call("GET", `/client/v4/accounts/${account.id}/builds/workers/${worker.tag}/previews/${preview.preview_id}/builds`, { token: read });
      assert.deepEqual(list.body.result.map((b: { build_uuid: string }) => b.build_uuid), [r.body.result.builds[0].build_uuid]);
      assert.equal(list.body.result[0].build_trigger_metadata.deploy_command, "npx wrangler preview");

      // The Preview's own watch paths apply; a later push reuses the same Preview.
      const docs = repo.commit({ "docs/p.md": String(Math.random()) }, "docs", { branch: "preview-branch" });
      const skipped = await deliverGithub(h, path, "push", githubPush(gh, "refs/heads/preview-branch", docs, [{ id: docs, modified: ["docs/p.md"] }]), { secret });
      assert.deepEqual(skipped.body.result, { builds: [], skipped: [{ trigger_uuid: prodTrigger, reason: "no_watched_path_changed" }] });
      const sha2 = repo.commit({ "apps/web/p2.ts": "2" }, "again", { branch: "preview-branch" });
      const again = await deliverGithub(h, path, "push", githubPush(gh, "refs/heads/preview-branch", sha2, [{ id: sha2, modified: ["apps/web/p2.ts"] }]), { secret });
      assert.equal(again.body.result.builds.length, 1);
      assert.equal((await h.call("GET", `/client/v4/accounts/${account.id}/builds/workers/${worker.tag}/previews`, { token: read })).body.result.length, 1);

      // auto_build off: the Preview stays, pushes do not build it.
      const off = await h.call("PATCH", `/client/v4/accounts/${account.id}/builds/workers/${worker.tag}/previews/${preview.preview_id}`, { token: write, body: { auto_build: false } });
      assert.equal(off.status, 200, JSON.stringify(off.body));
      const sha3 = repo.commit({ "apps/web/p3.ts": "3" }, "again", { branch: "preview-branch" });
      const notBuilt = await deliverGithub(h, path, "push", githubPush(gh, "refs/heads/preview-branch", sha3, [{ id: sha3, modified: ["apps/web/p3.ts"] }]), { secret });
      assert.deepEqual(notBuilt.body.result, { builds: [], skipped: [{ trigger_uuid: prodTrigger, reason: "auto_build_disabled" }] });

      // The production branch still builds production.
      const mainSha = repo.commit({ "apps/web/m.ts": String(Math.random()) }, "prod");
      const prod = await deliverGithub(h, path, "push", githubPush(gh, "refs/heads/main", mainSha, [{ id: mainSha, modified: ["apps/web/m.ts"] }]), { secret });
      const prodBuild = await h.call("GET", `/client/v4/accounts/${account.id}/builds/builds/${prod.body.result.builds[0].build_uuid}`, { token: read });
      assert.equal(prodBuild.body.result.build_trigger_metadata.deploy_command, "npx wrangler deploy");
    });

    it("each account's endpoint matches only its own connections; the single-tenant endpoint matches every account", async () => {
      const a = await monorepo([{ name: "shared" }]);
      // Account B connects the same GitHub repository id.
      const b = await h.account("other");
      const bWrite = (await h.token([b.id], ["Workers CI Write"])).value;
      const bWorker = await h.worker(b.id, "shared-b");
      const bConn = await seedConnection(h, b.id, { name: "mono", id: String(a.gh.id) });
      const { token: bt } = await seedBuildToken(h, b.id);
      const bt2 = await h.call("POST", `/client/v4/accounts/${b.id}/builds/triggers`, {
        token: bWrite,
        body: {
          external_script_id: bWorker.tag, trigger_name: "b", repo_connection_uuid: bConn.repo_connection_uuid, build_token_uuid: bt.build_token_uuid,
          build_command: "", deploy_command: "npx wrangler deploy", root_directory: "/", branch_includes: ["main"], branch_excludes: [], path_includes: ["*"], path_excludes: [],
        },
      });
      assert.equal(bt2.status, 200);
      const bSecret = (await h.store.accounts.webhookSecret(b.id)) as string;
      assert.notEqual(bSecret, a.secret);

      const sha = repo.commit({ "shared.txt": String(Math.random()) }, "shared");
      const payload = githubPush(a.gh, "refs/heads/main", sha, [{ id: sha, modified: ["shared.txt"] }]);
      const onA = await deliverGithub(h, a.path, "push", payload, { secret: a.secret });
      assert.deepEqual(onA.body.result.builds.map((x: { trigger_uuid: string }) => x.trigger_uuid), [a.triggers.shared]);
      // B's secret does not open A's endpoint.
      const crossed = await deliverGithub(h, a.path, "push", payload, { secret: bSecret });
      assert.equal(crossed.status, 401);

      const sha2 = repo.commit({ "shared2.txt": String(Math.random()) }, "shared 2");
      const all = await deliverGithub(h, "/webhooks/github", "push", githubPush(a.gh, "refs/heads/main", sha2, [{ id: sha2, modified: ["shared2.txt"] }]), { secret: SINGLE_TENANT_SECRET });
      assert.equal(all.status, 202, JSON.stringify(all.body));
      assert.deepEqual(all.body.result.builds.map((x: { trigger_uuid: string }) => x.trigger_uuid).sort(), [a.triggers.shared, bt2.body.result.trigger_uuid].sort());
      assert.equal((await h.store.deliveries.list(b.id, 10)).length, 1, "recorded for each account it built for");
      const wrong = await deliverGithub(h, "/webhooks/github", "push", payload, { secret: a.secret });
      assert.equal(wrong.status, 401);
    });

    it("accepts GitHub's form encoding (payload=…)", async () => {
      const m = await monorepo([{ name: "form" }]);
      const sha = repo.commit({ "form.txt": String(Math.random()) }, "form");
      const body = `payload=${encodeURIComponent(JSON.stringify(githubPush(m.gh, "refs/heads/main", sha, [{ id: sha, modified: ["form.txt"] }])))}`;
      const r = await deliverGithub(h, m.path, "push", null, { secret: m.secret, rawBody: body, contentType: "application/x-www-form-urlencoded" });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      assert.equal(r.body.result.builds.length, 1);
    });

    it("bad input: 401 for a missing or wrong signature or an unknown account, 400 for malformed payloads, 202 for an unknown repository", async () => {
      const m = await monorepo([{ name: "bad" }]);
      const sha = repo.commit({ "bad.txt": String(Math.random()) }, "bad");
      const payload = githubPush(m.gh, "refs/heads/main", sha, [{ id: sha, modified: ["bad.txt"] }]);
      const count = async () => (await h.store.builds.listByWorker(m.account.id, m.tags.bad as string, { page: 1, per_page: 50 })).total;

      const unauthorized = [
        await deliverGithub(h, m.path, "push", payload, {}),
        await deliverGithub(h, m.path, "push", payload, { signature: "sha256=" + "0".repeat(64) }),
        await deliverGithub(h, m.path, "push", payload, { signature: "sha1=abc" }),
        await deliverGithub(h, m.path, "push", payload, { signature: "sha256=zz" }),
        await deliverGithub(h, m.path, "push", payload, { secret: "not-the-secret" }),
        await deliverGithub(h, `/webhooks/github/${"f".repeat(32)}`, "push", payload, { secret: m.secret }),
        await deliverGithub(h, "/webhooks/github/not-an-account", "push", payload, { secret: m.secret }),
      ];
      for (const r of unauthorized) {
        assert.equal(r.status, 401, JSON.stringify(r.body));
        assert.deepEqual(r.body, { success: false, errors: [{ code: 10401, message: "Webhook signature or token is missing or does not match" }], messages: [], result: null });
      }
      // A body changed after signing fails too.
      const tampered = await h.call("POST", m.path, {
        headers: { "x-github-event": "push", "x-hub-signature-256": signGithub(m.secret, JSON.stringify(payload)) },
        rawBody: JSON.stringify({ ...payload, after: "e".repeat(40) }),
      });
      assert.equal(tampered.status, 401);
      assert.equal(await count(), 0, "nothing built from an unverified delivery");
      assert.equal((await h.store.deliveries.list(m.account.id, 50)).filter((d) => d.status === 401).length, 0);

      const malformed: [string, string | null, string][] = [
        ["{not json", "push", "Malformed webhook payload: body is not JSON"],
        [JSON.stringify({ ...payload, repository: undefined }), "push", "Malformed webhook payload: repository: "],
        [JSON.stringify({ ...payload, after: "nope" }), "push", "Malformed webhook payload: after: must be a 40-character commit hash"],
        [JSON.stringify({ ...payload, ref: 5 }), "push", "Malformed webhook payload: ref: "],
        [JSON.stringify([1, 2]), "push", "Malformed webhook payload: payload: "],
        ["", "push", "Malformed webhook payload: body is not JSON"],
        [JSON.stringify(payload), null, "Malformed webhook payload: missing x-github-event header"],
        [JSON.stringify({ action: "opened", repository: { id: m.gh.id } }), "pull_request", "Malformed webhook payload: pull_request: "],
      ];
      for (const [rawBody, event, message] of malformed) {
        const r = await deliverGithub(h, m.path, event, null, { secret: m.secret, rawBody });
        assert.equal(r.status, 400, `${rawBody.slice(0, 40)}: ${JSON.stringify(r.body)}`);
        assert.deepEqual(errorCodes(r), [10400]);
        assert.ok(String(r.body.errors[0].message).startsWith(message), r.body.errors[0].message);
      }
      assert.equal(await count(), 0);
      assert.equal((await h.store.deliveries.list(m.account.id, 50)).filter((d) => d.outcome === "rejected").length, malformed.length, "400s are recorded");

      const unknown = await deliverGithub(h, m.path, "push", { ...payload, repository: { id: 123 } }, { secret: m.secret });
      assert.equal(unknown.status, 202);
      assert.deepEqual(unknown.body.result, { builds: [], skipped: [] });
      assert.equal((await h.store.deliveries.list(m.account.id, 1))[0]?.outcome, "unknown_repository");

      const big = await deliverGithub(h, m.path, "push", null, { secret: m.secret, rawBody: JSON.stringify({ ...payload, pad: "x".repeat(2 * 1024 * 1024) }) });
      assert.equal(big.status, 202, "a delivery over the API's 1 MiB limit is still accepted");
    });

    it("a single-tenant endpoint without a configured secret does not exist", async () => {
      const r = await deliverGithub(h, "/webhooks/gitlab", "push", {}, {});
      assert.equal(r.status, 400);
      assert.deepEqual(errorCodes(r), [7003, 7000]);
    });
  });
}

/**
 * Hot reads (one build, a Worker's builds, the scripts list) are answered from a cache of
 * serialised answers on SQLite until the next commit (src/api/answer-cache.ts). These tests hold
 * that every change is seen on the very next request, whoever commits it — this process, or
 * another connection (another process on SQLite, another node on PostgreSQL) — and that the
 * credential check still runs first. On PostgreSQL nothing is reused; the same answers must hold.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { sql } from "kysely";
import { revokeToken } from "../../src/domain/admin.ts";
import { newUuid } from "../../src/domain/ids.ts";
import { openStore, type Store } from "../../src/store/index.ts";
import { dialects } from "../helpers/databases.ts";
import { setupTrigger, type BuildSetup } from "../helpers/builds.ts";
import { startHarness, TRANSPORTS, type Harness } from "../helpers/harness.ts";
import type { TestRepo } from "../helpers/git-repos.ts";

const METADATA = {
  build_trigger_source: "push", branch: "main", commit_hash: "a".repeat(40), commit_message: "first", author: "dev@example.com",
  build_command: "", deploy_command: "", root_directory: "/", build_caching_enabled: false,
  provider_type: "github", provider_account_id: "1", provider_account_name: "acme", repo_id: "1", repo_name: "app",
};

for (const dialect of dialects()) {
  for (const transport of TRANSPORTS)
  describe(`${dialect} over ${transport}: reused answers are never older than the last commit`, () => {
    let h: Harness;
    let s: BuildSetup;
    let other: Store;
    let minute = 0;

    /** A stopped build written by the other connection, as another process would. */
    const insertBuild = async (outcome = "success"): Promise<string> => {
      const uuid = newUuid();
      const t = new Date(Date.parse("2026-01-01T00:00:00.000Z") + minute++ * 60_000).toISOString();
      const metadata = JSON.stringify({ ...METADATA, build_token_uuid: s.buildTokenUuid, build_token_name: "deploy" });
      await sql`insert into builds (uuid, account_id, worker_tag, trigger_uuid, status, build_outcome, created_on, initializing_on, running_on, stopped_on, modified_on, metadata, branch, commit_hash)
        values (${uuid}, ${s.accountId}, ${s.workerTag}, ${s.triggerUuid}, 'stopped', ${outcome}, ${t}, ${t}, ${t}, ${t}, ${t}, ${metadata}, 'main', ${"a".repeat(40)})`.execute(other.db.kysely);
      return uuid;
    };
    const reusedCount = async (): Promise<number> => {
      const text = String((await h.call("GET", "/metrics")).body);
      // Wherever it was reused: in front of Fastify (over HTTP) or by the route.
      const counts = [...text.matchAll(/^kiln_http_answers_reused_total\{where="(?:front|route)"\} (\d+)/gm)];
      assert.equal(counts.length, 2, text);
      return counts.reduce((sum, m) => sum + Number(m[1]), 0);
    };
    const get = async (path: string, token = s.read) => {
      const answer = await h.call("GET", `/client/v4/accounts/${s.accountId}${path}`, { token });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      return answer.body.result;
    };

    before(async () => {
      h = await startHarness(dialect, {}, {}, { transport });
      s = await setupTrigger(h, { name: "app" } as TestRepo, {});
      other = await openStore({ dataDir: h.db.dataDir, database: h.db.database, poolSize: 2, secretKey: Buffer.from(h.db.secretKey, "base64") });
    });
    after(async () => {
      await other?.close();
      await h?.close();
    });

    it("one build: reused while nothing is committed, fresh after another connection's update", async () => {
      const uuid = await insertBuild();
      const first = await get(`/builds/builds/${uuid}`);
      const reusedBefore = await reusedCount();
      assert.deepEqual(await get(`/builds/builds/${uuid}`), first);
      // SQLite reuses the answer (the second request read nothing); PostgreSQL never does.
      assert.equal((await reusedCount()) - reusedBefore, dialect === "sqlite" ? 1 : 0);
      await sql`update builds set build_outcome = 'fail', modified_on = ${"2026-02-01T00:00:00.000Z"} where uuid = ${uuid}`.execute(other.db.kysely);
      const after = await get(`/builds/builds/${uuid}`);
      assert.equal(after.build_outcome, "fail");
      assert.equal(after.modified_on, "2026-02-01T00:00:00.000Z");
    });

    it("one build: a variable added to its trigger elsewhere shows on the next request", async () => {
      const uuid = await insertBuild();
      assert.deepEqual((await get(`/builds/builds/${uuid}`)).build_trigger_metadata.environment_variables, {});
      await get(`/builds/builds/${uuid}`);
      await other.transaction((r) => r.envVars.upsert("trigger", s.triggerUuid, [{ key: "NODE_ENV", is_secret: false, value: "production", created_on: new Date().toISOString() }]));
      const vars = (await get(`/builds/builds/${uuid}`)).build_trigger_metadata.environment_variables;
      assert.deepEqual(Object.keys(vars), ["NODE_ENV"]);
      await other.transaction((r) => r.envVars.upsert("trigger", s.triggerUuid, []));
    });

    it("a Worker's builds: a build inserted by another connection is listed on the next request", async () => {
      const path = `/builds/workers/${s.workerTag}/builds?per_page=50`;
      const before = (await get(path)) as { build_uuid: string }[];
      assert.deepEqual(await get(path), before);
      const uuid = await insertBuild();
      const listed = (await get(path)) as { build_uuid: string }[];
      assert.equal(listed.length, before.length + 1);
      assert.equal(listed[0]?.build_uuid, uuid, "newest first");
    });

    it("a Worker's builds: a change made through this process's API is seen at once", async () => {
      const path = `/builds/workers/${s.workerTag}/builds?per_page=50`;
      await get(path);
      await get(path);
      const renamed = await h.call("PATCH", `/client/v4/accounts/${s.accountId}/builds/triggers/${s.triggerUuid}`, { token: s.write, body: { trigger_name: "renamed" } });
      assert.equal(renamed.status, 200, JSON.stringify(renamed.body));
      const listed = (await get(path)) as { trigger: { trigger_name: string } }[];
      assert.ok(listed.length > 0);
      assert.ok(listed.every((b) => b.trigger.trigger_name === "renamed"));
    });

    it("a reused answer is never given to a revoked token, nor to one without access to the account", async () => {
      const uuid = await insertBuild();
      const t = await h.token([s.accountId], ["Workers CI Read"]);
      await get(`/builds/builds/${uuid}`, t.value);
      await get(`/builds/builds/${uuid}`, t.value);
      const stranger = await h.token([(await h.account("elsewhere")).id], ["Workers CI Read"]);
      const refused = await h.call("GET", `/client/v4/accounts/${s.accountId}/builds/builds/${uuid}`, { token: stranger.value });
      assert.equal(refused.status, 403);
      await other.transaction((repos) => revokeToken(repos, t.id));
      const revoked = await h.call("GET", `/client/v4/accounts/${s.accountId}/builds/builds/${uuid}`, { token: t.value });
      assert.equal(revoked.status, 401);
    });

    it("the scripts list: a Worker created elsewhere is listed on the next request", async () => {
      const before = (await get("/workers/scripts")) as { id: string }[];
      await get("/workers/scripts");
      const now = new Date().toISOString();
      await other.transaction((r) => r.workers.create({ tag: newUuid().replaceAll("-", ""), account_id: s.accountId, name: "another", created_on: now, modified_on: now }));
      const after = (await get("/workers/scripts")) as { id: string }[];
      assert.equal(after.length, before.length + 1);
      assert.ok(after.some((w) => w.id === "another"));
    });
  });
}

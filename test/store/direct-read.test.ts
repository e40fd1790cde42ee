/**
 * On SQLite the hot reads (a build, a Worker's page of builds and its count, a trigger, its
 * repo connection, build token and variables) run as prepared statements outside transactions
 * (src/store/direct-read.ts) and through Kysely inside one. Both paths must give the very same
 * domain objects, every field included.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { sql } from "kysely";
import { newUuid } from "../../src/domain/ids.ts";
import { setupTrigger, type BuildSetup } from "../helpers/builds.ts";
import { startHarness, type Harness } from "../helpers/harness.ts";
import type { TestRepo } from "../helpers/git-repos.ts";

describe("sqlite: direct reads and Kysely's read the same", () => {
  let h: Harness;
  let s: BuildSetup;
  const uuids: string[] = [];

  before(async () => {
    h = await startHarness("sqlite");
    s = await setupTrigger(h, { name: "app" } as TestRepo, { env: { PLAIN: { is_secret: false, value: "1" }, TOKEN: { is_secret: true, value: "s3cret" } } });
    for (let i = 0; i < 7; i++) {
      const uuid = newUuid();
      const t = new Date(Date.parse("2026-01-01T00:00:00.000Z") + i * 60_000).toISOString();
      const metadata = JSON.stringify({ build_trigger_source: "push", branch: "main", commit_hash: "b".repeat(40), commit_message: `c${i}`, author: "a@example.com", build_token_uuid: s.buildTokenUuid, build_token_name: "deploy" });
      const pullRequest = i % 2 ? JSON.stringify({ number: i, url: `https://example.com/pr/${i}` }) : null;
      await sql`insert into builds (uuid, account_id, worker_tag, trigger_uuid, status, build_outcome, created_on, modified_on, metadata, pull_request, deploy_hook_uuid, deploy_hook_name, runner_id, log_lines, preview_url)
        values (${uuid}, ${s.accountId}, ${s.workerTag}, ${s.triggerUuid}, ${i === 6 ? "running" : "stopped"}, ${i === 6 ? null : "success"}, ${t}, ${t}, ${metadata}, ${pullRequest},
          ${i === 3 ? newUuid() : null}, ${i === 3 ? "nightly" : null}, ${i === 6 ? "runner-1" : null}, ${i * 10}, ${i === 4 ? "https://preview.example" : null})`.execute(h.store.db.kysely);
      uuids.push(uuid);
    }
  });
  after(() => h?.close());

  it("a build, a page of a Worker's builds, its trigger, connection, token and variables", async () => {
    const read = async (r: typeof h.store) => {
      const trigger = await r.triggers.get(s.accountId, s.triggerUuid);
      assert.ok(trigger);
      return {
        builds: await Promise.all(uuids.map((u) => r.builds.get(s.accountId, u))),
        missing: await r.builds.get(s.accountId, newUuid()),
        page: await r.builds.listByWorker(s.accountId, s.workerTag, { page: 2, per_page: 3 }),
        trigger,
        connection: await r.repoConnections.get(s.accountId, trigger.repo_connection_uuid),
        token: await r.buildTokens.get(s.accountId, s.buildTokenUuid),
        env: await r.envVars.list("trigger", s.triggerUuid),
      };
    };
    const direct = await read(h.store);
    assert.equal(h.store.db.sqlite?.inTransaction, false);
    // A repository made for a transaction always reads through Kysely.
    const kysely = await h.store.transaction(async (repos) => read(repos as typeof h.store));
    assert.deepEqual(direct, kysely);
    assert.equal(direct.page.total, 7);
    assert.deepEqual(direct.page.items.map((b) => b.build_uuid), [uuids[3], uuids[2], uuids[1]]);
    assert.deepEqual(direct.builds[3]?.deploy_hook?.name, "nightly");
    assert.deepEqual(direct.builds[1]?.pull_request, { number: 1, url: "https://example.com/pr/1" });
    assert.equal(direct.builds[6]?.runner_id, "runner-1");
    assert.equal(direct.builds[6]?.log_lines, 60);
    assert.equal(direct.missing, undefined);
    assert.deepEqual(direct.env.map((v) => [v.key, v.is_secret, v.value]), [["PLAIN", false, "1"], ["TOKEN", true, "s3cret"]]);
  });
});

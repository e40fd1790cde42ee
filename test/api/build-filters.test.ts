/** #21's Kiln extension filters: `branch` and `outcome` (`none` = unfinished). */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { dialects } from "../helpers/databases.ts";
import { errorCodes, startHarness, type Harness } from "../helpers/harness.ts";
import { seed, storedBuild, triggerBody } from "../helpers/fixtures.ts";
import type { BuildOutcome } from "../../src/domain/build-types.ts";

for (const dialect of dialects()) {
  describe(`${dialect}: #21 filters`, () => {
    let h: Harness;
    before(async () => {
      h = await startHarness(dialect);
    });
    after(() => h.close());

    it("filters by branch and outcome, paginates the filtered list, rejects an unknown outcome", async () => {
      const account = await h.account("filters");
      const write = (await h.token([account.id], ["Workers CI Write", "Workers CI Read"])).value;
      const s = await seed(h, account.id, "filtered");
      const t = await h.call("POST", `/client/v4/accounts/${account.id}/builds/triggers`, { token: write, body: triggerBody(s) });
      const trigger = t.body.result.trigger_uuid as string;
      const rows: [string, BuildOutcome | null][] = [["main", "success"], ["main", "fail"], ["dev", "success"], ["dev", null], ["main", "success"], ["feature/x", "cancelled"]];
      const uuids: string[] = [];
      for (const [i, [branch, outcome]] of rows.entries()) {
        const at = new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString();
        const b = storedBuild(s, account.id, trigger, { branch, outcome, createdOn: at });
        await h.store.transaction((r) => r.builds.insert(b));
        uuids.push(b.build_uuid);
      }
      const list = async (q: string) => h.call("GET", `/client/v4/accounts/${account.id}/builds/workers/${s.worker.tag}/builds?${q}`, { token: write });
      const ids = async (q: string) => (await list(q)).body.result.map((b: { build_uuid: string }) => uuids.indexOf(b.build_uuid));
      assert.deepEqual(await ids(""), [5, 4, 3, 2, 1, 0]);
      assert.deepEqual(await ids("branch=main"), [4, 1, 0]);
      assert.deepEqual(await ids(`branch=${encodeURIComponent("feature/x")}`), [5]);
      assert.deepEqual(await ids("outcome=success"), [4, 2, 0]);
      assert.deepEqual(await ids("outcome=none"), [3]);
      assert.deepEqual(await ids("branch=main&outcome=success"), [4, 0]);
      assert.deepEqual(await ids("branch=nope"), []);
      const paged = await list("branch=main&per_page=2&page=2");
      assert.deepEqual(paged.body.result.map((b: { build_uuid: string }) => uuids.indexOf(b.build_uuid)), [0]);
      assert.equal(paged.body.result_info.total_count, 3);
      const bad = await list("outcome=great");
      assert.equal(bad.status, 400);
      assert.deepEqual(bad.body.errors, [{ code: 12013, message: "Invalid query parameter: outcome: must be success, fail, skipped, cancelled, terminated or none" }]);
    });
  });
}

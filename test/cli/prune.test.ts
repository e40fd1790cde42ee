/** Retention: `kiln prune --older-than` deletes old builds, their logs and deliveries, in batches. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { dialects } from "../helpers/databases.ts";
import { startHarness, type Harness } from "../helpers/harness.ts";
import { kiln } from "../helpers/cli.ts";
import { seed, storedBuild, triggerBody } from "../helpers/fixtures.ts";
import { newUuid } from "../../src/domain/ids.ts";
import { parseAge, prune } from "../../src/domain/retention.ts";

for (const dialect of dialects()) {
  describe(`${dialect}: prune`, () => {
    let h: Harness;
    before(async () => {
      h = await startHarness(dialect);
    });
    after(() => h.close());

    async function fixture() {
      const account = await h.account("retention");
      const write = (await h.token([account.id], ["Workers CI Write"])).value;
      const s = await seed(h, account.id, `w-${newUuid().slice(0, 8)}`);
      const t = await h.call("POST", `/client/v4/accounts/${account.id}/builds/triggers`, { token: write, body: triggerBody(s) });
      assert.equal(t.status, 200);
      const trigger = t.body.result.trigger_uuid as string;
      const day = 86_400_000;
      const make = async (stoppedDaysAgo: number | null, lines: number) => {
        const created = new Date(Date.now() - (stoppedDaysAgo ?? 0) * day - 60_000).toISOString();
        const stopped = stoppedDaysAgo === null ? null : new Date(Date.now() - stoppedDaysAgo * day).toISOString();
        const b = {
          ...storedBuild(s, account.id, trigger, { outcome: stopped ? "success" : null, status: stopped ? "stopped" : "running", createdOn: created, stoppedOn: stopped }),
          initializing_on: created,
          running_on: created,
        };
        await h.store.transaction(async (r) => {
          await r.builds.insert(b);
          await r.builds.appendLogs(b.build_uuid, 0, Array.from({ length: lines }, (_, i) => [Date.now(), `line ${i}`] as [number, string]));
        });
        return b.build_uuid;
      };
      const old = [];
      for (let i = 0; i < 230; i++) old.push(await make(40 + (i % 5), 3));
      const recent = await make(2, 5);
      const running = await make(null, 2);
      for (const [i, age] of [[1, 45], [2, 1]] as const) {
        await h.store.transaction((r) =>
          r.deliveries.insert({ id: newUuid(), account_id: account.id, provider: "github", delivery_id: `d${i}`, event: "push", received_on: new Date(Date.now() - age * day).toISOString(), status: 202, outcome: "ignored", result: { builds: [], skipped: [] } }),
        );
      }
      return { account, old, recent, running };
    }

    it("kiln prune --older-than 30d removes builds stopped, logs and deliveries older than that, nothing newer or unfinished", async () => {
      const f = await fixture();
      const r = await kiln(["prune", "--older-than", "30d", "--json", ...h.db.flags]);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.deepEqual({ builds: out.builds, log_lines: out.log_lines, deliveries: out.deliveries, events: out.events }, { builds: 230, log_lines: 690, deliveries: 1, events: 230 });
      assert.ok(Math.abs(Date.parse(out.cutoff) - (Date.now() - 30 * 86_400_000)) < 120_000);
      for (const uuid of f.old.slice(0, 5)) {
        assert.equal(await h.store.builds.getByUuid(uuid), undefined);
        assert.deepEqual(await h.store.builds.readLogs(uuid, 0, 10), []);
      }
      assert.ok(await h.store.builds.getByUuid(f.recent));
      assert.equal((await h.store.builds.readLogs(f.recent, 0, 10)).length, 5);
      assert.ok(await h.store.builds.getByUuid(f.running), "an unfinished build is never pruned, however old");
      assert.deepEqual((await h.store.deliveries.list(f.account.id, 10)).map((d) => d.delivery_id), ["d2"]);
      assert.deepEqual(await h.store.buildEvents.eventsOfBuild(f.old[0] as string), [], "an old build's events go");
      assert.deepEqual((await h.store.buildEvents.eventsOfBuild(f.recent)).map((e) => e.type), ["cf.workersBuilds.worker.build.succeeded"]);
      const again = await prune(h.store, new Date(Date.now() - 30 * 86_400_000).toISOString());
      assert.deepEqual(again, { builds: 0, log_lines: 0, deliveries: 0, events: 0, expired_messages: 0 });
    });

    it("rejects a malformed age with exit 2", async () => {
      for (const bad of ["30", "30 days", "-1d", "1w", ""]) {
        const r = await kiln(["prune", "--older-than", bad, ...h.db.flags]);
        assert.equal(r.code, 2, bad);
      }
      assert.equal(parseAge("90m"), 5_400_000);
      assert.equal(parseAge("12h"), 43_200_000);
      assert.equal(parseAge("30d"), 2_592_000_000);
    });
  });
}

/**
 * Races: randomised cancel-versus-finish and cancel-versus-cancel through the API
 * and the real runner. Each race: exactly one final outcome, `stopped_on` set once and never
 * changing, never an unstopped status after it, and every cancel answer agreeing with what was
 * stored. CI runs RACES per database; `npm run test:long` runs 1000.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { dialects } from "../helpers/databases.ts";
import { startHarness, type Answer, type Harness } from "../helpers/harness.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";
import { setupTrigger, waitFor, type BuildSetup } from "../helpers/builds.ts";

const LONG = process.env.KILN_TEST_LONG === "1";
const RACES = Number(process.env.RACES ?? (LONG ? 1000 : 30));

/** A small deterministic generator: a failure names its race and replays. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

for (const dialect of dialects()) {
  describe(`${dialect}: cancel races`, () => {
    let h: Harness;
    let repo: TestRepo;
    let s: BuildSetup;
    before(async () => {
      repo = makeRepo({ name: "races", files: { "package.json": "{}" } });
      h = await startHarness(dialect, {}, { runner: true, gitUrlTemplate: repo.template, cancelGrace: 0.2, slots: 4 });
      // The build sleeps for what its variable says: each race sets it before starting.
      s = await setupTrigger(h, repo, { build: 'sleep "$NAP"' }, "races");
    });
    after(async () => {
      await h.close();
      repo.cleanup();
    });

    /** Milliseconds from create to stopped of one uncancelled build napping 0.15 s. */
    async function timeOneBuild(base: string): Promise<number> {
      const now = new Date().toISOString();
      await h.store.transaction((r) => r.envVars.upsert("trigger", s.triggerUuid, [{ key: "NAP", is_secret: false, value: "0.15", created_on: now }]));
      const started = Date.now();
      const created = await h.call("POST", `${base}/triggers/${s.triggerUuid}/builds`, { token: s.write, body: { branch: "main" } });
      assert.equal(created.status, 200, JSON.stringify(created.body));
      const b = await waitFor("the timing build", async () => {
        const x = await h.store.builds.getByUuid(created.body.result.build_uuid as string);
        return x?.status === "stopped" ? x : undefined;
      }, 30_000);
      assert.equal(b.build_outcome, "success");
      return Date.now() - started;
    }

    it(`${RACES} randomised cancel-vs-finish and cancel-vs-cancel races: one outcome each, answers agree`, async () => {
      const random = rng(20261128);
      const counts: Record<string, number> = {};
      const base = `/client/v4/accounts/${s.accountId}/builds`;
      // How long a build takes from create to stopped on this machine, now: the cancels are spread
      // over about that span (adjusted as the races go), so both sides of the race happen however
      // loaded the machine is.
      let span = await timeOneBuild(base);
      for (let race = 0; race < RACES; race++) {
        const nap = (random() * 0.3).toFixed(3);
        const now = new Date().toISOString();
        await h.store.transaction((r) => r.envVars.upsert("trigger", s.triggerUuid, [{ key: "NAP", is_secret: false, value: nap, created_on: now }]));
        const created = await h.call("POST", `${base}/triggers/${s.triggerUuid}/builds`, { token: s.write, body: { branch: "main" } });
        assert.equal(created.status, 200, JSON.stringify(created.body));
        const uuid = created.body.result.build_uuid as string;
        // A fifth of the cancels go out at once (often still queued), the rest around the build's end.
        const delay = random() < 0.2 ? 0 : Math.floor(random() * span * 1.5);
        const cancels = 1 + Math.floor(random() * 3);
        await new Promise((r) => setTimeout(r, delay));
        const answers: Answer[] = await Promise.all(Array.from({ length: cancels }, () => h.call("PUT", `${base}/builds/${uuid}/cancel`, { token: s.write })));
        const label = `race ${race} (nap ${nap}s, cancel after ${delay} of ${span} ms, ${cancels} cancels)`;
        const b = await waitFor(label, async () => {
          const x = await h.store.builds.getByUuid(uuid);
          return x?.status === "stopped" ? x : undefined;
        }, 30_000);
        assert.ok(b.stopped_on, label);
        assert.ok(b.build_outcome === "success" || b.build_outcome === "cancelled", `${label}: ${b.build_outcome}`);
        for (const a of answers) {
          if (b.build_outcome === "cancelled") {
            assert.equal(a.status, 200, `${label}: ${JSON.stringify(a.body)}`);
            assert.deepEqual(a.body.result, { build_uuid: uuid, build_outcome: "cancelled", stopped_on: b.stopped_on }, label);
          } else {
            assert.equal(a.status, 409, `${label}: a build that succeeded answered ${a.status}`);
            assert.deepEqual(a.body.errors, [{ code: 12009, message: "Build has already stopped" }], label);
          }
        }
        counts[b.build_outcome ?? "none"] = (counts[b.build_outcome ?? "none"] ?? 0) + 1;
        // The machine's speed drifts (a loaded CI host): the window follows it, widening after a
        // cancel won and narrowing after the build won, so both sides keep happening.
        span = Math.round(b.build_outcome === "cancelled" ? span * 1.15 : span * 0.9);
        counts[`${b.initializing_on ? "started" : "queued"}-when-stopped`] = (counts[`${b.initializing_on ? "started" : "queued"}-when-stopped`] ?? 0) + 1;
        // Stopped once: the same outcome and stopped_on a moment later.
        await new Promise((r) => setTimeout(r, 20));
        const again = await h.store.builds.getByUuid(uuid);
        assert.equal(again?.status, "stopped", label);
        assert.equal(again?.stopped_on, b.stopped_on, `${label}: stopped_on changed`);
        assert.equal(again?.build_outcome, b.build_outcome, `${label}: outcome changed`);
      }
      console.log(`cancel races (${dialect}): ${RACES} races, window ending at ${span} ms, ${JSON.stringify(counts)}`);
      assert.ok((counts.cancelled ?? 0) > 0 && (counts.success ?? 0) > 0, `both sides of the race were exercised: ${JSON.stringify(counts)}`);
    });
  });
}

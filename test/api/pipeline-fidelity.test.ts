/** Version ids, superseded builds, deploy-hook triggers (#38) and retry, with real builds. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { SlidingWindowLimiter } from "../../src/domain/rate-limit.ts";
import { parseWranglerOutput, VersionLineScanner } from "../../src/runner/wrangler-output.ts";
import { allLogs, getBuild, setupTrigger, startBuild, waitForStatus } from "../helpers/builds.ts";
import { dialects } from "../helpers/databases.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";
import { errorCodes, startHarness, type Harness } from "../helpers/harness.ts";
import { npmProject } from "../../bench/cache.ts";

const VERSION = "0f2a6a4e-5c1b-4b7e-9d3a-8e6f1c2b3a4d";
const texts = (lines: [number, string][]) => lines.map(([, t]) => t);

describe("wrangler output", () => {
  it("reads version id and preview URL from ND-JSON, the last entry winning, skipping junk", () => {
    const out = [
      '{"version":1,"type":"wrangler-session","wrangler_version":"4.0.0"}',
      "not json",
      `{"version":1,"type":"deploy","version_id":"11111111-1111-4111-8111-111111111111"}`,
      `{"version":1,"type":"version-upload","version_id":"${VERSION}","preview_url":"https://abc-app.acme.workers.dev"}`,
    ].join("\n");
    assert.deepEqual(parseWranglerOutput(out), { version_id: VERSION, preview_url: "https://abc-app.acme.workers.dev" });
    assert.deepEqual(parseWranglerOutput(""), {});
  });

  it("falls back to the printed lines, also across chunks", () => {
    const s = new VersionLineScanner();
    s.feed("Uploaded app\nCurrent Version ID: 0f2a6a4e-5c1b-4b7e-9d3a-");
    s.feed("8e6f1c2b3a4d\nVersion Preview URL: https://x.workers.dev\n");
    assert.deepEqual(s.end(), { version_id: VERSION, preview_url: "https://x.workers.dev" });
  });
});

describe("deploy-hook rate limiter", () => {
  it("allows 10 a minute per key, then says how long to wait", () => {
    const limiter = new SlidingWindowLimiter(60_000);
    for (let i = 0; i < 10; i++) assert.equal(limiter.take([["w", 10], ["a", 100]], 1000 + i), 0);
    const wait = limiter.take([["w", 10], ["a", 100]], 2000);
    assert.equal(wait, 59_000);
    assert.equal(limiter.take([["w", 10]], 61_001), 0, "a slot frees up after a minute");
  });
});

for (const dialect of dialects()) {
  describe(`${dialect}: pipeline fidelity`, () => {
    let h: Harness;
    let repo: TestRepo;
    before(async () => {
      repo = makeRepo({ name: `fidelity-${dialect}`, files: { "a.txt": "a" } });
      h = await startHarness(dialect, {}, { runner: true, gitUrlTemplate: repo.template, slots: 4 });
    });
    after(async () => {
      await h.close();
      repo.cleanup();
    });

    it("stores the version id and preview URL wrangler reports; #2 finds the build by version id", async () => {
      const s = await setupTrigger(h, repo, {
        deploy: `printf '%s\\n' '{"version":1,"type":"version-upload","version_id":"${VERSION}","preview_url":"https://v1-app.acme.workers.dev"}' >> "$WRANGLER_OUTPUT_FILE_PATH"`,
      }, "version");
      const uuid = await startBuild(h, s);
      const b = await waitForStatus(h, s, uuid, "stopped");
      assert.equal(b.build_outcome, "success");
      assert.equal(b.preview_url, "https://v1-app.acme.workers.dev");
      const byVersion = await h.call("GET", `/client/v4/accounts/${s.accountId}/builds/builds?version_ids=${VERSION},22222222-2222-4222-8222-222222222222`, { token: s.read });
      assert.equal(byVersion.status, 200);
      assert.deepEqual(Object.keys(byVersion.body.result.builds), [VERSION]);
      assert.equal(byVersion.body.result.builds[VERSION].build_uuid, uuid);

      const fallback = await setupTrigger(h, repo, { deploy: `echo "Current Version ID: 33333333-3333-4333-8333-333333333333"` }, "versionlines");
      const u2 = await startBuild(h, fallback);
      await waitForStatus(h, fallback, u2, "stopped");
      const found = await h.call("GET", `/client/v4/accounts/${fallback.accountId}/builds/builds?version_ids=33333333-3333-4333-8333-333333333333`, { token: fallback.read });
      assert.equal(found.body.result.builds["33333333-3333-4333-8333-333333333333"].build_uuid, u2);
    });

    it("a newer build of the same trigger and branch skips the queued older ones; other branches stay", async () => {
      const s = await setupTrigger(h, repo, { deploy: "true" }, "supersede");
      repo.commit({ "b.txt": "b" }, "On dev", { branch: "dev" });
      await h.store.accounts.setLimits(s.accountId, { concurrency_limit: 0 });
      const first = await startBuild(h, s);
      const second = await startBuild(h, s);
      const otherBranch = await startBuild(h, s, { branch: "dev" });
      const third = await startBuild(h, s);
      for (const old of [first, second]) {
        const b = await getBuild(h, s, old);
        assert.equal(b.status, "stopped");
        assert.equal(b.build_outcome, "skipped");
        assert.equal(texts((await allLogs(h, s, old)).lines).at(-1), `Build was skipped: superseded by the newer build ${old === first ? second : third}`);
      }
      assert.equal((await getBuild(h, s, otherBranch)).status, "queued");
      assert.equal((await getBuild(h, s, third)).status, "queued");
      await h.store.accounts.setLimits(s.accountId, { concurrency_limit: null });
      h.kiln.signals.queued(third);
      assert.equal((await waitForStatus(h, s, third, "stopped")).build_outcome, "success");
      assert.equal((await waitForStatus(h, s, otherBranch, "stopped")).build_outcome, "success");
    });

    it("#38 starts a build of the hook's branch without auth; a pending build answers already_exists", async () => {
      const s = await setupTrigger(h, repo, { deploy: "true" }, "hooks");
      const worker = (await h.store.workers.getByTag(s.accountId, s.workerTag))?.name ?? "";
      const hook = await h.call("POST", `/client/v4/accounts/${s.accountId}/builds/workers/${worker}/deploy_hooks`, {
        token: s.write,
        body: { deploy_hook_name: "nightly", branch: "main" },
      });
      assert.equal(hook.status, 200, JSON.stringify(hook.body));
      const hookUuid = hook.body.result.deploy_hook_uuid;
      const url = `/client/v4/workers/builds/deploy_hooks/${hookUuid}`;

      await h.store.accounts.setLimits(s.accountId, { concurrency_limit: 0 });
      const first = await h.call("POST", url);
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.equal(first.body.result.already_exists, false);
      assert.equal(first.body.result.status, "queued");
      const again = await h.call("POST", url);
      assert.equal(again.body.result.already_exists, true);
      assert.equal(again.body.result.build_uuid, first.body.result.build_uuid);

      const b = await getBuild(h, s, first.body.result.build_uuid);
      assert.deepEqual(b.deploy_hook, { deploy_hook_name: "nightly" });
      assert.equal(b.build_trigger_metadata.build_trigger_source, "api");
      assert.equal(b.build_trigger_metadata.branch, "main");
      const listed = await h.call("GET", `/client/v4/accounts/${s.accountId}/builds/workers/${worker}/deploy_hooks`, { token: s.read });
      assert.deepEqual(listed.body.result[0].latest_build, { created_on: first.body.result.created_on });

      await h.store.accounts.setLimits(s.accountId, { concurrency_limit: null });
      h.kiln.signals.queued(first.body.result.build_uuid);
      await waitForStatus(h, s, first.body.result.build_uuid, "stopped");

      for (const bad of ["00000000-0000-4000-8000-000000000000", "not-a-uuid"]) {
        const r = await h.call("POST", `/client/v4/workers/builds/deploy_hooks/${bad}`);
        assert.equal(r.status, 404);
        assert.deepEqual(errorCodes(r), [12000]);
      }
    });

    it("#38 is rate limited: 10 builds a minute per Worker, then 429 10429 with Retry-After", async () => {
      const s = await setupTrigger(h, repo, { deploy: "true" }, "ratelimit");
      const worker = (await h.store.workers.getByTag(s.accountId, s.workerTag))?.name ?? "";
      const hook = await h.call("POST", `/client/v4/accounts/${s.accountId}/builds/workers/${worker}/deploy_hooks`, { token: s.write, body: { deploy_hook_name: "ci", branch: "main" } });
      const url = `/client/v4/workers/builds/deploy_hooks/${hook.body.result.deploy_hook_uuid}`;
      for (let i = 0; i < 10; i++) {
        const r = await h.call("POST", url);
        assert.equal(r.status, 200, `call ${i}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.result.already_exists, false);
        await waitForStatus(h, s, r.body.result.build_uuid, "stopped");
      }
      const limited = await h.call("POST", url);
      assert.equal(limited.status, 429);
      assert.deepEqual(limited.body.errors, [{ code: 10429, message: "Too many requests" }]);
      assert.ok(Number(limited.headers["retry-after"]) >= 1 && Number(limited.headers["retry-after"]) <= 60);
    });

    it("detects tools, installs dependencies, restores the build cache on the next build, and not after a purge", async () => {
      const npmRepo = makeRepo({ name: `npm-${dialect}`, dir: repo.dir, files: npmProject() });
      const s = await setupTrigger(h, npmRepo, { build: "node -e \"console.log('dep says ' + require('alpha'))\"" }, "install");
      await h.call("PATCH", `/client/v4/accounts/${s.accountId}/builds/triggers/${s.triggerUuid}`, { token: s.write, body: { build_caching_enabled: true } });
      const run = async () => {
        const uuid = await startBuild(h, s);
        const b = await waitForStatus(h, s, uuid, "stopped", 120_000);
        const t = texts((await allLogs(h, s, uuid)).lines);
        assert.equal(b.build_outcome, "success", t.join("\n"));
        return t;
      };
      const first = await run();
      assert.ok(first.some((l) => /^Detected the following tools from environment: npm@\d+\.\d+\.\d+, nodejs@\d+\.\d+\.\d+$/.test(l)), first.join("\n"));
      assert.ok(first.includes("Installing project dependencies: npm clean-install --progress=false"));
      assert.ok(first.includes("dep says alpha"));
      assert.ok(!first.includes("Success: Dependencies restored from build cache."));
      const second = await run();
      assert.ok(second.includes("Success: Dependencies restored from build cache."), second.join("\n"));
      const purge = await h.call("POST", `/client/v4/accounts/${s.accountId}/builds/triggers/${s.triggerUuid}/purge_build_cache`, { token: s.write });
      assert.equal(purge.status, 200);
      const third = await run();
      assert.ok(!third.includes("Success: Dependencies restored from build cache."), "a purge means a miss");
      await h.store.transaction((r) => r.envVars.upsert("trigger", s.triggerUuid, [{ key: "SKIP_DEPENDENCY_INSTALL", is_secret: false, value: "1", created_on: new Date().toISOString() }]));
      const uuid = await startBuild(h, s);
      await waitForStatus(h, s, uuid, "stopped", 120_000);
      assert.ok(!texts((await allLogs(h, s, uuid)).lines).some((l) => l.startsWith("Installing project dependencies")));
    });

    it("retry builds the same commit with today's configuration, source manual; not after the trigger is gone", async () => {
      const s = await setupTrigger(h, repo, { deploy: "echo first-config" }, "retry");
      const uuid = await startBuild(h, s);
      const first = await waitForStatus(h, s, uuid, "stopped");
      await h.call("PATCH", `/client/v4/accounts/${s.accountId}/builds/triggers/${s.triggerUuid}`, { token: s.write, body: { deploy_command: "echo second-config" } });
      repo.commit({ "later.txt": "x" }, "A later commit");
      const r = await h.call("POST", `/client/v4/accounts/${s.accountId}/builds/builds/${uuid}/retry`, { token: s.write });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const retried = await waitForStatus(h, s, r.body.result.build_uuid, "stopped");
      assert.equal(retried.build_trigger_metadata.commit_hash, first.build_trigger_metadata.commit_hash, "the same commit");
      assert.equal(retried.build_trigger_metadata.build_trigger_source, "manual");
      assert.ok(texts((await allLogs(h, s, retried.build_uuid)).lines).includes("second-config"));
      await h.call("DELETE", `/client/v4/accounts/${s.accountId}/builds/triggers/${s.triggerUuid}`, { token: s.write });
      const gone = await h.call("POST", `/client/v4/accounts/${s.accountId}/builds/builds/${uuid}/retry`, { token: s.write });
      assert.equal(gone.status, 404);
      assert.deepEqual(errorCodes(gone), [12000]);
      const ro = await h.call("POST", `/client/v4/accounts/${s.accountId}/builds/builds/${uuid}/retry`, { token: s.read });
      assert.equal(ro.status, 403);
    });
  });
}

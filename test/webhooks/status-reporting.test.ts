/**
 * Status back to the provider: a GitHub commit status / GitLab commit status per
 * Worker per commit, created at queued, updated at running and at the end, linking to the
 * build; failures to report are retried and then given up, never failing the build. The
 * provider is a real HTTP server on loopback that records what GitHub's or GitLab's API would
 * receive.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { dialects } from "../helpers/databases.ts";
import { startHarness, type Harness } from "../helpers/harness.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";
import { setupTrigger, startBuild, waitFor, waitForStatus } from "../helpers/builds.ts";
import { startFakeProvider, type FakeProvider } from "../helpers/fake-provider.ts";
import { StatusReporter } from "../../src/webhooks/status-reporter.ts";

const silent = pino({ level: "silent" });

for (const dialect of dialects()) {
  describe(`${dialect}: build status reported to the git provider`, () => {
    let h: Harness;
    let repo: TestRepo;
    let fake: FakeProvider;
    let reporter: StatusReporter;
    before(async () => {
      repo = makeRepo({ name: "status", files: { "package.json": "{}" } });
      fake = await startFakeProvider();
      h = await startHarness(dialect, {}, { runner: true, gitUrlTemplate: repo.template, cancelGrace: 1 });
      // The reporter as `kiln serve` composes it, with test-sized timings.
      reporter = new StatusReporter(
        h.store,
        h.kiln.signals,
        {
          github: { apiUrl: `${fake.url}/api/v3`, token: "ghp_test_token_123" },
          gitlab: { apiUrl: `${fake.url}/api/v4`, token: "glpat-test-token" },
          publicUrl: "https://kiln.example.com",
          pollMs: 30,
          maxAttempts: 3,
          backoffMs: () => 20,
        },
        silent,
      );
      reporter.start();
    });
    after(async () => {
      await reporter.stop();
      await h.close();
      await fake.close();
      repo.cleanup();
    });

    // Every build here builds the same commit: a build's calls are told apart by their link.
    const callsFor = (uuid: string) => fake.calls.filter((c) => String(c.body?.target_url).endsWith(`/builds/${uuid}`));
    const okCalls = (uuid: string) => callsFor(uuid).filter((c) => c.answered === 201);

    it("GitHub: pending at queued, pending (running) at running, then success, each linking to the build", async () => {
      const s = await setupTrigger(h, repo, { build: "sleep 1" }, "status-gh");
      const uuid = await startBuild(h, s);
      const done = await waitForStatus(h, s, uuid, "stopped");
      assert.equal(done.build_outcome, "success");
      const sha = done.build_trigger_metadata.commit_hash as string;
      await waitFor("the final status", async () => okCalls(uuid).some((c) => c.body.state === "success"));
      const calls = okCalls(uuid);
      assert.deepEqual(calls.map((c) => [c.body.state, c.body.description]), [
        ["pending", "Build queued"],
        ["pending", "Build running"],
        ["success", "Build succeeded"],
      ]);
      for (const c of calls) {
        assert.equal(c.method, "POST");
        assert.equal(c.path, `/api/v3/repos/acme/status/statuses/${sha}`);
        assert.equal(c.headers.authorization, "Bearer ghp_test_token_123");
        assert.equal(c.headers.accept, "application/vnd.github+json");
        assert.equal(c.body.context, "Workers Builds: status-gh");
        assert.equal(c.body.target_url, `https://kiln.example.com/accounts/${s.accountId}/workers/${s.workerTag}/builds/${uuid}`);
      }
    });

    it("GitLab: pending, running, failed — retried through provider errors without touching the build", async () => {
      const s = await setupTrigger(h, repo, { build: "sleep 1; exit 3" }, "status-gl", "gitlab");
      fake.failNext(2);
      const uuid = await startBuild(h, s);
      const done = await waitForStatus(h, s, uuid, "stopped");
      assert.equal(done.build_outcome, "fail", "reporting errors never change the build");
      const sha = done.build_trigger_metadata.commit_hash as string;
      await waitFor("the final status", async () => okCalls(uuid).some((c) => c.body.state === "failed"));
      const all = callsFor(uuid);
      // The build was asked for by branch: its first status goes out once the runner resolved the
      // commit, just before it runs, so the retry may already carry `running`.
      assert.deepEqual(all.slice(0, 2).map((c) => c.answered), [500, 500], "the first two attempts failed");
      assert.equal(all[0]?.body.state, "pending");
      // A retry sends the build's status as it is by then: the pending one may have been overtaken.
      assert.deepEqual(okCalls(uuid).map((c) => c.body.state).filter((st) => st !== "pending"), ["running", "failed"]);
      for (const c of okCalls(uuid)) {
        assert.equal(c.path, `/api/v4/projects/repo-status-${s.accountId.slice(0, 6)}/statuses/${sha}`);
        assert.equal(c.headers["private-token"], "glpat-test-token");
        assert.equal(c.headers.authorization, undefined);
        assert.equal(c.body.name, "Workers Builds: status-gl");
        assert.equal(c.body.ref, "main");
        assert.equal(c.body.target_url, `https://kiln.example.com/accounts/${s.accountId}/workers/${s.workerTag}/builds/${uuid}`);
      }
    });

    it("a cancelled build reports cancelled (GitHub: error, described)", async () => {
      const s = await setupTrigger(h, repo, { build: "sleep 30" }, "status-cancel");
      const uuid = await startBuild(h, s);
      await waitForStatus(h, s, uuid, "running");
      const cancelled = await h.call("PUT", `/client/v4/accounts/${s.accountId}/builds/builds/${uuid}/cancel`, { token: s.write });
      assert.equal(cancelled.status, 200);
      const b = await waitForStatus(h, s, uuid, "stopped");
      const sha = b.build_trigger_metadata.commit_hash as string;
      await waitFor("the final status", async () => okCalls(uuid).some((c) => c.body.state === "error"));
      assert.deepEqual(okCalls(uuid).at(-1)?.body, {
        state: "error",
        context: "Workers Builds: status-cancel",
        description: "Build cancelled",
        target_url: `https://kiln.example.com/accounts/${s.accountId}/workers/${s.workerTag}/builds/${uuid}`,
      });
    });

    it("gives a status up after the last attempt; the build still succeeds and nothing is left due", async () => {
      const s = await setupTrigger(h, repo, { build: "sleep 1" }, "status-down");
      fake.failNext(1000);
      const uuid = await startBuild(h, s);
      const done = await waitForStatus(h, s, uuid, "stopped");
      assert.equal(done.build_outcome, "success");
      const sha = done.build_trigger_metadata.commit_hash as string;
      await waitFor("the reporter to give up", async () => (await h.store.builds.reportsDue(new Date(Date.now() + 60_000).toISOString(), 100)).every((d) => d.build.build_uuid !== uuid));
      fake.failNext(0);
      const attempts = callsFor(uuid);
      assert.ok(attempts.length >= 3 && attempts.every((c) => c.answered === 500), `${attempts.length} attempts, all refused`);
      // The final state was attempted exactly maxAttempts times.
      assert.equal(attempts.filter((c) => c.body.state === "success").length, 3);
    });

    it("no token for a provider: nothing is sent and nothing stays due", async () => {
      const local = new StatusReporter(h.store, h.kiln.signals, { publicUrl: "http://x" }, silent);
      const s = await setupTrigger(h, repo, { build: "" }, "status-none");
      const before = fake.calls.length;
      await reporter.stop();
      try {
        const uuid = await startBuild(h, s);
        await waitForStatus(h, s, uuid, "stopped");
        await local.pass();
        assert.equal(fake.calls.length, before);
        const due = await h.store.builds.reportsDue(new Date(Date.now() + 60_000).toISOString(), 100);
        assert.ok(due.every((d) => d.build.build_uuid !== uuid));
      } finally {
        reporter.start();
      }
    });
  });
}

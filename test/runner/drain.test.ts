/** Drain: a stopping runner claims nothing new, lets running builds finish up to the limit, then terminates the rest. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { dialects } from "../helpers/databases.ts";
import { startHarness, type Harness } from "../helpers/harness.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";
import { allLogs, setupTrigger, startBuild, waitForStatus, getBuild } from "../helpers/builds.ts";

for (const dialect of dialects()) {
  describe(`${dialect}: runner drain`, () => {
    let repo: TestRepo;
    before(() => {
      // No package.json: no install step, so the short build is its 1 s sleep and little else,
      // well inside the 3 s drain even on a loaded machine.
      repo = makeRepo({ name: "drain", files: { "README.md": "drain\n" } });
    });
    after(() => repo.cleanup());

    it("finishes a build shorter than the drain limit, terminates one longer, and claims nothing meanwhile", async () => {
      const h: Harness = await startHarness(dialect, {}, { runner: true, gitUrlTemplate: repo.template, slots: 2 });
      try {
        const short = await setupTrigger(h, repo, { build: "sleep 1; echo short-done" }, "short");
        const long = await setupTrigger(h, repo, { build: "echo long-started; sleep 30" }, "long");
        const a = await startBuild(h, short);
        const b = await startBuild(h, long);
        await waitForStatus(h, short, a, "running");
        await waitForStatus(h, long, b, "running");
        const runner = h.kiln.runner;
        assert.ok(runner);
        const t0 = Date.now();
        const stopping = runner.stop(3000);
        // Queued while draining: stays queued for another runner.
        const waiting = await startBuild(h, short, { branch: "main", commit_hash: repo.head("main") });
        await stopping;
        const took = Date.now() - t0;
        assert.ok(took >= 2500 && took < 10_000, `stopped after the drain limit: ${took} ms`);
        assert.equal((await getBuild(h, short, a)).build_outcome, "success");
        const terminated = await getBuild(h, long, b);
        assert.equal(terminated.build_outcome, "terminated");
        assert.equal((await allLogs(h, long, b)).lines.at(-1)?.[1], "Build was terminated: the server shut down before the build finished");
        assert.equal((await getBuild(h, short, waiting)).status, "queued");
      } finally {
        await h.close();
      }
    });
  });
}

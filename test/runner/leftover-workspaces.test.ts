/**
 * What a runner removes from work/ when it starts: the workspaces a previous process left (killed,
 * or stopped by a second signal before its removals ran), and nothing that is still someone's:
 * a build another live runner sharing the data dir is running keeps its workspace, and a name
 * Kiln did not make is left alone. (The crash test covers the killed server end to end.)
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { setupTrigger, startBuild } from "../helpers/builds.ts";
import { dialects } from "../helpers/databases.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";
import { startHarness } from "../helpers/harness.ts";

for (const dialect of dialects()) {
  describe(`${dialect}: leftover workspaces at start`, () => {
    let repo: TestRepo;
    before(() => {
      repo = makeRepo({ name: "leftover", files: { "README.md": "x\n" } });
    });
    after(() => repo.cleanup());

    it("removes those of stopped and unknown builds and half-removed ones; keeps a live runner's build and what Kiln did not name", async () => {
      const logs: string[] = [];
      const h = await startHarness(dialect, {}, { gitUrlTemplate: repo.template, slots: 1 }, { logs, logLevel: "info" });
      try {
        // Two triggers: a second build of one branch would replace the first while it is queued.
        const running = await startBuild(h, await setupTrigger(h, repo, { build: "echo never" }, "leftover-a"));
        const stopped = await startBuild(h, await setupTrigger(h, repo, { build: "echo never" }, "leftover-b"));
        const now = new Date().toISOString();
        // Held by a runner of another host whose lease lasts: it is still running there.
        const elsewhere = "another-host:1:leftover-test";
        assert.equal(await h.store.builds.claim(running, elsewhere, "9999-12-31T00:00:00.000Z", now), true);
        assert.equal(await h.store.builds.claim(stopped, elsewhere, "9999-12-31T00:00:00.000Z", now), true);
        assert.ok(await h.store.transaction((r) => r.builds.finish(stopped, elsewhere, "success", now)));

        const work = path.join(h.config.dataDir, "work");
        const unknown = "00000000-0000-4000-8000-000000000001";
        const names = [running, stopped, unknown, `${stopped}.removing`, "operator-notes"];
        for (const name of names) {
          fs.mkdirSync(path.join(work, name, "repo"), { recursive: true });
          fs.writeFileSync(path.join(work, name, "repo", "file"), "x");
        }

        await h.kiln.runner?.start();
        assert.deepEqual(fs.readdirSync(work).sort(), [running, "operator-notes"].sort());
        assert.equal(fs.readFileSync(path.join(work, running, "repo", "file"), "utf8"), "x", "the running build's files are untouched");
        const started = logs.map((l) => JSON.parse(l) as { msg: string; workspaces_removed?: number }).find((l) => l.msg === "runner started");
        assert.equal(started?.workspaces_removed, 3);
        assert.equal((await h.store.builds.getByUuid(running))?.status, "initializing", "the other runner's build was not stopped");
      } finally {
        await h.close();
      }
    });
  });
}

/**
 * Builds that really run: real git repositories, the real runner and sandbox, real
 * processes. Each test asserts statuses, outcomes, log lines and, for cancel, by /proc
 * inspection that nothing of the build survives.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { z } from "zod";
import { build as buildSchema } from "../../src/api/schemas/builds.ts";
import { BUILD_TOKEN_GONE } from "../../src/domain/build-types.ts";
import { createPreview } from "../../src/domain/previews.ts";
import { allLogs, buildProcesses, getBuild, setupTrigger, startBuild, waitFor, waitForStatus, type BuildSetup } from "../helpers/builds.ts";
import { dialects } from "../helpers/databases.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";
import { errorCodes, startHarness, type Harness } from "../helpers/harness.ts";

const LONG = process.env.KILN_TEST_LONG === "1";
const texts = (lines: [number, string][]) => lines.map(([, t]) => t);

for (const dialect of dialects()) {
  describe(`${dialect}: builds`, () => {
    let h: Harness;
    let repo: TestRepo;
    let firstCommit: string;

    before(async () => {
      repo = makeRepo({ name: `app-${dialect}`, files: { "package.json": '{"name":"app"}', "README.md": "hello\n" }, message: "First commit\n\nWith a body." });
      firstCommit = repo.head("main") ?? "";
      h = await startHarness(dialect, {}, { runner: true, gitUrlTemplate: repo.template, cancelGrace: 1, slots: 4, buildTimeout: 60 });
    });
    after(async () => {
      await h.close();
      repo.cleanup();
    });

    it("runs a build to success: lifecycle, metadata from git, logs, masked secrets, injected variables", async () => {
      // A host dir the build user may write to (its /tmp is its own, and gone with the build).
      const s = await setupTrigger(h, repo, {
        build: 'echo "building $WORKERS_CI_BRANCH at $WORKERS_CI_COMMIT_SHA"; echo "secret=$MY_SECRET plain=$PLAIN"; test -f README.md',
        deploy: 'echo "deploying with $CLOUDFLARE_API_TOKEN to $CLOUDFLARE_ACCOUNT_ID as $WRANGLER_CI_OVERRIDE_NAME"; echo "ENV64 $(env | sort | base64 -w0)"',
        env: { MY_SECRET: { is_secret: true, value: "hunter2-very-secret" }, PLAIN: { is_secret: false, value: "visible" } },
      }, "success");
      const uuid = await startBuild(h, s);
      const queuedView = await getBuild(h, s, uuid);
      assert.ok(["queued", "initializing", "running", "stopped"].includes(queuedView.status));
      const b = await waitForStatus(h, s, uuid, "stopped");
      buildSchema.parse(b);
      assert.equal(b.build_outcome, "success");
      assert.ok(b.created_on <= b.initializing_on && b.initializing_on <= b.running_on && b.running_on <= b.stopped_on);
      assert.equal(b.build_trigger_metadata.build_trigger_source, "api");
      assert.equal(b.build_trigger_metadata.branch, "main");
      assert.equal(b.build_trigger_metadata.commit_hash, firstCommit);
      assert.match(b.build_trigger_metadata.commit_message, /^First commit/);
      assert.equal(b.build_trigger_metadata.author, "ada@example.com");
      assert.equal(b.build_trigger_metadata.environment_variables.MY_SECRET.value, null);
      assert.equal(b.trigger.trigger_uuid, s.triggerUuid);
      assert.equal(b.trigger.build_token_uuid, undefined, "the build's trigger has no build token fields");

      const { lines } = await allLogs(h, s, uuid);
      const t = texts(lines);
      assert.equal(t[0], "Initializing build environment...");
      for (const expected of [
        "Cloning repository...",
        "Success: Finished initializing build environment",
        `Executing user build command: ${"echo \"building $WORKERS_CI_BRANCH at $WORKERS_CI_COMMIT_SHA\"; echo \"secret=$MY_SECRET plain=$PLAIN\"; test -f README.md"}`,
        `building main at ${firstCommit}`,
        "secret=*** plain=visible",
        "Success: Build command completed",
        `deploying with *** to ${s.accountId} as success`,
        "Success: Deploy command completed",
      ]) {
        assert.ok(t.includes(expected), `missing log line ${JSON.stringify(expected)} in\n${t.join("\n")}`);
      }
      assert.ok(t.some((x) => x.startsWith("Sandbox: ")), "the sandbox mode is logged");
      assert.ok(lines.every(([ts]) => Number.isInteger(ts) && ts > 1_600_000_000_000), "timestamps in milliseconds");
      assert.doesNotMatch(JSON.stringify(lines), /hunter2|cf-secret-/);

      // The build's whole environment, base64 so that masking leaves it whole (the build cannot write to the host).
      const env = Buffer.from(t.find((x) => x.startsWith("ENV64 "))?.slice(6) ?? "", "base64").toString("utf8");
      for (const v of ["CI=true", "WORKERS_CI=1", `WORKERS_CI_BUILD_UUID=${uuid}`, `CLOUDFLARE_ACCOUNT_ID=${s.accountId}`, `WRANGLER_CI_MATCH_TAG=${s.workerTag}`, "MY_SECRET=hunter2-very-secret"]) {
        assert.ok(env.split("\n").includes(v), `missing ${v}`);
      }
      const leaked = env.split("\n").filter((l) => /^(KILN_(?!SANDBOX_ID=)|NODE_OPTIONS|npm_|TSX)/.test(l));
      assert.deepEqual(leaked, [], "nothing of the runner's environment leaks in (only the sandbox marker)");
      assert.deepEqual(buildProcesses(uuid), []);
      assert.equal(fs.existsSync(path.join(h.config.dataDir, "work", uuid)), false, "workspace removed");
    });

    it("a secret shorter than 4 characters is not masked (that would reveal it); the log says so once", async () => {
      const s = await setupTrigger(h, repo, { build: 'echo "Success is near"; echo "long=$LONG_SECRET"', env: { E: { is_secret: true, value: "e" }, LONG_SECRET: { is_secret: true, value: "abcd-1234" } } }, "short-secret");
      const uuid = await startBuild(h, s);
      const b = await waitForStatus(h, s, uuid, "stopped");
      const t = texts((await allLogs(h, s, uuid)).lines);
      assert.equal(b.build_outcome, "success", t.join("\n"));
      assert.ok(t.includes("Success is near"), "no Succ***ss");
      assert.ok(t.includes("long=***"), "a 4+ character secret is masked exactly");
      assert.equal(t.filter((x) => x === "Warning: secret variables shorter than 4 characters are not masked in this log: E").length, 1, t.join("\n"));
    });

    it("stores a line with NUL bytes (as U+FFFD) and every line after it, on either database", async () => {
      const s = await setupTrigger(h, repo, { build: "echo before; printf 'a\\000b\\000\\n'; printf '\\000\\n'; echo after" }, "nul-bytes");
      const uuid = await startBuild(h, s);
      const b = await waitForStatus(h, s, uuid, "stopped");
      const t = texts((await allLogs(h, s, uuid)).lines);
      assert.equal(b.build_outcome, "success", t.join("\n"));
      const at = t.indexOf("before");
      assert.deepEqual(t.slice(at, at + 4), ["before", "a\ufffdb\ufffd", "\ufffd", "after"]);
      assert.equal(t.at(-1), "Success: Build command completed");
    });

    it("fails at the build step, and does not deploy", async () => {
      const s = await setupTrigger(h, repo, { build: "echo before; exit 3", deploy: "echo SHOULD-NOT-RUN" }, "failbuild");
      const uuid = await startBuild(h, s);
      const b = await waitForStatus(h, s, uuid, "stopped");
      assert.equal(b.build_outcome, "fail");
      const t = texts((await allLogs(h, s, uuid)).lines);
      assert.ok(t.includes("Failed: error occurred while running build command"));
      assert.ok(!t.includes("SHOULD-NOT-RUN"));
      assert.ok(!t.some((x) => x.startsWith("Executing user deploy command")));
    });

    it("fails at the deploy step", async () => {
      const s = await setupTrigger(h, repo, { deploy: "false" }, "faildeploy");
      const uuid = await startBuild(h, s);
      const b = await waitForStatus(h, s, uuid, "stopped");
      assert.equal(b.build_outcome, "fail");
      assert.equal(texts((await allLogs(h, s, uuid)).lines).at(-1), "Failed: error occurred while running deploy command");
    });

    it("fails at the clone when the repository is gone", async () => {
      const gone = makeRepo({ name: `gone-${dialect}`, dir: path.dirname(repo.bareDir), files: { "a.txt": "a" } });
      const s = await setupTrigger(h, gone, { deploy: "true" }, "failclone");
      await h.store.accounts.setLimits(s.accountId, { concurrency_limit: 0 });
      const uuid = await startBuild(h, s);
      // Remove the repository and Kiln's mirror of it while the build waits in the queue.
      fs.rmSync(gone.bareDir, { recursive: true, force: true });
      fs.rmSync(path.join(h.config.dataDir, "git"), { recursive: true, force: true });
      await h.store.accounts.setLimits(s.accountId, { concurrency_limit: null });
      h.kiln.signals.queued(uuid);
      const b = await waitForStatus(h, s, uuid, "stopped");
      assert.equal(b.build_outcome, "fail");
      assert.ok(texts((await allLogs(h, s, uuid)).lines).some((x) => x.startsWith("Failed: error occurred while cloning repository")));
    });

    it("fails when its build token was deleted before it started (Cloudflare's log line)", async () => {
      const s = await setupTrigger(h, repo, { deploy: "true" }, "tokengone");
      await h.store.accounts.setLimits(s.accountId, { concurrency_limit: 0 });
      const uuid = await startBuild(h, s);
      await h.store.transaction((r) => r.buildTokens.softDelete(s.accountId, s.buildTokenUuid, new Date().toISOString()));
      await h.store.accounts.setLimits(s.accountId, { concurrency_limit: null });
      h.kiln.signals.queued(uuid);
      const b = await waitForStatus(h, s, uuid, "stopped");
      assert.equal(b.build_outcome, "fail");
      assert.equal(texts((await allLogs(h, s, uuid)).lines).at(-1), BUILD_TOKEN_GONE);
    });

    it("resolves branches and commits through git when the build starts: unknown → the build fails; neither → 400 12002", async () => {
      const s = await setupTrigger(h, repo, { deploy: "true" }, "refs");
      const second = repo.commit({ "b.txt": "b" }, "Second", { branch: "feature" });
      const byCommit = await startBuild(h, s, { commit_hash: second });
      const b = await waitForStatus(h, s, byCommit, "stopped");
      assert.equal(b.build_trigger_metadata.commit_hash, second);
      assert.equal(b.build_trigger_metadata.branch, "feature", "the branch holding the commit");
      const short = await startBuild(h, s, { branch: "feature", commit_hash: second.slice(0, 10) });
      const bs = await waitForStatus(h, s, short, "stopped");
      assert.deepEqual([bs.build_trigger_metadata.branch, bs.build_trigger_metadata.commit_hash], ["feature", second]);
      for (const [body, named] of [[{ branch: "no-such-branch" }, 'branch "no-such-branch"'], [{ commit_hash: "0".repeat(40) }, `commit ${"0".repeat(40)}`]] as const) {
        const uuid = await startBuild(h, s, body);
        const failed = await waitForStatus(h, s, uuid, "stopped");
        assert.equal(failed.build_outcome, "fail", JSON.stringify(body));
        assert.equal(texts((await allLogs(h, s, uuid)).lines).at(-1), `Failed: error occurred while cloning repository: ${named} was not found in the repository acme/${repo.name}`);
      }
      const neither = await h.call("POST", `/client/v4/accounts/${s.accountId}/builds/triggers/${s.triggerUuid}/builds`, { token: s.write, body: {} });
      assert.equal(neither.status, 400);
      assert.deepEqual(errorCodes(neither), [12002]);
    });

    it("cancels a queued build at once", async () => {
      const s = await setupTrigger(h, repo, { deploy: "true" }, "cancelqueued");
      await h.store.accounts.setLimits(s.accountId, { concurrency_limit: 0 });
      const uuid = await startBuild(h, s);
      const r = await h.call("PUT", `/client/v4/accounts/${s.accountId}/builds/builds/${uuid}/cancel`, { token: s.write });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.result.build_outcome, "cancelled");
      assert.equal(r.body.result.build_uuid, uuid);
      const b = await getBuild(h, s, uuid);
      assert.equal(b.status, "stopped");
      assert.equal(b.stopped_on, r.body.result.stopped_on);
      assert.equal(b.initializing_on, null);
      assert.equal(b.running_on, null);
      assert.match(texts((await allLogs(h, s, uuid)).lines).at(-1) ?? "", /^Build was cancelled by token [0-9a-f]{32} \(ci-writer\)$/);
      await h.store.accounts.setLimits(s.accountId, { concurrency_limit: null });
    });

    it("cancels a running build: SIGTERM-ignoring child and double-forked daemon are gone when it answers", async () => {
      const s = await setupTrigger(h, repo, {
        build: [
          "trap '' TERM",
          "(trap '' TERM; sleep 300) &",
          "(setsid sh -c 'sleep 300' &) &",
          "echo tree-started",
          "sleep 300",
        ].join("\n"),
      }, "cancelrunning");
      const uuid = await startBuild(h, s);
      await waitFor("the tree to start", async () => texts((await allLogs(h, s, uuid)).lines).includes("tree-started"));
      await waitFor("the daemon to exist", async () => buildProcesses(uuid).length >= 3);
      const started = Date.now();
      const r = await h.call("PUT", `/client/v4/accounts/${s.accountId}/builds/builds/${uuid}/cancel`, { token: s.write });
      const took = Date.now() - started;
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.result.build_outcome, "cancelled");
      assert.deepEqual(buildProcesses(uuid), [], "nothing of the build survives the answer");
      assert.ok(took >= 900, `the grace period (1 s) was honoured for the SIGTERM-ignoring tree: ${took} ms`);
      const b = await getBuild(h, s, uuid);
      assert.equal(b.status, "stopped");
      assert.equal(b.build_outcome, "cancelled");
      assert.equal(b.stopped_on, r.body.result.stopped_on);
      assert.match(texts((await allLogs(h, s, uuid)).lines).at(-1) ?? "", /^Build was cancelled by token [0-9a-f]{32} \(ci-writer\)$/);

      const twice = await h.call("PUT", `/client/v4/accounts/${s.accountId}/builds/builds/${uuid}/cancel`, { token: s.write });
      assert.equal(twice.status, 200);
      assert.deepEqual(twice.body.result, r.body.result, "cancelling again answers the stored result");
    });

    it("cancels a build caught while initializing (fetching the commit)", async () => {
      const s = await setupTrigger(h, repo, { build: "echo SHOULD-NOT-RUN" }, "cancelinit");
      let caught = false;
      for (let attempt = 0; attempt < 20 && !caught; attempt++) {
        const uuid = await startBuild(h, s);
        const seen = await waitFor("initializing or later", async () => {
          const b = await h.store.builds.getByUuid(uuid);
          return b && b.status !== "queued" ? b.status : undefined;
        }, 10_000);
        const r = await h.call("PUT", `/client/v4/accounts/${s.accountId}/builds/builds/${uuid}/cancel`, { token: s.write });
        if (seen !== "initializing" || r.status !== 200) {
          await waitForStatus(h, s, uuid, "stopped");
          continue;
        }
        caught = true;
        const b = await getBuild(h, s, uuid);
        assert.equal(b.status, "stopped");
        assert.equal(b.build_outcome, "cancelled");
        const t = texts((await allLogs(h, s, uuid)).lines);
        assert.ok(!t.includes("SHOULD-NOT-RUN"));
        assert.match(t.at(-1) ?? "", /^Build was cancelled by token /);
        assert.deepEqual(buildProcesses(uuid), []);
      }
      assert.ok(caught, "a build was caught in initializing at least once in 20 tries");
    });

    it("cancel: finished build → 409 12009; unknown, malformed, foreign → 404 12000; Read → 403; no auth → 400 9106", async () => {
      const s = await setupTrigger(h, repo, { deploy: "true" }, "cancelerrors");
      const uuid = await startBuild(h, s);
      await waitForStatus(h, s, uuid, "stopped");
      const url = (id: string) => `/client/v4/accounts/${s.accountId}/builds/builds/${id}/cancel`;
      const finished = await h.call("PUT", url(uuid), { token: s.write });
      assert.equal(finished.status, 409);
      assert.deepEqual(finished.body.errors, [{ code: 12009, message: "Build has already stopped" }]);
      for (const id of ["00000000-0000-4000-8000-000000000000", "not-a-uuid"]) {
        const r = await h.call("PUT", url(id), { token: s.write });
        assert.equal(r.status, 404);
        assert.deepEqual(r.body.errors, [{ code: 12000, message: "Not found" }]);
      }
      const other = await setupTrigger(h, repo, { deploy: "true" }, "cancelother");
      const foreign = await h.call("PUT", url(uuid), { token: other.write });
      assert.equal(foreign.status, 403, "a token for another account is refused on this account");
      const foreignUnderOwn = await h.call("PUT", `/client/v4/accounts/${other.accountId}/builds/builds/${uuid}/cancel`, { token: other.write });
      assert.equal(foreignUnderOwn.status, 404, "another account's build is indistinguishable from a missing one");
      assert.deepEqual(errorCodes(foreignUnderOwn), [12000]);
      const ro = await h.call("PUT", url(uuid), { token: s.read });
      assert.equal(ro.status, 403);
      assert.deepEqual(errorCodes(ro), [10000]);
      const none = await h.call("PUT", url(uuid));
      assert.equal(none.status, 400);
      assert.deepEqual(errorCodes(none), [9106]);
      const user = await h.user(`dev-${dialect}@example.com`, [s.accountId]);
      const viaKey = await h.call("PUT", url(uuid), { headers: { "x-auth-email": user.email, "x-auth-key": user.api_key } });
      assert.equal(viaKey.status, 409, "X-Auth-Email/X-Auth-Key reach the cancel logic too");
    });

    it("cancel racing a build that finishes on its own: exactly one final outcome", async () => {
      const s = await setupTrigger(h, repo, { build: "sleep 0.2" }, "race");
      const rounds = LONG ? 40 : 4;
      for (let i = 0; i < rounds; i++) {
        const uuid = await startBuild(h, s);
        await waitForStatus(h, s, uuid, "running").catch(() => undefined);
        await new Promise((r) => setTimeout(r, 150 + (i % 5) * 20));
        const r = await h.call("PUT", `/client/v4/accounts/${s.accountId}/builds/builds/${uuid}/cancel`, { token: s.write });
        const b = await waitForStatus(h, s, uuid, "stopped");
        if (r.status === 200) assert.equal(b.build_outcome, "cancelled");
        else {
          assert.equal(r.status, 409, JSON.stringify(r.body));
          assert.equal(b.build_outcome, "success");
        }
        assert.equal((await getBuild(h, s, uuid)).build_outcome, b.build_outcome, "the outcome never changes after stopped_on");
        assert.deepEqual(buildProcesses(uuid), []);
      }
    });

    it("pages a long log with the cursor, masking a secret split across writes", async () => {
      const n = 2500;
      const s = await setupTrigger(h, repo, {
        build: `i=0; while [ $i -lt ${n} ]; do echo "line $i"; i=$((i+1)); done; printf 'tok=split-'; sleep 0.05; printf 'secret-value\\n'`,
        env: { SPLIT: { is_secret: true, value: "split-secret-value" } },
      }, "paging");
      const uuid = await startBuild(h, s);
      await waitForStatus(h, s, uuid, "stopped");
      const first = await h.call("GET", `/client/v4/accounts/${s.accountId}/builds/builds/${uuid}/logs`, { token: s.read });
      assert.equal(first.body.result.lines.length, 1000);
      assert.equal(first.body.result.truncated, true);
      const decoded = JSON.parse(Buffer.from(first.body.result.cursor, "base64url").toString());
      assert.equal(decoded.line, 1000);
      const { lines, pages } = await allLogs(h, s, uuid);
      assert.ok(pages >= 3);
      const t = texts(lines);
      for (let i = 0; i < n; i += 499) assert.ok(t.includes(`line ${i}`), `line ${i}`);
      assert.ok(t.includes("tok=***"), t.slice(-6).join("\n"));
      assert.doesNotMatch(JSON.stringify(lines), /split-secret-value/);
      const last = await h.call("GET", `/client/v4/accounts/${s.accountId}/builds/builds/${uuid}/logs?cursor=${encodeURIComponent(first.body.result.cursor)}`, { token: s.read });
      assert.equal(last.body.result.lines[0][1], t[1000]);
      const bad = await h.call("GET", `/client/v4/accounts/${s.accountId}/builds/builds/${uuid}/logs?cursor=!!`, { token: s.read });
      assert.equal(bad.status, 400);
      assert.deepEqual(bad.body.errors, [{ code: 12013, message: "Invalid query parameter: cursor: malformed cursor" }]);
    });

    it("lists builds by Worker newest first, the latest per Worker, and by version id", async () => {
      const s = await setupTrigger(h, repo, { deploy: "true" }, "lists");
      const a = await startBuild(h, s);
      await waitForStatus(h, s, a, "stopped");
      const b = await startBuild(h, s);
      await waitForStatus(h, s, b, "stopped");
      const list = await h.call("GET", `/client/v4/accounts/${s.accountId}/builds/workers/${s.workerTag}/builds?per_page=1`, { token: s.read });
      assert.equal(list.status, 200);
      z.array(buildSchema).parse(list.body.result);
      assert.deepEqual(list.body.result.map((x: { build_uuid: string }) => x.build_uuid), [b]);
      assert.deepEqual(list.body.result_info, { page: 1, per_page: 1, count: 1, total_count: 2, total_pages: 2, next_page: true });
      const latest = await h.call("GET", `/client/v4/accounts/${s.accountId}/builds/builds/latest?external_script_ids=${s.workerTag},${"0".repeat(32)}`, { token: s.read });
      assert.equal(latest.status, 200);
      assert.deepEqual(Object.keys(latest.body.result.builds), [s.workerTag]);
      assert.equal(latest.body.result.builds[s.workerTag].build_uuid, b);
      const tooMany = Array.from({ length: 21 }, (_, i) => `t${i}`).join(",");
      const over = await h.call("GET", `/client/v4/accounts/${s.accountId}/builds/builds/latest?external_script_ids=${tooMany}`, { token: s.read });
      assert.equal(over.status, 400);
      assert.deepEqual(over.body.errors, [{ code: 12013, message: "Invalid query parameter: external_script_ids: at most 20 values" }]);
      const missing = await h.call("GET", `/client/v4/accounts/${s.accountId}/builds/builds/latest`, { token: s.read });
      assert.equal(missing.status, 400);
      assert.deepEqual(missing.body.errors, [{ code: 12013, message: "Invalid query parameter: external_script_ids: required" }]);
      const versions = await h.call("GET", `/client/v4/accounts/${s.accountId}/builds/builds?version_ids=11111111-2222-4333-8444-555555555555`, { token: s.read });
      assert.equal(versions.status, 200);
      assert.deepEqual(versions.body.result, { builds: {} });
      const unknownWorker = await h.call("GET", `/client/v4/accounts/${s.accountId}/builds/workers/${"0".repeat(32)}/builds`, { token: s.read });
      assert.equal(unknownWorker.status, 404);
    });

    it("runs at most the account's concurrency at once; the next starts when one stops", async () => {
      const s = await setupTrigger(h, repo, { build: "sleep 0.4" }, "concurrency");
      await h.store.accounts.setLimits(s.accountId, { concurrency_limit: 1 });
      const first = await startBuild(h, s);
      const second = await startBuild(h, s);
      await waitForStatus(h, s, first, "running");
      assert.equal((await getBuild(h, s, second)).status, "queued", "the second waits for the first");
      const a = await waitForStatus(h, s, first, "stopped");
      const b = await waitForStatus(h, s, second, "stopped");
      assert.ok(b.initializing_on >= a.stopped_on, "it started once the first had stopped");
      await h.store.accounts.setLimits(s.accountId, { concurrency_limit: null });
    });

    it("fails at start when the account is over its build-minute quota, with a clear line", async () => {
      const s = await setupTrigger(h, repo, { deploy: "echo SHOULD-NOT-RUN" }, "quota");
      await h.store.accounts.setLimits(s.accountId, { build_minutes_limit: 0 });
      const uuid = await startBuild(h, s);
      const b = await waitForStatus(h, s, uuid, "stopped");
      assert.equal(b.build_outcome, "fail");
      const t = texts((await allLogs(h, s, uuid)).lines);
      assert.match(t.at(-1) ?? "", /^Failed: the account has used its 0 build minutes for this month; builds can run again from \d{4}-\d{2}-01T00:00:00\.000Z$/);
      assert.ok(!t.includes("SHOULD-NOT-RUN"));
      const limits = await h.call("GET", `/client/v4/accounts/${s.accountId}/builds/account/limits`, { token: s.read });
      assert.equal(limits.body.result.has_reached_build_minutes_limit, true);
    });

    it("#32 builds a Preview with its own settings and variables; #31 lists its builds", async () => {
      const s = await setupTrigger(h, repo, { deploy: "echo production" }, "previewbuild");
      const prod = (await h.store.triggers.listByWorker(s.accountId, s.workerTag))[0];
      assert.ok(prod);
      const patch = await h.call("PATCH", `/client/v4/accounts/${s.accountId}/builds/workers/${s.workerTag}`, {
        token: s.write,
        body: { previews_enabled: true, previews_base_config: { deploy_command: 'echo "preview of $WORKERS_CI_BRANCH with $ONLY_PREVIEW"', environment_variables: { ONLY_PREVIEW: { is_secret: false, value: "pv" } } } },
      });
      assert.equal(patch.status, 200, JSON.stringify(patch.body));
      repo.commit({ "feature.txt": "f" }, "Feature work", { branch: "feature-x" });
      const preview = await h.store.transaction((r) => createPreview(r, s.accountId, s.workerTag, "feature-x"));
      const base = `/client/v4/accounts/${s.accountId}/builds/workers/${s.workerTag}/previews/${preview.preview_id}/builds`;
      const started = await h.call("POST", base, { token: s.write });
      assert.equal(started.status, 200, JSON.stringify(started.body));
      const uuid = started.body.result.build_uuid;
      const b = await waitForStatus(h, s, uuid, "stopped");
      assert.equal(b.build_outcome, "success");
      assert.equal(b.build_trigger_metadata.branch, "feature-x");
      assert.ok(texts((await allLogs(h, s, uuid)).lines).includes("preview of feature-x with pv"));
      const listed = await h.call("GET", base, { token: s.read });
      assert.equal(listed.status, 200);
      assert.deepEqual(listed.body.result.map((x: { build_uuid: string }) => x.build_uuid), [uuid]);
      const missing = await h.call("POST", `/client/v4/accounts/${s.accountId}/builds/workers/${s.workerTag}/previews/${"0".repeat(32)}/builds`, { token: s.write });
      assert.equal(missing.status, 404);
    });

    it("deleting the trigger cancels its unfinished builds", async () => {
      const s = await setupTrigger(h, repo, { build: "echo started; sleep 300" }, "deltrigger");
      const running = await startBuild(h, s);
      await waitFor("the build to print", async () => texts((await allLogs(h, s, running)).lines).includes("started"));
      const del = await h.call("DELETE", `/client/v4/accounts/${s.accountId}/builds/triggers/${s.triggerUuid}`, { token: s.write });
      assert.equal(del.status, 200);
      const b = await getBuild(h, s, running);
      assert.equal(b.status, "stopped", "the delete answers once its builds are stopped");
      assert.equal(b.build_outcome, "cancelled");
      assert.deepEqual(buildProcesses(running), []);
    });
  });
}

describe("sqlite: build timeout", () => {
  let h: Harness;
  let repo: TestRepo;
  let s: BuildSetup;
  before(async () => {
    repo = makeRepo({ name: "timeout", files: { "a.txt": "a" } });
    h = await startHarness("sqlite", {}, { runner: true, gitUrlTemplate: repo.template, cancelGrace: 0.2, buildTimeout: 1.5 });
    s = await setupTrigger(h, repo, { build: "(sleep 300 &) ; echo waiting; sleep 300" }, "timeout");
  });
  after(async () => {
    await h.close();
    repo.cleanup();
  });

  it("a build over --build-timeout is terminated, last line 'Build was timed out', tree gone", async () => {
    const uuid = await startBuild(h, s);
    const b = await waitForStatus(h, s, uuid, "stopped", 20_000);
    assert.equal(b.build_outcome, "terminated");
    assert.equal(texts((await allLogs(h, s, uuid)).lines).at(-1), "Build was timed out");
    assert.deepEqual(buildProcesses(uuid), []);
  });
});

/**
 * Fidelity gaps real clients found: each answer checked to its status, code,
 * message and fields — branch excludes that exclude everything, `events` in the logs answer,
 * 12013 for query parameters and 10503 for an unconfirmed cancel, the workers.dev subdomain,
 * one `build_caching_enabled` default on every create path.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { localSignals } from "../../src/domain/build-events.ts";
import { cancelBuild } from "../../src/domain/cancel.ts";
import { createPreview } from "../../src/domain/previews.ts";
import { subdomainFromName } from "../../src/domain/workers-subdomain.ts";
import { KilnError } from "../../src/errors.ts";
import { dialects } from "../helpers/databases.ts";
import { seed, seedBuildToken, storedBuild, triggerBody } from "../helpers/fixtures.ts";
import { startHarness, type Harness } from "../helpers/harness.ts";

const EXCLUDES_ALL = { code: 12002, message: 'Invalid request body: branch_excludes: must not exclude every branch ("*")' };

for (const dialect of dialects()) {
  describe(`${dialect}: fidelity gaps`, () => {
    let h: Harness;
    let account: string;
    let write: string;
    let read: string;
    const base = () => `/client/v4/accounts/${account}`;

    before(async () => {
      h = await startHarness(dialect);
      account = (await h.account("My Team's Café")).id;
      write = (await h.token([account], ["Workers CI Write"])).value;
      read = (await h.token([account], ["Workers CI Read"])).value;
    });
    after(() => h.close());

    describe("branch_excludes that exclude every branch", () => {
      for (const excludes of [["*"], ["main", "**"], ["***"]]) {
        it(`#13 with ${JSON.stringify(excludes)} → 400 12002 naming the field, nothing created`, async () => {
          const s = await seed(h, account, `excl-${excludes.length}-${excludes.at(-1)?.length}`);
          const r = await h.call("POST", `${base()}/builds/triggers`, { token: write, body: triggerBody(s, { branch_excludes: excludes }) });
          assert.equal(r.status, 400);
          assert.deepEqual(r.body, { success: false, errors: [EXCLUDES_ALL], messages: [], result: null });
          assert.deepEqual((await h.call("GET", `${base()}/builds/workers/${s.worker.tag}/triggers`, { token: read })).body.result, []);
        });
      }

      it("#14 with [\"*\"] → 400 12002, the trigger unchanged; patterns with a `*` and more stay accepted", async () => {
        const s = await seed(h, account, "excl-patch");
        const created = await h.call("POST", `${base()}/builds/triggers`, { token: write, body: triggerBody(s, { branch_includes: ["*"], branch_excludes: ["main"] }) });
        assert.equal(created.status, 200, JSON.stringify(created.body));
        const url = `${base()}/builds/triggers/${created.body.result.trigger_uuid}`;
        const refused = await h.call("PATCH", url, { token: write, body: { branch_excludes: ["*"] } });
        assert.equal(refused.status, 400);
        assert.deepEqual(refused.body.errors, [EXCLUDES_ALL]);
        const [after] = (await h.call("GET", `${base()}/builds/workers/${s.worker.tag}/triggers`, { token: read })).body.result;
        assert.deepEqual(after.branch_excludes, ["main"]);
        const fine = await h.call("PATCH", url, { token: write, body: { branch_excludes: ["release/*", "*-wip"] } });
        assert.equal(fine.status, 200, JSON.stringify(fine.body));
        assert.deepEqual(fine.body.result.branch_excludes, ["release/*", "*-wip"]);
        // Including every branch is the documented preview-trigger setup, not an error.
        assert.deepEqual(fine.body.result.branch_includes, ["*"]);
      });
    });

    it("the logs answer is {cursor, truncated, lines, events} with events []", async () => {
      const s = await seed(h, account, "logs-events");
      const t = await h.call("POST", `${base()}/builds/triggers`, { token: write, body: triggerBody(s) });
      const b = storedBuild(s, account, t.body.result.trigger_uuid, { outcome: "success", createdOn: new Date().toISOString() });
      await h.store.transaction(async (r) => {
        await r.builds.insert(b);
        await r.builds.appendLogs(b.build_uuid, 0, [[1_700_000_000_000, "hello"]]);
      });
      const r = await h.call("GET", `${base()}/builds/builds/${b.build_uuid}/logs`, { token: read });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(Object.keys(r.body.result).sort(), ["cursor", "events", "lines", "truncated"]);
      assert.deepEqual(r.body.result.events, []);
      assert.deepEqual(r.body.result.lines, [[1_700_000_000_000, "hello"]]);
      assert.equal(r.body.result.truncated, false);
      assert.equal(typeof r.body.result.cursor, "string");
    });

    describe("query parameters: 400 12013 naming the parameter", () => {
      it("listBuildsByScript per_page, page and outcome", async () => {
        const s = await seed(h, account, "query-errors");
        const list = (q: string) => h.call("GET", `${base()}/builds/workers/${s.worker.tag}/builds?${q}`, { token: read });
        for (const [q, message] of [
          ["per_page=0", "Invalid query parameter: per_page: must be an integer from 1 to 200"],
          ["page=x", "Invalid query parameter: page: must be an integer ≥ 1"],
          ["outcome=great", "Invalid query parameter: outcome: must be success, fail, skipped, cancelled, terminated or none"],
        ] as const) {
          const r = await list(q);
          assert.equal(r.status, 400, q);
          assert.deepEqual(r.body, { success: false, errors: [{ code: 12013, message }], messages: [], result: null }, q);
        }
      });

      it("#2 without version_ids, #9 without branch", async () => {
        const versions = await h.call("GET", `${base()}/builds/builds`, { token: read });
        assert.equal(versions.status, 400);
        assert.deepEqual(versions.body.errors, [{ code: 12013, message: "Invalid query parameter: version_ids: required" }]);
        const autofill = await h.call("GET", `${base()}/builds/repos/github/1/2/config_autofill`, { token: read });
        assert.equal(autofill.status, 400);
        assert.deepEqual(autofill.body.errors, [{ code: 12013, message: "Invalid query parameter: branch: required" }]);
      });
    });

    it("a cancel the owning runner does not confirm in time → 503 10503 Cancel not confirmed yet", async () => {
      const s = await seed(h, account, "unconfirmed");
      const t = await h.call("POST", `${base()}/builds/triggers`, { token: write, body: triggerBody(s) });
      // Running, but no runner here will ever stop it.
      const b = storedBuild(s, account, t.body.result.trigger_uuid, { status: "running", createdOn: new Date().toISOString() });
      await h.store.transaction((r) => r.builds.insert(b));
      await assert.rejects(
        cancelBuild(h.store, localSignals(), account, b.build_uuid, undefined, { confirmWithinMs: 50 }),
        (e: unknown) => e instanceof KilnError && e.status === 503 && JSON.stringify(e.errors) === JSON.stringify([{ code: 10503, message: "Cancel not confirmed yet" }]),
      );
    });

    describe("GET /accounts/{id}/workers/subdomain", () => {
      it("answers {subdomain}: the account's name as a DNS label by default; Read is enough", async () => {
        const r = await h.call("GET", `${base()}/workers/subdomain`, { token: read });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.deepEqual(r.body, { success: true, errors: [], messages: [], result: { subdomain: "my-team-s-cafe" } });
        assert.equal((await h.call("GET", `${base()}/workers/subdomain`, { token: write })).status, 200);
      });

      it("another account's token → 403 10000; no credentials → 400 9106", async () => {
        const other = (await h.account("other")).id;
        const theirs = (await h.token([other], ["Workers CI Read"])).value;
        const denied = await h.call("GET", `${base()}/workers/subdomain`, { token: theirs });
        assert.equal(denied.status, 403);
        assert.deepEqual(denied.body.errors, [{ code: 10000, message: "Authentication error" }]);
        const none = await h.call("GET", `${base()}/workers/subdomain`);
        assert.equal(none.status, 400);
        assert.deepEqual(none.body.errors.map((e: { code: number }) => e.code), [9106]);
      });

      it("names made into DNS labels; nothing left → the account id", () => {
        assert.equal(subdomainFromName("acme", "a".repeat(32)), "acme");
        assert.equal(subdomainFromName("  Über--Team_42!  ", "a".repeat(32)), "uber-team-42");
        assert.equal(subdomainFromName("日本", "ABCDEF0123456789ABCDEF0123456789"), "abcdef0123456789abcdef0123456789");
        const long = subdomainFromName(`${"x".repeat(62)} y`, "a".repeat(32));
        assert.equal(long, "x".repeat(62), "at most 63 characters, never ending in -");
      });
    });

    describe("build_caching_enabled left out: true on every create path", () => {
      it("#13 trigger, #23 production settings and previews base config, and a Preview made from it", async () => {
        const s = await seed(h, account, "caching-trigger");
        const t = await h.call("POST", `${base()}/builds/triggers`, { token: write, body: triggerBody(s) });
        assert.equal(t.status, 200, JSON.stringify(t.body));
        assert.equal(t.body.result.build_caching_enabled, true);

        const worker = await h.worker(account, "caching-config");
        const { token: bt } = await seedBuildToken(h, account, "caching-secret");
        const settings = { build_command: "", deploy_command: "npx wrangler deploy", build_token_uuid: bt.build_token_uuid };
        const created = await h.call("POST", `${base()}/builds/workers`, {
          token: write,
          body: {
            script_tag: worker.tag,
            git_repository: { provider_type: "github", provider_account_id: "1", provider_account_name: "acme", repo_id: "caching", repo_name: "caching", branch: "main" },
            production_settings: settings,
            previews_enabled: true,
            previews_base_config: { ...settings, deploy_command: "npx wrangler preview" },
          },
        });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        assert.equal(created.body.result.production_settings.build_caching_enabled, true);
        assert.equal(created.body.result.previews_base_config.build_caching_enabled, true);
        const preview = await h.store.transaction((r) => createPreview(r, account, worker.tag, "feature-x"));
        const got = await h.call("GET", `${base()}/builds/workers/${worker.tag}/previews/${preview.preview_id}`, { token: read });
        assert.equal(got.body.result.settings.build_caching_enabled, true);
      });
    });
  });
}

describe("--workers-subdomain", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness("sqlite", {}, { workersSubdomain: "kiln-builds" });
  });
  after(() => h.close());

  it("answers the configured subdomain for every account", async () => {
    for (const name of ["first", "second"]) {
      const id = (await h.account(name)).id;
      const token = (await h.token([id], ["Workers CI Read"])).value;
      const r = await h.call("GET", `/client/v4/accounts/${id}/workers/subdomain`, { token });
      assert.deepEqual(r.body.result, { subdomain: "kiln-builds" });
    }
  });

  it("refuses a value that is not a DNS label, naming the flag and the variable", async () => {
    const { loadConfig, ConfigError } = await import("../../src/config.ts");
    for (const bad of ["-x", "Has.Dots", "x".repeat(64), "under_score"]) {
      assert.throws(
        () => loadConfig({ workersSubdomain: bad }, {}),
        (e: unknown) => e instanceof ConfigError && e.message === "invalid --workers-subdomain (or KILN_WORKERS_SUBDOMAIN): must be a DNS label: 1-63 of a-z, 0-9 and -, not starting or ending with -",
        bad,
      );
    }
    assert.equal(loadConfig({}, { KILN_WORKERS_SUBDOMAIN: "from-env" }).workersSubdomain, "from-env");
  });
});

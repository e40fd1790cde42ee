import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { dialects } from "../helpers/databases.ts";
import { seed, seedBuildToken, triggerBody, type Seeded } from "../helpers/fixtures.ts";
import { errorCodes, startHarness, type Harness } from "../helpers/harness.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

for (const dialect of dialects()) {
  describe(`${dialect}: triggers`, () => {
    let h: Harness;
    let account: string;
    let other: string;
    let write: string;
    let read: string;
    let otherWrite: string;
    const base = () => `/client/v4/accounts/${account}/builds`;

    before(async () => {
      h = await startHarness(dialect);
      account = (await h.account("a")).id;
      other = (await h.account("b")).id;
      write = (await h.token([account], ["Workers CI Write"])).value;
      read = (await h.token([account], ["Workers CI Read"])).value;
      otherWrite = (await h.token([other], ["Workers CI Write"])).value;
    });
    after(() => h.close());

    it("create → list → update → purge → delete round-trip, in Cloudflare's shape", async () => {
      const s = await seed(h, account, "round-trip");
      const created = await h.call("POST", `${base()}/triggers`, { token: write, body: { ...triggerBody(s), unknown_field: 1 } });
      assert.equal(created.status, 200, JSON.stringify(created.body));
      const t = created.body.result;
      assert.match(t.trigger_uuid, UUID);
      assert.deepEqual(
        { ...t, trigger_uuid: "x", created_on: "x", modified_on: "x" },
        {
          trigger_uuid: "x",
          trigger_name: "Deploy main",
          external_script_id: s.worker.tag,
          repo_connection: {
            repo_connection_uuid: s.connection.repo_connection_uuid,
            provider_type: "github",
            provider_account_id: "315958746",
            provider_account_name: "acme",
            repo_id: s.connection.repo_id,
            repo_name: "app",
            created_on: s.connection.created_on,
            modified_on: s.connection.modified_on,
            deleted_on: null,
          },
          branch_includes: ["main"],
          branch_excludes: [],
          path_includes: ["*"],
          path_excludes: [],
          build_command: "npm run build",
          deploy_command: "npx wrangler deploy",
          root_directory: "/",
          // Left out of the body: the same default as #23's (docs/compatibility.md).
          build_caching_enabled: true,
          build_token_uuid: s.buildToken.build_token_uuid,
          build_token_name: "deploy token",
          created_on: "x",
          modified_on: "x",
          deleted_on: null,
        },
      );

      const listed = await h.call("GET", `${base()}/workers/${s.worker.tag}/triggers`, { token: read });
      assert.equal(listed.status, 200);
      assert.deepEqual(listed.body.result, [t]);

      const patched = await h.call("PATCH", `${base()}/triggers/${t.trigger_uuid}`, {
        token: write,
        body: { branch_includes: ["preview/*", "*"], build_command: "", build_caching_enabled: false, root_directory: "/apps/web" },
      });
      assert.equal(patched.status, 200);
      assert.deepEqual(patched.body.result.branch_includes, ["preview/*", "*"]);
      assert.equal(patched.body.result.build_command, "");
      assert.equal(patched.body.result.build_caching_enabled, false);
      assert.equal(patched.body.result.root_directory, "/apps/web");
      assert.equal(patched.body.result.deploy_command, "npx wrangler deploy", "untouched fields stay");

      const purge = await h.call("POST", `${base()}/triggers/${t.trigger_uuid}/purge_build_cache`, { token: write });
      assert.equal(purge.status, 200);
      assert.deepEqual(purge.body, { success: true, errors: [], messages: [], result: null });
      assert.equal((await h.store.triggers.get(account, t.trigger_uuid))?.cache_generation, 1);

      const deleted = await h.call("DELETE", `${base()}/triggers/${t.trigger_uuid}`, { token: write });
      assert.equal(deleted.status, 200);
      assert.equal(deleted.body.result, null);
      const afterDelete = await h.call("GET", `${base()}/workers/${s.worker.tag}/triggers`, { token: read });
      assert.equal(afterDelete.body.result.length, 1, "soft-deleted triggers stay listed");
      assert.equal(typeof afterDelete.body.result[0].deleted_on, "string");
      for (const [method, url] of [
        ["DELETE", `${base()}/triggers/${t.trigger_uuid}`],
        ["PATCH", `${base()}/triggers/${t.trigger_uuid}`],
        ["POST", `${base()}/triggers/${t.trigger_uuid}/purge_build_cache`],
      ] as const) {
        const r = await h.call(method, url, { token: write, body: { trigger_name: "x" } });
        assert.equal(r.status, 404, `${method} ${url}`);
        assert.deepEqual(r.body.errors, [{ code: 12000, message: "Not found" }]);
      }
    });

    it("roles: production, then preview, then 409 12011; a deleted trigger frees its slot", async () => {
      const s = await seed(h, account, "roles");
      const first = await h.call("POST", `${base()}/triggers`, { token: write, body: triggerBody(s) });
      const second = await h.call("POST", `${base()}/triggers`, { token: write, body: triggerBody(s, { trigger_name: "previews", branch_includes: ["*"], branch_excludes: ["main"] }) });
      assert.equal(first.status, 200);
      assert.equal(second.status, 200);
      assert.equal((await h.store.triggers.get(account, first.body.result.trigger_uuid))?.role, "production");
      assert.equal((await h.store.triggers.get(account, second.body.result.trigger_uuid))?.role, "preview");
      const third = await h.call("POST", `${base()}/triggers`, { token: write, body: triggerBody(s) });
      assert.equal(third.status, 409);
      assert.deepEqual(third.body.errors, [{ code: 12011, message: "Trigger limit reached" }]);
      await h.call("DELETE", `${base()}/triggers/${second.body.result.trigger_uuid}`, { token: write });
      const again = await h.call("POST", `${base()}/triggers`, { token: write, body: triggerBody(s) });
      assert.equal(again.status, 200);
    });

    it("never rejects a * pattern, in branches or paths", async () => {
      const s = await seed(h, account, "patterns");
      const r = await h.call("POST", `${base()}/triggers`, {
        token: write,
        body: triggerBody(s, { branch_includes: ["*", "release/*", "*-hotfix", "a*b*c"], path_includes: ["src/**", "*"], path_excludes: ["*.md", "docs/*"] }),
      });
      assert.equal(r.status, 200);
      assert.deepEqual(r.body.result.branch_includes, ["*", "release/*", "*-hotfix", "a*b*c"]);
    });

    const required = ["external_script_id", "trigger_name", "repo_connection_uuid", "build_token_uuid", "build_command", "deploy_command", "root_directory", "branch_includes", "branch_excludes", "path_includes", "path_excludes"];
    for (const field of required) {
      it(`missing ${field} → 400 12002 naming it, nothing created`, async () => {
        const s = await seed(h, account, `missing-${field.replace(/_/g, "-")}`);
        const body = triggerBody(s);
        delete body[field];
        const r = await h.call("POST", `${base()}/triggers`, { token: write, body });
        assert.equal(r.status, 400);
        assert.deepEqual(r.body.errors, [{ code: 12002, message: `Invalid request body: ${field}: required` }]);
        assert.equal((await h.store.triggers.listByWorker(account, s.worker.tag)).length, 0);
      });
    }

    it("wrong types, over-long strings and malformed UUIDs → 400 12002 naming the field", async () => {
      const s = await seed(h, account, "bad-types");
      const cases: [Record<string, unknown>, string][] = [
        [{ branch_includes: "main" }, "branch_includes"],
        [{ branch_includes: [1] }, "branch_includes.0"],
        [{ build_caching_enabled: "yes" }, "build_caching_enabled"],
        [{ build_command: "x".repeat(513) }, "build_command"],
        [{ trigger_name: "" }, "trigger_name"],
        [{ repo_connection_uuid: "not-a-uuid" }, "repo_connection_uuid"],
        [{ build_token_uuid: 5 }, "build_token_uuid"],
      ];
      for (const [override, field] of cases) {
        const r = await h.call("POST", `${base()}/triggers`, { token: write, body: triggerBody(s, override) });
        assert.equal(r.status, 400, JSON.stringify(override));
        assert.deepEqual(errorCodes(r), [12002]);
        assert.ok(r.body.errors[0].message.startsWith(`Invalid request body: ${field}: `), r.body.errors[0].message);
      }
      assert.equal((await h.store.triggers.listByWorker(account, s.worker.tag)).length, 0);
    });

    it("references must exist in the same account; a deleted build token is refused", async () => {
      const s = await seed(h, account, "refs");
      const foreign = await seed(h, other, "foreign");
      const cases: [Record<string, unknown>, string][] = [
        [{ external_script_id: foreign.worker.tag }, "external_script_id"],
        [{ external_script_id: "f".repeat(32) }, "external_script_id"],
        [{ repo_connection_uuid: foreign.connection.repo_connection_uuid }, "repo_connection_uuid"],
        [{ build_token_uuid: foreign.buildToken.build_token_uuid }, "build_token_uuid"],
      ];
      for (const [override, field] of cases) {
        const r = await h.call("POST", `${base()}/triggers`, { token: write, body: triggerBody(s, override) });
        assert.equal(r.status, 400, JSON.stringify(override));
        assert.ok(r.body.errors[0].message.startsWith(`Invalid request body: ${field}: `), r.body.errors[0].message);
      }
      const { token: gone } = await seedBuildToken(h, account);
      await h.store.transaction((r) => r.buildTokens.softDelete(account, gone.build_token_uuid, new Date().toISOString()));
      const r = await h.call("POST", `${base()}/triggers`, { token: write, body: triggerBody(s, { build_token_uuid: gone.build_token_uuid }) });
      assert.equal(r.status, 400);
      assert.equal(r.body.errors[0].message, "Invalid request body: build_token_uuid: no build token with this id in the account (deleted?)");
      const created = await h.call("POST", `${base()}/triggers`, { token: write, body: triggerBody(s) });
      const patch = await h.call("PATCH", `${base()}/triggers/${created.body.result.trigger_uuid}`, { token: write, body: { build_token_uuid: gone.build_token_uuid, trigger_name: "renamed" } });
      assert.equal(patch.status, 400);
      assert.equal((await h.store.triggers.get(account, created.body.result.trigger_uuid))?.trigger_name, "Deploy main", "a rejected PATCH changes nothing");
    });

    it("another account's trigger is 404 12000, like a missing one; malformed ids too", async () => {
      const foreign = await seed(h, other, "theirs");
      const theirs = await h.call("POST", `/client/v4/accounts/${other}/builds/triggers`, { token: otherWrite, body: triggerBody(foreign) });
      assert.equal(theirs.status, 200);
      const id = theirs.body.result.trigger_uuid;
      for (const url of [`${base()}/triggers/${id}`, `${base()}/triggers/not-a-uuid`, `${base()}/triggers/00000000-0000-4000-8000-000000000000`]) {
        const r = await h.call("PATCH", url, { token: write, body: { trigger_name: "mine" } });
        assert.equal(r.status, 404, url);
        assert.deepEqual(r.body.errors, [{ code: 12000, message: "Not found" }]);
      }
      const list = await h.call("GET", `${base()}/workers/${foreign.worker.tag}/triggers`, { token: read });
      assert.equal(list.status, 404);
      assert.equal((await h.store.triggers.get(other, id))?.trigger_name, "Deploy main");
    });

    it("a Read token cannot write (403 10000) but can list", async () => {
      const s = await seed(h, account, "readonly");
      const r = await h.call("POST", `${base()}/triggers`, { token: read, body: triggerBody(s) });
      assert.equal(r.status, 403);
      assert.deepEqual(errorCodes(r), [10000]);
      assert.equal((await h.call("GET", `${base()}/workers/${s.worker.tag}/triggers`, { token: read })).status, 200);
    });
  });
}

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createPreview } from "../../src/domain/previews.ts";
import { dialects } from "../helpers/databases.ts";
import { seedBuildToken, seed, triggerBody } from "../helpers/fixtures.ts";
import { errorCodes, startHarness, type Harness } from "../helpers/harness.ts";

for (const dialect of dialects()) {
  describe(`${dialect}: Worker build configuration and Previews`, () => {
    let h: Harness;
    let account: string;
    let write: string;
    let read: string;
    const base = () => `/client/v4/accounts/${account}/builds`;

    before(async () => {
      h = await startHarness(dialect);
      account = (await h.account("a")).id;
      write = (await h.token([account], ["Workers CI Write"])).value;
      read = (await h.token([account], ["Workers CI Read"])).value;
    });
    after(() => h.close());

    async function setup(name: string) {
      const worker = await h.worker(account, name);
      const { token: bt } = await seedBuildToken(h, account, `secret-of-${name}`);
      const body = {
        script_tag: worker.tag,
        git_repository: {
          provider_type: "github",
          provider_account_id: "315958746",
          provider_account_name: "acme",
          repo_id: `repo-${name}`,
          repo_name: name,
          branch: "main",
        },
        production_settings: {
          build_command: "pnpm run build",
          deploy_command: "pnpm run deploy",
          build_token_uuid: bt.build_token_uuid,
          environment_variables: {
            SECRET_KEY: { is_secret: true, value: "super-secret-value" },
            NODE_ENV: { is_secret: false, value: "production" },
          },
        },
      };
      return { worker, bt, body };
    }

    it("#23 creates (201) and #24 reads the same view; the production trigger is the same data", async () => {
      const { worker, bt, body } = await setup("create-read");
      const created = await h.call("POST", `${base()}/workers`, { token: write, body });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.deepEqual(created.body.messages, [], "no secret too short to mask");
      const r = created.body.result;
      assert.equal(r.script_tag, worker.tag);
      assert.deepEqual(r.git_repository, {
        branch: "main",
        grant_id: null,
        provider_account_id: "315958746",
        provider_account_name: "acme",
        provider_type: "github",
        repo_id: "repo-create-read",
        repo_name: "create-read",
      });
      const env = r.production_settings.environment_variables;
      assert.deepEqual(
        { ...r.production_settings, environment_variables: null },
        {
          build_caching_enabled: true,
          build_command: "pnpm run build",
          deploy_command: "pnpm run deploy",
          root_directory: "/",
          path_includes: ["*"],
          path_excludes: [],
          build_token_uuid: bt.build_token_uuid,
          environment_variables: null,
        },
      );
      assert.equal(env.SECRET_KEY.value, null);
      assert.equal(env.SECRET_KEY.is_secret, true);
      assert.equal(env.NODE_ENV.value, "production");
      assert.equal(r.previews_enabled, false);
      assert.equal(r.previews_base_config, null);
      assert.doesNotMatch(JSON.stringify(created.body), /super-secret-value/);

      const got = await h.call("GET", `${base()}/workers/${worker.tag}`, { token: read });
      assert.equal(got.status, 200);
      assert.deepEqual(got.body.result, r);

      const triggers = await h.call("GET", `${base()}/workers/${worker.tag}/triggers`, { token: read });
      assert.equal(triggers.body.result.length, 1);
      const t = triggers.body.result[0];
      assert.deepEqual(t.branch_includes, ["main"]);
      assert.equal(t.build_command, "pnpm run build");

      // Edit the trigger: the configuration shows it. Edit the configuration: the trigger shows it.
      await h.call("PATCH", `${base()}/triggers/${t.trigger_uuid}`, { token: write, body: { build_command: "make" } });
      assert.equal((await h.call("GET", `${base()}/workers/${worker.tag}`, { token: read })).body.result.production_settings.build_command, "make");
      const patched = await h.call("PATCH", `${base()}/workers/${worker.tag}`, {
        token: write,
        body: { git_repository: { branch: "release" }, production_settings: { root_directory: "/app", environment_variables: { NODE_ENV: null, EXTRA: { is_secret: false, value: "1" }, PIN: { is_secret: true, value: "123" } } } },
      });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      assert.deepEqual(patched.body.messages, ["PIN: secret values shorter than 4 characters are not masked in build logs"]);
      assert.equal(patched.body.result.git_repository.branch, "release");
      assert.deepEqual(Object.keys(patched.body.result.production_settings.environment_variables).sort(), ["EXTRA", "PIN", "SECRET_KEY"]);
      const t2 = (await h.call("GET", `${base()}/workers/${worker.tag}/triggers`, { token: read })).body.result[0];
      assert.deepEqual(t2.branch_includes, ["release"]);
      assert.equal(t2.root_directory, "/app");
      const vars = await h.store.envVars.list("trigger", t2.trigger_uuid);
      assert.equal(vars.find((v) => v.key === "SECRET_KEY")?.value, "super-secret-value", "secret kept (and opened) at rest");
    });

    it("#24 without configuration → 404 12040; #23 twice → 409 12010; unknown tag → 404 12000", async () => {
      const { worker, body } = await setup("conflicts");
      const none = await h.call("GET", `${base()}/workers/${worker.tag}`, { token: read });
      assert.equal(none.status, 404);
      assert.deepEqual(none.body.errors, [{ code: 12040, message: "No build configuration associated with that script tag was found for this account" }]);
      assert.equal((await h.call("POST", `${base()}/workers`, { token: write, body })).status, 201);
      const again = await h.call("POST", `${base()}/workers`, { token: write, body });
      assert.equal(again.status, 409);
      assert.deepEqual(again.body.errors, [{ code: 12010, message: "Already exists" }]);
      const unknown = await h.call("POST", `${base()}/workers`, { token: write, body: { ...body, script_tag: "0".repeat(32) } });
      assert.equal(unknown.status, 404);
      assert.deepEqual(errorCodes(unknown), [12000]);
    });

    it("bad #23 bodies → 400 12002 naming the field, nothing written", async () => {
      const { worker, body } = await setup("bad-bodies");
      const cases: [unknown, string][] = [
        [{ ...body, git_repository: { ...body.git_repository, branch: "" } }, "git_repository.branch"],
        [{ ...body, git_repository: { ...body.git_repository, provider_type: "bitbucket" } }, "git_repository.provider_type"],
        [{ ...body, git_repository: { ...body.git_repository, provider_type: "gitlab_internal" } }, "git_repository.grant_id"],
        [{ ...body, production_settings: { ...body.production_settings, deploy_command: "" } }, "production_settings.deploy_command"],
        [{ ...body, production_settings: { ...body.production_settings, build_token_uuid: "nope" } }, "production_settings.build_token_uuid"],
        [{ ...body, production_settings: { ...body.production_settings, environment_variables: { "1BAD": { is_secret: false, value: "x" } } } }, "environment_variables.1BAD"],
        [{ ...body, production_settings: { ...body.production_settings, environment_variables: { BIG: { is_secret: false, value: "x".repeat(5001) } } } }, "production_settings.environment_variables.BIG.value"],
        [{ ...body, previews_enabled: true }, "previews_base_config"],
        [{ script_tag: worker.tag }, "git_repository"],
      ];
      for (const [b, field] of cases) {
        const r = await h.call("POST", `${base()}/workers`, { token: write, body: b });
        assert.equal(r.status, 400, field);
        assert.deepEqual(errorCodes(r), [12002]);
        assert.ok(r.body.errors[0].message.startsWith(`Invalid request body: ${field}: `), `${field}: ${r.body.errors[0].message}`);
      }
      assert.equal((await h.store.triggers.listByWorker(account, worker.tag)).length, 0);
      assert.equal(await h.store.repoConnections.findByRepo(account, "github", "repo-bad-bodies"), undefined, "the rejected request's connection was rolled back");
    });

    it("#25 previews: 12048 with a legacy trigger, #27 migrates it, 12002 enabling without base config", async () => {
      const { worker, body } = await setup("legacy");
      await h.call("POST", `${base()}/workers`, { token: write, body });
      const noBase = await h.call("PATCH", `${base()}/workers/${worker.tag}`, { token: write, body: { previews_enabled: true } });
      assert.equal(noBase.status, 400);
      assert.equal(noBase.body.errors[0].message, "Invalid request body: previews_base_config: required to enable previews");

      const prod = (await h.store.triggers.listByWorker(account, worker.tag))[0];
      assert.ok(prod);
      const legacy = await h.call("POST", `${base()}/triggers`, {
        token: write,
        body: {
          external_script_id: worker.tag,
          trigger_name: "previews",
          repo_connection_uuid: prod.repo_connection_uuid,
          build_token_uuid: prod.build_token_uuid,
          build_command: "pnpm run build",
          deploy_command: "npx wrangler versions upload",
          root_directory: "/",
          branch_includes: ["*"],
          branch_excludes: ["main"],
          path_includes: ["*"],
          path_excludes: [],
        },
      });
      assert.equal(legacy.status, 200);
      const view = await h.call("GET", `${base()}/workers/${worker.tag}`, { token: read });
      assert.equal(view.body.result.previews_enabled, false);
      assert.equal(view.body.result.previews_base_config.deploy_command, "npx wrangler versions upload");
      assert.equal(view.body.result.previews_base_config.proposed_deploy_command, "npx wrangler preview");

      const blocked = await h.call("PATCH", `${base()}/workers/${worker.tag}`, { token: write, body: { previews_enabled: true } });
      assert.equal(blocked.status, 400);
      assert.deepEqual(blocked.body.errors, [
        { code: 12048, message: "Cannot enable preview settings while a non-production trigger exists. Use the migrate_to_previews endpoint instead." },
      ]);

      const migrated = await h.call("POST", `${base()}/workers/${worker.tag}/migrate_to_previews`, { token: write });
      assert.equal(migrated.status, 200, JSON.stringify(migrated.body));
      assert.equal(migrated.body.result.previews_enabled, true);
      assert.equal(migrated.body.result.previews_base_config.deploy_command, "npx wrangler preview");
      assert.equal(migrated.body.result.previews_base_config.proposed_deploy_command, undefined);
      const triggers = (await h.call("GET", `${base()}/workers/${worker.tag}/triggers`, { token: read })).body.result;
      assert.deepEqual(triggers.map((t: { deleted_on: string | null }) => t.deleted_on === null), [true, false], "legacy trigger removed");
    });

    it("#27 refuses a command it cannot rewrite unless deploy_command is given", async () => {
      const { worker, body } = await setup("migrate-custom");
      await h.call("POST", `${base()}/workers`, { token: write, body });
      const prod = (await h.store.triggers.listByWorker(account, worker.tag))[0];
      assert.ok(prod);
      const s = { worker, connection: { repo_connection_uuid: prod.repo_connection_uuid }, buildToken: { build_token_uuid: prod.build_token_uuid } };
      await h.call("POST", `${base()}/triggers`, { token: write, body: triggerBody(s as never, { deploy_command: "./deploy.sh" }) });
      const refused = await h.call("POST", `${base()}/workers/${worker.tag}/migrate_to_previews`, { token: write, body: {} });
      assert.equal(refused.status, 400);
      assert.match(refused.body.errors[0].message, /^Invalid request body: deploy_command: cannot rewrite "\.\/deploy\.sh"/);
      const withCommand = await h.call("POST", `${base()}/workers/${worker.tag}/migrate_to_previews`, { token: write, body: { deploy_command: "./preview.sh" } });
      assert.equal(withCommand.status, 200);
      assert.equal(withCommand.body.result.previews_base_config.deploy_command, "./preview.sh");
    });

    it("Previews: list, get, patch; patch_existing_previews propagates the base config", async () => {
      const { worker, body } = await setup("previews");
      const created = await h.call("POST", `${base()}/workers`, {
        token: write,
        body: { ...body, previews_enabled: true, previews_base_config: { ...body.production_settings, deploy_command: "npx wrangler preview" } },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.result.previews_enabled, true);
      const a = await h.store.transaction((r) => createPreview(r, account, worker.tag, "feature-a"));
      const b = await h.store.transaction((r) => createPreview(r, account, worker.tag, "feature-b"));
      const again = await h.store.transaction((r) => createPreview(r, account, worker.tag, "feature-a"));
      assert.equal(again.preview_id, a.preview_id, "one Preview per branch");

      const page1 = await h.call("GET", `${base()}/workers/${worker.tag}/previews?per_page=1`, { token: read });
      assert.equal(page1.status, 200);
      assert.equal(page1.body.result.length, 1);
      assert.deepEqual(page1.body.result_info, { page: 1, per_page: 1, count: 1, total_count: 2, total_pages: 2, next_page: true });
      const one = await h.call("GET", `${base()}/workers/${worker.tag}/previews/${b.preview_id}`, { token: read });
      assert.equal(one.body.result.branch, "feature-b");
      assert.equal(one.body.result.auto_build, true);
      assert.equal(one.body.result.settings.deploy_command, "npx wrangler preview");
      assert.equal(one.body.result.settings.environment_variables.SECRET_KEY.value, null);

      const patched = await h.call("PATCH", `${base()}/workers/${worker.tag}/previews/${b.preview_id}`, {
        token: write,
        body: { auto_build: false, settings: { build_command: "npm run preview-build", environment_variables: { ONLY_B: { is_secret: false, value: "b" } } } },
      });
      assert.equal(patched.status, 200);
      assert.equal(patched.body.result.auto_build, false);
      assert.equal(patched.body.result.settings.build_command, "npm run preview-build");
      assert.equal(patched.body.result.settings.environment_variables.ONLY_B.value, "b");
      const clash = await h.call("PATCH", `${base()}/workers/${worker.tag}/previews/${b.preview_id}`, { token: write, body: { branch: "feature-a" } });
      assert.equal(clash.status, 409);
      assert.deepEqual(errorCodes(clash), [12010]);

      await h.call("PATCH", `${base()}/workers/${worker.tag}?patch_existing_previews=true`, {
        token: write,
        body: { previews_base_config: { root_directory: "/site" } },
      });
      for (const p of [a, b]) {
        const got = await h.call("GET", `${base()}/workers/${worker.tag}/previews/${p.preview_id}`, { token: read });
        assert.equal(got.body.result.settings.root_directory, "/site");
      }
      await h.call("PATCH", `${base()}/workers/${worker.tag}`, { token: write, body: { previews_base_config: { root_directory: "/other" } } });
      const untouched = await h.call("GET", `${base()}/workers/${worker.tag}/previews/${a.preview_id}`, { token: read });
      assert.equal(untouched.body.result.settings.root_directory, "/site", "without the flag, Previews keep their settings");

      for (const id of ["0".repeat(32), "nope"]) {
        const missing = await h.call("GET", `${base()}/workers/${worker.tag}/previews/${id}`, { token: read });
        assert.equal(missing.status, 404);
        assert.deepEqual(errorCodes(missing), [12000]);
      }
      const empty = await h.call("PATCH", `${base()}/workers/${worker.tag}/previews/${a.preview_id}`, { token: write, body: {} });
      assert.equal(empty.status, 400);
      assert.deepEqual(errorCodes(empty), [12002]);
    });

    it("#26 deletes the configuration (answer \"ok\"); the Worker and its connection stay", async () => {
      const { worker, body } = await setup("deleted");
      await h.call("POST", `${base()}/workers`, { token: write, body: { ...body, previews_enabled: true, previews_base_config: body.production_settings } });
      await h.store.transaction((r) => createPreview(r, account, worker.tag, "x"));
      const del = await h.call("DELETE", `${base()}/workers/${worker.tag}`, { token: write });
      assert.equal(del.status, 200);
      assert.deepEqual(del.body, { success: true, errors: [], messages: [], result: "ok" });
      assert.equal((await h.call("GET", `${base()}/workers/${worker.tag}`, { token: read })).status, 404);
      assert.deepEqual(errorCodes(await h.call("DELETE", `${base()}/workers/${worker.tag}`, { token: write })), [12040]);
      const triggers = await h.store.triggers.listByWorker(account, worker.tag);
      assert.ok(triggers.every((t) => t.deleted_on !== null));
      assert.equal((await h.store.previews.list(account, worker.tag)).total, 0);
      assert.ok(await h.store.repoConnections.findByRepo(account, "github", "repo-deleted"));
      const scripts = await h.call("GET", `/client/v4/accounts/${account}/workers/scripts`, { token: read });
      assert.ok(scripts.body.result.some((s: { tag: string }) => s.tag === worker.tag));
      // It can be configured again.
      assert.equal((await h.call("POST", `${base()}/workers`, { token: write, body })).status, 201);
    });

    it("#25 with an empty body → 400 12002; unknown Worker → 404 12040; Read token → 403", async () => {
      const { worker, body } = await setup("patch-errors");
      await h.call("POST", `${base()}/workers`, { token: write, body });
      const empty = await h.call("PATCH", `${base()}/workers/${worker.tag}`, { token: write, body: {} });
      assert.equal(empty.status, 400);
      assert.deepEqual(errorCodes(empty), [12002]);
      const unknown = await h.call("PATCH", `${base()}/workers/${"0".repeat(32)}`, { token: write, body: { previews_enabled: false } });
      assert.equal(unknown.status, 404);
      assert.deepEqual(errorCodes(unknown), [12040]);
      const ro = await h.call("PATCH", `${base()}/workers/${worker.tag}`, { token: read, body: { previews_enabled: false } });
      assert.equal(ro.status, 403);
    });
  });
}

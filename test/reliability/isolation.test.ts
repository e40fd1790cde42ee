/**
 * Tenant isolation matrix, generated from the route table so that a new endpoint
 * cannot be missed: for every account-scoped endpoint, account A's token naming account B's
 * resources answers exactly like a resource that does not exist; A's token on B's account path
 * is 403; no answer to A carries any of B's ids or secrets; and B's data is unchanged.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { routes } from "../../src/api/routes/index.ts";
import { dialects } from "../helpers/databases.ts";
import { startHarness, type Answer, type Harness } from "../helpers/harness.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";
import { digest, fillPath, missingIds, seedTenant, type Tenant } from "../helpers/tenants.ts";

/** A body each write endpoint accepts, so the request reaches the resource lookup. */
const VALID_BODY: Record<string, unknown> = {
  updateTrigger: { trigger_name: "renamed" },
  updateWorkerBuild: { production_settings: { build_command: "echo other" } },
  migrateWorkerToPreviews: {},
  updateWorkerPreview: { auto_build: false },
  createManualBuild: { branch: "main" },
  createPreviewBuild: { branch: "main" },
  upsertEnvironmentVariables: { NEW_KEY: { is_secret: false, value: "v" } },
  createDeployHook: { deploy_hook_name: "other", branch: "main" },
  updateDeployHook: { deploy_hook_name: "other", branch: "main" },
};

/** Endpoints answered as a stream, not the envelope: compared by status only. */
const STREAMS = new Set(["streamBuildLogs", "streamAccountBuildEvents"]);

for (const dialect of dialects()) {
  describe(`${dialect}: tenant isolation matrix`, () => {
    let h: Harness;
    let repo: TestRepo;
    let a: Tenant;
    let b: Tenant;
    before(async () => {
      repo = makeRepo({ name: "iso", files: { "package.json": "{}", "wrangler.toml": 'name = "iso"' } });
      h = await startHarness(dialect, {}, { gitUrlTemplate: repo.template });
      a = await seedTenant(h, "alpha", "iso", "111");
      b = await seedTenant(h, "beta", "iso", "222");
    });
    after(async () => {
      await h.close();
      repo.cleanup();
    });

    const scoped = routes.filter((r) => r.auth === "read" || r.auth === "write");
    const bIds = () => Object.entries(b.ids).filter(([k]) => !["provider_type", "provider_account_id", "environment_variable_key", "repo_id"].includes(k)).map(([, v]) => v);

    function send(route: (typeof routes)[number], values: Record<string, string>, token: string): Promise<Answer> {
      const body = route.body ? VALID_BODY[route.operationId] : undefined;
      return h.call(route.method, `/client/v4${fillPath(route.path, values)}`, { token, ...(body !== undefined ? { body } : {}) });
    }

    it("covers every account-scoped endpoint of the route table", () => {
      assert.ok(scoped.length >= 38, `${scoped.length} endpoints`);
      for (const r of scoped.filter((r) => r.body && r.path.split(":").length > 2)) {
        assert.ok(r.operationId in VALID_BODY || r.operationId === "updateWorkerBuild", `a valid body for ${r.operationId}`);
      }
    });

    it("A's token naming B's resources answers exactly like a missing resource; B is unchanged", async () => {
      const before = await digest(h, b.accountId);
      let compared = 0;
      for (const route of scoped) {
        const names = [...route.path.matchAll(/:(\w+)/g)].map((m) => m[1] as string).filter((n) => n !== "account_id");
        if (names.length === 0) continue;
        // Each resource parameter in turn names B's resource, the others A's own.
        for (const name of names) {
          const withB = { ...a.ids, [name]: b.ids[name] as string };
          const withMissing = { ...a.ids, [name]: missingIds()[name] as string };
          const rb = await send(route, withB, a.write);
          const rm = await send(route, withMissing, a.write);
          const label = `${route.operationId} with B's ${name}`;
          assert.equal(rb.status, rm.status, `${label}: ${rb.status} vs missing ${rm.status} ${JSON.stringify(rb.body).slice(0, 300)}`);
          if (!STREAMS.has(route.operationId) || rb.status !== 200) {
            assert.deepEqual(rb.body.errors, rm.body.errors, label);
            assert.equal(rb.body.success, rm.body.success, label);
          }
          for (const id of bIds()) assert.ok(!JSON.stringify(rb.body).includes(id), `${label}: the answer names B's ${id}`);
          compared++;
        }
      }
      assert.ok(compared >= 35, `${compared} comparisons`);
      assert.equal(await digest(h, b.accountId), before, "B's data did not change");
    });

    it("A's token on B's account path is 403 10000 for every account-scoped endpoint; B is unchanged", async () => {
      const before = await digest(h, b.accountId);
      for (const route of scoped) {
        for (const token of [a.write, a.read]) {
          const r = await send(route, b.ids, token);
          assert.equal(r.status, 403, `${route.operationId}: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
          assert.deepEqual(r.body.errors, [{ code: 10000, message: "Authentication error" }]);
        }
      }
      assert.equal(await digest(h, b.accountId), before);
    });

    it("A's reads of its own account never carry B's ids or secrets", async () => {
      for (const route of scoped.filter((r) => r.method === "GET" && !STREAMS.has(r.operationId))) {
        const query = route.operationId === "getLatestBuildsByScripts" ? `?external_script_ids=${a.ids.external_script_id},${b.ids.external_script_id}` : route.operationId === "getBuildsByVersionIds" ? "?version_ids=v1" : "";
        const r = await h.call("GET", `/client/v4${fillPath(route.path, a.ids)}${query}`, { token: a.read });
        assert.ok(r.status < 500, route.operationId);
        const text = JSON.stringify(r.body);
        for (const id of [...bIds(), ...b.secrets, ...a.secrets]) assert.ok(!text.includes(id), `${route.operationId} leaks ${id.slice(0, 12)}…`);
      }
      const accounts = await h.call("GET", "/client/v4/accounts", { token: a.read });
      assert.deepEqual(accounts.body.result.map((x: { id: string }) => x.id), [a.accountId]);
    });
  });
}

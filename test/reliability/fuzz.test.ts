/**
 * Property-based fuzzing of every endpoint, generated from the route table: random
 * path ids (valid, other tenant's, malformed, unicode, huge), query strings, credentials and JSON
 * bodies (random JSON, mutations of a valid body, wrong types, deep nesting, `__proto__` and
 * `constructor` keys, bodies over the size limit). For every request: never a 5xx, always the
 * Cloudflare envelope (an error code and message on every failure), and a rejected request
 * changes nothing (the database digest is the same before and after). The webhook endpoints get
 * random bodies under a valid signature. CI runs FUZZ_RUNS per endpoint; `npm run test:long` 300.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { routes } from "../../src/api/routes/index.ts";
import { dialects } from "../helpers/databases.ts";
import { startHarness, type Answer, type Harness } from "../helpers/harness.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";
import { digest, fillPath, missingIds, seedTenant, type Tenant } from "../helpers/tenants.ts";
import { signGithub } from "../helpers/webhooks.ts";

const LONG = process.env.KILN_TEST_LONG === "1";
const RUNS = Number(process.env.FUZZ_RUNS ?? (LONG ? 300 : 12));
/** Fixed so a failure is reproducible; the long run varies it. */
const SEED = LONG ? Date.now() : 20261128;


/** A valid body per endpoint: the start of the mutations. */
function validBodies(t: Tenant): Record<string, unknown> {
  return {
    createTrigger: { external_script_id: t.ids.external_script_id, trigger_name: "fuzz", repo_connection_uuid: t.ids.repo_connection_uuid, build_token_uuid: t.ids.build_token_uuid, build_command: "", deploy_command: "npx wrangler deploy", root_directory: "/", branch_includes: ["*"], branch_excludes: ["main"], path_includes: ["*"], path_excludes: [] },
    updateTrigger: { trigger_name: "renamed", branch_includes: ["main"] },
    createWorkerBuild: { script_tag: t.ids.script_tag, git_repository: { provider_type: "github", provider_account_id: "1", provider_account_name: "a", repo_id: "9", repo_name: "r", branch: "main" }, production_settings: { build_command: "", deploy_command: "x", build_token_uuid: t.ids.build_token_uuid } },
    updateWorkerBuild: { production_settings: { build_command: "echo other" } },
    migrateWorkerToPreviews: {},
    updateWorkerPreview: { auto_build: false },
    createManualBuild: { branch: "main" },
    createPreviewBuild: { branch: "main" },
    upsertRepoConnection: { provider_type: "github", provider_account_id: "1", provider_account_name: "a", repo_id: "77", repo_name: "r" },
    createBuildToken: { build_token_name: "t", build_token_secret: "s3cret-value", cloudflare_token_id: "cf" },
    upsertEnvironmentVariables: { KEY: { is_secret: false, value: "v" } },
    createDeployHook: { deploy_hook_name: "fuzz", branch: "main" },
    updateDeployHook: { deploy_hook_name: "fuzz2", branch: "main" },
  };
}

const nasty = fc.constantFrom(
  "", " ", "..", "../../etc/passwd", "%00", "\u0000", "null", "undefined", "NaN", "-1", "0", "1e309", "<script>", "' or 1=1 --",
  "\u202e\u0301", "😀".repeat(50), "a".repeat(5000), "__proto__", "constructor", "toString",
);
const text = fc.oneof(fc.string(), fc.string({ unit: "grapheme" }), fc.string({ unit: "binary" }), nasty);

/** A JSON value nested `depth` levels deep. */
const deep = (depth: number, leaf: unknown) => {
  let v: unknown = leaf;
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { a: v };
  return v;
};

function bodyArb(valid: unknown) {
  const mutate = fc
    .tuple(fc.jsonValue({ maxDepth: 3 }), fc.nat())
    .map(([value, n]) => {
      if (!valid || typeof valid !== "object") return value;
      const copy = structuredClone(valid) as Record<string, unknown>;
      const keys = Object.keys(copy);
      const key = keys[n % Math.max(1, keys.length)] ?? "x";
      copy[key] = value;
      return copy;
    });
  return fc.oneof(
    { weight: 3, arbitrary: mutate },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
    { weight: 1, arbitrary: fc.constant(valid) },
    { weight: 1, arbitrary: fc.constantFrom(JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}'), deep(2000, 1), deep(20, "x")) },
    { weight: 1, arbitrary: fc.dictionary(text, fc.oneof(text, fc.integer(), fc.double(), fc.boolean(), fc.constant(null)), { maxKeys: 8 }) },
  );
}

for (const dialect of dialects()) {
  describe(`${dialect}: fuzzing every endpoint`, () => {
    const stats = { requests: 0, rejected: 0, accepted: 0, endpoints: 0 };
    let h: Harness;
    let repo: TestRepo;
    let a: Tenant;
    let b: Tenant;
    before(async () => {
      repo = makeRepo({ name: "fuzz", files: { "package.json": "{}", "wrangler.toml": 'name = "fuzz"' } });
      h = await startHarness(dialect, {}, { gitUrlTemplate: repo.template });
      a = await seedTenant(h, "alpha", "fuzz", "111");
      b = await seedTenant(h, "beta", "fuzz", "222");
    });
    after(async () => {
      await h.close();
      repo.cleanup();
      console.log(`fuzz (${dialect}): ${stats.endpoints} endpoints, ${stats.requests} requests, ${stats.rejected} rejected, ${stats.accepted} accepted, seed ${SEED}`);
    });

    /** Sends, then checks the invariants; a rejected request must leave the database as it was. */
    async function check(label: string, send: () => Promise<Answer>, stream = false, exclude: string[] = []): Promise<void> {
      const before = await digest(h, undefined, exclude);
      const r = await send();
      stats.requests++;
      assert.ok(r.status < 500, `${label}: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
      if (stream && r.status === 200) return;
      assert.equal(typeof r.body, "object", `${label}: not JSON: ${String(r.body).slice(0, 200)}`);
      assert.equal(typeof r.body.success, "boolean", label);
      assert.ok(Array.isArray(r.body.errors) && Array.isArray(r.body.messages) && "result" in r.body, `${label}: not the envelope`);
      if (r.status >= 400) {
        stats.rejected++;
        assert.equal(r.body.success, false, label);
        assert.ok(r.body.errors.length >= 1, `${label}: no error`);
        for (const e of r.body.errors) assert.ok(Number.isInteger(e.code) && typeof e.message === "string" && e.message.length > 0, `${label}: ${JSON.stringify(e)}`);
        assert.equal(await digest(h, undefined, exclude), before, `${label}: a rejected request changed the database`);
      } else {
        stats.accepted++;
        assert.equal(r.body.success, true, label);
      }
      assert.equal(({} as Record<string, unknown>).polluted, undefined, "Object.prototype polluted");
    }

    for (const route of routes) {
      it(`${route.method} ${route.path} (${route.operationId})`, async () => {
        stats.endpoints++;
        const names = [...route.path.matchAll(/:(\w+)/g)].map((m) => m[1] as string);
        const paramArb = (name: string) =>
          fc.oneof(
            { weight: 4, arbitrary: fc.constant(a.ids[name] ?? "x") },
            { weight: 1, arbitrary: fc.constant(b.ids[name] ?? "x") },
            { weight: 1, arbitrary: fc.constant(missingIds()[name] ?? "x") },
            { weight: 2, arbitrary: text },
            { weight: 1, arbitrary: fc.uuid() },
          );
        const params = fc.record(Object.fromEntries(names.map((n) => [n, paramArb(n)])) as Record<string, fc.Arbitrary<string>>);
        const query = fc.dictionary(fc.oneof(fc.constantFrom("page", "per_page", "cursor", "branch", "external_script_ids", "version_ids", "from", "patch_existing_previews"), text), text, { maxKeys: 4 });
        const token = fc.oneof(
          { weight: 6, arbitrary: fc.constant<Record<string, string>>({ authorization: `Bearer ${a.write}` }) },
          { weight: 1, arbitrary: fc.constant<Record<string, string>>({ authorization: `Bearer ${a.read}` }) },
          { weight: 1, arbitrary: fc.constant<Record<string, string>>({ authorization: `Bearer ${b.write}` }) },
          { weight: 1, arbitrary: text.map((t) => ({ authorization: `Bearer ${t.replace(/[^\x20-\x7e]/g, "")}` })) },
          { weight: 1, arbitrary: fc.constant<Record<string, string>>({}) },
          { weight: 1, arbitrary: fc.constant<Record<string, string>>({ "x-auth-email": "x@y", "x-auth-key": "nothex" }) },
        );
        const valid = validBodies(a)[route.operationId];
        const body = route.body || route.method !== "GET" ? fc.option(bodyArb(valid ?? {}), { freq: 5 }) : fc.constant(null);
        const huge = fc.constantFrom(false, false, false, false, false, false, false, false, false, true);
        await fc.assert(
          fc.asyncProperty(params, query, token, body, huge, async (p, q, headers, b0, tooBig) => {
            const values = { ...a.ids, ...p };
            // The stream of a build that never ends would never end: only its rejections are fuzzed.
            if (route.operationId === "streamBuildLogs" && values.build_uuid === a.ids.build_uuid && values.account_id === a.accountId) values.build_uuid = missingIds().build_uuid as string;
            // The account event stream never ends either: it is fuzzed on accounts the token does not cover.
            if (route.operationId === "streamAccountBuildEvents" && (values.account_id === a.accountId || values.account_id === b.accountId)) values.account_id = missingIds().account_id as string;
            const qs = new URLSearchParams(q as Record<string, string>).toString();
            const url = `/client/v4${fillPath(route.path, values)}${qs ? `?${qs}` : ""}`;
            const rawBody = tooBig ? JSON.stringify({ pad: "x".repeat(1024 * 1024 + 10) }) : b0 === null ? undefined : JSON.stringify(b0);
            await check(`${route.operationId} ${url.slice(0, 120)} body=${String(rawBody).slice(0, 120)}`, () =>
              h.call(route.method, url, { headers: { ...headers, ...(rawBody !== undefined ? { "content-type": "application/json" } : {}) }, ...(rawBody !== undefined ? { rawBody } : {}) }),
              // Answered as text, not the envelope, when it succeeds: the log stream and the raw log.
              route.operationId === "streamBuildLogs" || route.operationId === "streamAccountBuildEvents" || route.operationId === "getRawBuildLog",
            );
          }),
          { numRuns: RUNS, seed: SEED, endOnFailure: true },
        );
      });
    }

    it("malformed JSON, wrong content types and unknown routes answer the envelope", async () => {
      const base = `/client/v4/accounts/${a.accountId}/builds`;
      for (const raw of ["{", "[1,", '{"a":}', "\u0000", "nul", '{"a":1}}', "\ud800"]) {
        await check(`raw ${JSON.stringify(raw)}`, () => h.call("POST", `${base}/tokens`, { token: a.write, rawBody: raw, headers: { "content-type": "application/json" } }));
      }
      await check("text/plain body", () => h.call("POST", `${base}/tokens`, { token: a.write, rawBody: "hello", headers: { "content-type": "text/plain" } }));
      for (const path of ["/client/v4/nope", "/client/v4/accounts/x/builds/nope/deeper", "/client/v4/accounts/%/builds", `/client/v4/accounts/${a.accountId}/builds/builds/${"x".repeat(10000)}`]) {
        await check(`GET ${path.slice(0, 60)}`, () => h.call("GET", path, { token: a.write }));
      }
      await check("PATCH a GET-only path", () => h.call("PATCH", `${base}/account/limits`, { token: a.write, body: {} }));
      // NUL in a path id or a body string: PostgreSQL text cannot hold it (found by the long run: a 500).
      for (const [method, path, body, code] of [
        ["GET", `${base}/workers/%00/previews/${a.ids.preview_id}`, undefined, 12002],
        ["GET", `${base}/workers/${a.workerName}%00/deploy_hooks/${a.ids.deploy_hook_uuid}`, undefined, 12002],
        ["POST", `${base}/tokens`, { build_token_name: "a\u0000b", build_token_secret: "s", cloudflare_token_id: "c" }, 12002],
        // A query parameter is named as one, with Cloudflare's code for it.
        ["GET", `${base}/workers/${a.ids.external_script_id}/builds?branch=%00`, undefined, 12013],
      ] as const) {
        const r = await h.call(method, path, { token: a.write, ...(body ? { body } : {}) });
        assert.equal(r.status, 400, `${path}: ${JSON.stringify(r.body)}`);
        assert.deepEqual(r.body.errors.map((e: { code: number }) => e.code), [code]);
        assert.match(r.body.errors[0].message, /must not contain NUL characters$/);
      }
      const q = await h.call("GET", `${base}/workers/${a.ids.external_script_id}/builds?branch=%00`, { token: a.write });
      assert.deepEqual(q.body.errors, [{ code: 12013, message: "Invalid query parameter: branch: must not contain NUL characters" }]);
    });

    it("webhook endpoints: random payloads under a valid signature never fail the server", async () => {
      const secret = (await h.store.accounts.webhookSecret(a.accountId)) as string;
      const events = fc.constantFrom("push", "pull_request", "ping", "issues", "", "push\u0000");
      await fc.assert(
        fc.asyncProperty(events, bodyArb({ ref: "refs/heads/main", after: "a".repeat(40), repository: { id: 111 }, commits: [] }), async (event, payload) => {
          const raw = JSON.stringify(payload);
          await check(`webhook ${event} ${raw.slice(0, 100)}`, () =>
            h.call("POST", `/webhooks/github/${a.accountId}`, { rawBody: raw, headers: { "content-type": "application/json", "x-github-event": event.replace(/\u0000/g, ""), "x-hub-signature-256": signGithub(secret, raw) } }),
            false,
            // A rejected delivery is recorded on purpose (`kiln deliveries list`); nothing else may change.
            ["webhook_deliveries"],
          );
        }),
        { numRuns: RUNS * 3, seed: SEED },
      );
    });
  });
}

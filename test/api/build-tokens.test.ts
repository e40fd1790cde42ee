import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { createApp } from "../../src/api/app.ts";
import { dialects } from "../helpers/databases.ts";
import { errorCodes, startHarness, type Harness } from "../helpers/harness.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

for (const dialect of dialects()) {
  describe(`${dialect}: build tokens (#10, #11, #12)`, () => {
    let h: Harness;
    let account: string;
    let other: string;
    let write: string;
    let read: string;
    let otherWrite: string;
    let n = 0;
    const url = (a = account) => `/client/v4/accounts/${a}/builds/tokens`;
    const secret = () => `cf-secret-value-${++n}-${"s".repeat(20)}`;
    const body = (overrides: Record<string, unknown> = {}) => ({
      build_token_name: "My Build Token",
      build_token_secret: secret(),
      cloudflare_token_id: "0123456789abcdef0123456789abcdef",
      ...overrides,
    });
    const count = async () => Number((await h.store.db.kysely.selectFrom("build_tokens").select((eb) => eb.fn.countAll().as("n")).executeTakeFirstOrThrow()).n);

    before(async () => {
      h = await startHarness(dialect);
      account = (await h.account("a")).id;
      other = (await h.account("b")).id;
      write = (await h.token([account], ["Workers CI Write"])).value;
      read = (await h.token([account], ["Workers CI Read"])).value;
      otherWrite = (await h.token([other], ["Workers CI Write"])).value;
    });
    after(() => h.close());

    it("create → list → delete round-trip; the secret is in no answer and sealed at rest", async () => {
      const b = body({ unknown_field: "ignored", repo_connection_uuid: "ignored too" });
      const created = await h.call("POST", url(), { token: write, body: b });
      assert.equal(created.status, 200, JSON.stringify(created.body));
      const t = created.body.result;
      assert.match(t.build_token_uuid, UUID);
      assert.deepEqual(t, {
        build_token_uuid: t.build_token_uuid,
        build_token_name: "My Build Token",
        cloudflare_token_id: "0123456789abcdef0123456789abcdef",
        owner_type: "user",
      });
      assert.equal(JSON.stringify(created.body).includes(b.build_token_secret), false);

      const row = await h.store.db.kysely.selectFrom("build_tokens").selectAll().where("uuid", "=", t.build_token_uuid).executeTakeFirstOrThrow();
      assert.equal(JSON.stringify(row).includes(b.build_token_secret), false, "sealed at rest");
      assert.equal(await h.store.buildTokens.secret(account, t.build_token_uuid), b.build_token_secret, "builds can open it");

      const listed = await h.call("GET", url(), { token: read });
      assert.equal(listed.status, 200);
      assert.deepEqual(listed.body.result, [t]);
      assert.deepEqual(listed.body.result_info, { page: 1, per_page: 50, count: 1, total_count: 1, total_pages: 1, next_page: false });
      assert.equal(JSON.stringify(listed.body).includes(b.build_token_secret), false);

      const del = await h.call("DELETE", `${url()}/${t.build_token_uuid}`, { token: write });
      assert.equal(del.status, 200);
      assert.deepEqual(del.body, { success: true, errors: [], messages: [], result: null });
      assert.deepEqual((await h.call("GET", url(), { token: read })).body.result, [], "deleted tokens are not listed");
      const soft = await h.store.buildTokens.get(account, t.build_token_uuid);
      assert.equal(typeof soft?.deleted_on, "string", "soft delete keeps the row");
      assert.equal(await h.store.buildTokens.secret(account, t.build_token_uuid), undefined, "a deleted token no longer opens");

      const again = await h.call("DELETE", `${url()}/${t.build_token_uuid}`, { token: write });
      assert.equal(again.status, 404);
      assert.deepEqual(again.body.errors, [{ code: 12000, message: "Not found" }]);
    });

    it("lists page by page with result_info; bad page/per_page → 400 12013", async () => {
      const made: string[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await h.call("POST", url(), { token: write, body: body({ build_token_name: `t${i}` }) });
        made.push(r.body.result.build_token_uuid);
      }
      const page1 = await h.call("GET", `${url()}?per_page=2`, { token: read });
      assert.deepEqual(page1.body.result.map((t: { build_token_name: string }) => t.build_token_name), ["t0", "t1"]);
      assert.deepEqual(page1.body.result_info, { page: 1, per_page: 2, count: 2, total_count: 3, total_pages: 2, next_page: true });
      const page2 = await h.call("GET", `${url()}?per_page=2&page=2`, { token: read });
      assert.deepEqual(page2.body.result.map((t: { build_token_name: string }) => t.build_token_name), ["t2"]);
      assert.deepEqual(page2.body.result_info, { page: 2, per_page: 2, count: 1, total_count: 3, total_pages: 2, next_page: false });
      for (const q of ["page=0", "per_page=0", "per_page=201", "page=x"]) {
        const r = await h.call("GET", `${url()}?${q}`, { token: read });
        assert.equal(r.status, 400, q);
        assert.deepEqual(errorCodes(r), [12013]);
        assert.match(r.body.errors[0].message, new RegExp(`^Invalid query parameter: ${q.split("=")[0]}: must be an integer `));
      }
      for (const id of made) await h.call("DELETE", `${url()}/${id}`, { token: write });
    });

    it("another account's tokens are neither listed nor deletable (404 12000); non-UUID and unknown ids → 404", async () => {
      const foreign = (await h.call("POST", url(other), { token: otherWrite, body: body() })).body.result;
      const listed = await h.call("GET", url(), { token: read });
      assert.equal(listed.body.result.some((t: { build_token_uuid: string }) => t.build_token_uuid === foreign.build_token_uuid), false);
      for (const id of [foreign.build_token_uuid, "not-a-uuid", "6f1c2b1e-0000-4000-8000-000000000000"]) {
        const r = await h.call("DELETE", `${url()}/${id}`, { token: write });
        assert.equal(r.status, 404, id);
        assert.deepEqual(errorCodes(r), [12000]);
      }
      assert.equal((await h.store.buildTokens.get(other, foreign.build_token_uuid))?.deleted_on, null, "untouched");
    });

    it("Read tokens can list but not create or delete (403 10000)", async () => {
      assert.equal((await h.call("GET", url(), { token: read })).status, 200);
      const before = await count();
      const post = await h.call("POST", url(), { token: read, body: body() });
      assert.equal(post.status, 403);
      assert.deepEqual(post.body.errors, [{ code: 10000, message: "Authentication error" }]);
      const del = await h.call("DELETE", `${url()}/6f1c2b1e-0000-4000-8000-000000000000`, { token: read });
      assert.equal(del.status, 403);
      assert.deepEqual(errorCodes(del), [10000]);
      assert.equal((await h.call("GET", url(), { token: otherWrite })).status, 403, "token of another account");
      assert.equal(await count(), before);
    });

    it("bad bodies → 400 12002 naming the field; nothing stored; the secret is not echoed", async () => {
      const before = await count();
      const cases: [Record<string, unknown> | undefined, string][] = [];
      for (const f of ["build_token_name", "build_token_secret", "cloudflare_token_id"]) {
        const b: Record<string, unknown> = body();
        delete b[f];
        cases.push([b, `${f}: required`]);
        cases.push([{ ...body(), [f]: "" }, `${f}: must not be empty`]);
        cases.push([{ ...body(), [f]: 42 }, `${f}: `]);
      }
      cases.push([body({ build_token_name: "n".repeat(257) }), "build_token_name: must be at most 256 characters"]);
      cases.push([body({ cloudflare_token_id: "i".repeat(257) }), "cloudflare_token_id: must be at most 256 characters"]);
      cases.push([body({ build_token_secret: "s".repeat(4097) }), "build_token_secret: must be at most 4096 characters"]);
      cases.push([undefined, "body: required"]);
      for (const [b, message] of cases) {
        const r = await h.call("POST", url(), { token: write, ...(b === undefined ? {} : { body: b }) });
        assert.equal(r.status, 400, JSON.stringify(b)?.slice(0, 100));
        assert.deepEqual(errorCodes(r), [12002]);
        assert.ok(r.body.errors[0].message.startsWith(`Invalid request body: ${message}`), r.body.errors[0].message);
        const s = b?.build_token_secret;
        if (typeof s === "string" && s.length > 0) assert.equal(JSON.stringify(r.body).includes(s), false);
      }
      assert.equal(await count(), before);
      const max = await h.call("POST", url(), { token: write, body: body({ build_token_secret: "s".repeat(4096), build_token_name: "n".repeat(256) }) });
      assert.equal(max.status, 200, "the maximum lengths are allowed");
      await h.call("DELETE", `${url()}/${max.body.result.build_token_uuid}`, { token: write });
    });

    it("the secret never reaches the log, even at trace level", async () => {
      let logged = "";
      const sink = new Writable({
        write(chunk: Buffer, _enc, done) {
          logged += chunk.toString();
          done();
        },
      });
      const { fastify } = await createApp({ ...h.kiln.deps, logger: pino({ level: "trace" }, sink) }, { validateResponses: true });
      try {
        const value = secret();
        const created = await fastify.inject({
          method: "POST",
          url: url(),
          headers: { authorization: `Bearer ${write}`, "content-type": "application/json" },
          payload: JSON.stringify(body({ build_token_secret: value })),
        });
        assert.equal(created.statusCode, 200);
        const rejected = await fastify.inject({
          method: "POST",
          url: url(),
          headers: { authorization: `Bearer ${write}`, "content-type": "application/json" },
          payload: JSON.stringify(body({ build_token_secret: value, build_token_name: 7 })),
        });
        assert.equal(rejected.statusCode, 400);
        assert.ok(logged.length > 0, "requests were logged");
        assert.equal(logged.includes(value), false);
        assert.equal(created.body.includes(value) || rejected.body.includes(value), false);
      } finally {
        await fastify.close();
      }
    });
  });
}

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { dialects } from "../helpers/databases.ts";
import { errorCodes, startHarness, type Harness } from "../helpers/harness.ts";

for (const dialect of dialects()) {
  describe(`${dialect}: authentication and permissions`, () => {
    let h: Harness;
    let accountA: string;
    let accountB: string;
    let write: string;
    let read: string;
    let user: { email: string; api_key: string };
    const scripts = (account: string) => `/client/v4/accounts/${account}/workers/scripts`;

    before(async () => {
      h = await startHarness(dialect);
      accountA = (await h.account("a")).id;
      accountB = (await h.account("b")).id;
      write = (await h.token([accountA], ["Workers CI Write"])).value;
      read = (await h.token([accountA], ["Workers CI Read"])).value;
      user = await h.user("dev@example.com", [accountA]);
    });
    after(() => h.close());

    it("no credentials → 400 9106", async () => {
      const r = await h.call("GET", scripts(accountA));
      assert.equal(r.status, 400);
      assert.deepEqual(r.body, {
        success: false,
        errors: [{ code: 9106, message: "Missing X-Auth-Key, X-Auth-Email or Authorization headers" }],
        messages: [],
        result: null,
      });
    });

    it("email without key, and key without email → 400 9106", async () => {
      for (const headers of [{ "x-auth-email": user.email }, { "x-auth-key": user.api_key }] as Record<string, string>[]) {
        const r = await h.call("GET", scripts(accountA), { headers });
        assert.equal(r.status, 400);
        assert.deepEqual(errorCodes(r), [9106]);
      }
    });

    const badAuthorization = ["Bearer ", "Bearer", "Basic abc", "Bearer short", `Bearer ${"x".repeat(41)}`, `Bearer ${"!".repeat(40)}`, "token"];
    for (const header of badAuthorization) {
      it(`malformed Authorization ${JSON.stringify(header)} → 400 6003 with chain 6111`, async () => {
        const r = await h.call("GET", scripts(accountA), { headers: { authorization: header } });
        assert.equal(r.status, 400);
        assert.deepEqual(r.body.errors, [
          { code: 6003, message: "Invalid request headers", error_chain: [{ code: 6111, message: "Invalid format for Authorization header" }] },
        ]);
        assert.equal(r.body.success, false);
      });
    }

    it("malformed X-Auth-Key → 400 6003 with chain 6103", async () => {
      const r = await h.call("GET", scripts(accountA), { headers: { "x-auth-email": user.email, "x-auth-key": "not-a-key" } });
      assert.equal(r.status, 400);
      assert.deepEqual(r.body.errors, [
        { code: 6003, message: "Invalid request headers", error_chain: [{ code: 6103, message: "Invalid format for X-Auth-Key header" }] },
      ]);
    });

    it("well-formed unknown token → 401 10000", async () => {
      const r = await h.call("GET", scripts(accountA), { token: "A".repeat(40) });
      assert.equal(r.status, 401);
      assert.deepEqual(r.body.errors, [{ code: 10000, message: "Authentication error" }]);
    });

    it("wrong global key, unknown email → 401 10000", async () => {
      for (const headers of [
        { "x-auth-email": user.email, "x-auth-key": "0".repeat(37) },
        { "x-auth-email": "nobody@example.com", "x-auth-key": user.api_key },
      ]) {
        const r = await h.call("GET", scripts(accountA), { headers });
        assert.equal(r.status, 401);
        assert.deepEqual(errorCodes(r), [10000]);
      }
    });

    it("global key works on the user's accounts, not on others", async () => {
      const headers = { "x-auth-email": user.email, "x-auth-key": user.api_key };
      assert.equal((await h.call("GET", scripts(accountA), { headers })).status, 200);
      const other = await h.call("GET", scripts(accountB), { headers });
      assert.equal(other.status, 403);
      assert.deepEqual(errorCodes(other), [10000]);
    });

    it("a token for account A on account B → 403 10000", async () => {
      const r = await h.call("GET", scripts(accountB), { token: write });
      assert.equal(r.status, 403);
      assert.deepEqual(r.body.errors, [{ code: 10000, message: "Authentication error" }]);
    });

    it("an account id that does not exist → 403 (not covered), never 500", async () => {
      const r = await h.call("GET", scripts("0".repeat(32)), { token: write });
      assert.equal(r.status, 403);
      assert.deepEqual(errorCodes(r), [10000]);
    });

    it("Read and Write tokens both read", async () => {
      for (const token of [read, write]) {
        const r = await h.call("GET", scripts(accountA), { token });
        assert.equal(r.status, 200);
        assert.equal(r.body.success, true);
      }
    });

    it("revocation is effective on the next request", async () => {
      const t = await h.token([accountA], ["Workers CI Write"]);
      assert.equal((await h.call("GET", scripts(accountA), { token: t.value })).status, 200);
      await h.store.tokens.revoke(t.id, new Date().toISOString());
      const r = await h.call("GET", scripts(accountA), { token: t.value });
      assert.equal(r.status, 401);
      assert.deepEqual(errorCodes(r), [10000]);
    });

    it("an expired token → 401 10000; one expiring later works", async () => {
      const expired = await h.token([accountA], ["Workers CI Write"], { expiresOn: new Date(Date.now() - 1000).toISOString() });
      assert.equal((await h.call("GET", scripts(accountA), { token: expired.value })).status, 401);
      const later = await h.token([accountA], ["Workers CI Write"], { expiresOn: new Date(Date.now() + 3_600_000).toISOString() });
      assert.equal((await h.call("GET", scripts(accountA), { token: later.value })).status, 200);
    });

    it("a token with no Workers CI group → 403 10000", async () => {
      const none = await h.token([accountA], []);
      const r = await h.call("GET", scripts(accountA), { token: none.value });
      assert.equal(r.status, 403);
      assert.deepEqual(errorCodes(r), [10000]);
    });

    describe("GET /user/tokens/verify", () => {
      it("answers the token's id and status", async () => {
        const t = await h.token([accountA], ["Workers CI Read"], { expiresOn: "2099-01-01T00:00:00.000Z" });
        const r = await h.call("GET", "/client/v4/user/tokens/verify", { token: t.value });
        assert.equal(r.status, 200);
        assert.deepEqual(r.body, {
          success: true,
          errors: [],
          messages: [],
          result: { id: t.id, status: "active", expires_on: "2099-01-01T00:00:00.000Z" },
        });
      });

      it("without expiry, no expires_on", async () => {
        const t = await h.token([accountA], ["Workers CI Write"]);
        const r = await h.call("GET", "/client/v4/user/tokens/verify", { token: t.value });
        assert.deepEqual(r.body.result, { id: t.id, status: "active" });
      });

      it("with a global key → 401 10000", async () => {
        const r = await h.call("GET", "/client/v4/user/tokens/verify", {
          headers: { "x-auth-email": user.email, "x-auth-key": user.api_key },
        });
        assert.equal(r.status, 401);
        assert.deepEqual(errorCodes(r), [10000]);
      });

      it("revoked → 401, none → 400 9106", async () => {
        const t = await h.token([accountA], ["Workers CI Write"]);
        await h.store.tokens.revoke(t.id, new Date().toISOString());
        assert.equal((await h.call("GET", "/client/v4/user/tokens/verify", { token: t.value })).status, 401);
        const none = await h.call("GET", "/client/v4/user/tokens/verify");
        assert.equal(none.status, 400);
        assert.deepEqual(errorCodes(none), [9106]);
      });
    });

    describe("GET /accounts", () => {
      it("lists only the accounts the credentials cover, paginated", async () => {
        const both = await h.token([accountA, accountB], ["Workers CI Read"]);
        const r = await h.call("GET", "/client/v4/accounts?per_page=1", { token: both.value });
        assert.equal(r.status, 200);
        assert.equal(r.body.result.length, 1);
        assert.deepEqual(r.body.result_info, { page: 1, per_page: 1, count: 1, total_count: 2, total_pages: 2, next_page: true });
        const page2 = await h.call("GET", "/client/v4/accounts?per_page=1&page=2", { token: both.value });
        assert.deepEqual(page2.body.result_info, { page: 2, per_page: 1, count: 1, total_count: 2, total_pages: 2, next_page: false });
        const ids = [r.body.result[0].id, page2.body.result[0].id].sort();
        assert.deepEqual(ids, [accountA, accountB].sort());
        assert.deepEqual(Object.keys(r.body.result[0]).sort(), ["created_on", "id", "name", "type"]);

        const onlyA = await h.call("GET", "/client/v4/accounts", { token: read });
        assert.deepEqual(onlyA.body.result.map((a: { id: string }) => a.id), [accountA]);
        const viaKey = await h.call("GET", "/client/v4/accounts", { headers: { "x-auth-email": user.email, "x-auth-key": user.api_key } });
        assert.deepEqual(viaKey.body.result.map((a: { id: string; name: string }) => [a.id, a.name]), [[accountA, "a"]]);
      });

      for (const q of ["per_page=0", "per_page=201", "page=0", "page=x", "per_page=1.5"]) {
        it(`rejects ${q} with 400 12013 naming the query parameter`, async () => {
          const r = await h.call("GET", `/client/v4/accounts?${q}`, { token: read });
          assert.equal(r.status, 400);
          assert.deepEqual(errorCodes(r), [12013]);
          const [name] = q.split("=");
          const range = name === "page" ? "must be an integer ≥ 1" : "must be an integer from 1 to 200";
          assert.deepEqual(r.body.errors, [{ code: 12013, message: `Invalid query parameter: ${name}: ${range}` }]);
        });
      }
    });
  });
}

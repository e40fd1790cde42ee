import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { dialects } from "../helpers/databases.ts";
import { errorCodes, startHarness, type Harness } from "../helpers/harness.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const body = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  provider_account_id: "315958746",
  provider_account_name: "acme",
  provider_type: "github",
  repo_id: "1397342994",
  repo_name: "app",
  ...overrides,
});

for (const dialect of dialects()) {
  describe(`${dialect}: repository connections (#7, #8)`, () => {
    let h: Harness;
    let account: string;
    let other: string;
    let write: string;
    let read: string;
    let otherWrite: string;
    const url = (a = account) => `/client/v4/accounts/${a}/builds/repos/connections`;
    const rows = async (a = account) =>
      h.store.db.kysely.selectFrom("repo_connections").selectAll().where("account_id", "=", a).orderBy("uuid").execute();

    before(async () => {
      h = await startHarness(dialect);
      account = (await h.account("a")).id;
      other = (await h.account("b")).id;
      write = (await h.token([account], ["Workers CI Write"])).value;
      read = (await h.token([account], ["Workers CI Read"])).value;
      otherWrite = (await h.token([other], ["Workers CI Write"])).value;
    });
    after(() => h.close());

    it("PUT creates a connection in Cloudflare's shape (unknown fields ignored)", async () => {
      const r = await h.call("PUT", url(), { token: write, body: body({ repo_id: "1", unknown_field: true }) });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.success, true);
      const c = r.body.result;
      assert.match(c.repo_connection_uuid, UUID);
      assert.match(c.created_on, ISO);
      assert.equal(c.modified_on, c.created_on);
      assert.deepEqual(c, {
        repo_connection_uuid: c.repo_connection_uuid,
        provider_type: "github",
        provider_account_id: "315958746",
        provider_account_name: "acme",
        repo_id: "1",
        repo_name: "app",
        created_on: c.created_on,
        modified_on: c.created_on,
        deleted_on: null,
      });
    });

    it("PUT of the same provider_type + repo_id updates the one connection; another provider is another connection", async () => {
      const first = (await h.call("PUT", url(), { token: write, body: body({ repo_id: "2" }) })).body.result;
      const again = await h.call("PUT", url(), {
        token: write,
        body: body({ repo_id: "2", repo_name: "renamed", provider_account_name: "acme-inc", provider_account_id: "42" }),
      });
      assert.equal(again.status, 200);
      assert.equal(again.body.result.repo_connection_uuid, first.repo_connection_uuid);
      assert.equal(again.body.result.repo_name, "renamed");
      assert.equal(again.body.result.provider_account_name, "acme-inc");
      assert.equal(again.body.result.provider_account_id, "42");
      assert.equal(again.body.result.created_on, first.created_on);
      assert.ok(again.body.result.modified_on >= first.modified_on);
      const stored = (await rows()).filter((r) => r.repo_id === "2");
      assert.equal(stored.length, 1);
      assert.equal(stored[0]?.repo_name, "renamed");

      const gitlab = await h.call("PUT", url(), { token: write, body: body({ repo_id: "2", provider_type: "gitlab" }) });
      assert.equal(gitlab.status, 200);
      assert.notEqual(gitlab.body.result.repo_connection_uuid, first.repo_connection_uuid);
      assert.equal(gitlab.body.result.provider_type, "gitlab");
    });

    it("every provider type is accepted; gitlab_internal needs a non-empty grant_id", async () => {
      for (const provider_type of ["github", "gitlab", "origin"]) {
        const r = await h.call("PUT", url(), { token: write, body: body({ repo_id: `p-${provider_type}`, provider_type }) });
        assert.equal(r.status, 200, provider_type);
        assert.equal(r.body.result.provider_type, provider_type);
      }
      for (const grant of [undefined, null, ""]) {
        const before = (await rows()).length;
        const r = await h.call("PUT", url(), {
          token: write,
          body: body({ repo_id: "internal", provider_type: "gitlab_internal", ...(grant === undefined ? {} : { grant_id: grant }) }),
        });
        assert.equal(r.status, 400, String(grant));
        assert.deepEqual(errorCodes(r), [12002]);
        assert.match(r.body.errors[0].message, /^Invalid request body: grant_id: /);
        assert.equal((await rows()).length, before, "nothing stored");
      }
      const ok = await h.call("PUT", url(), { token: write, body: body({ repo_id: "internal", provider_type: "gitlab_internal", grant_id: "g-1" }) });
      assert.equal(ok.status, 200);
      assert.equal(ok.body.result.provider_type, "gitlab_internal");
      assert.equal((await rows()).find((r) => r.repo_id === "internal")?.grant_id, "g-1");
    });

    it("DELETE soft-deletes (null result); deleting again is 404 12000; PUT revives the same connection", async () => {
      const c = (await h.call("PUT", url(), { token: write, body: body({ repo_id: "3" }) })).body.result;
      const del = await h.call("DELETE", `${url()}/${c.repo_connection_uuid}`, { token: write });
      assert.equal(del.status, 200);
      assert.deepEqual(del.body, { success: true, errors: [], messages: [], result: null });
      const row = (await rows()).find((r) => r.uuid === c.repo_connection_uuid);
      assert.match(String(row?.deleted_on), ISO, "soft delete keeps the row with deleted_on");

      const again = await h.call("DELETE", `${url()}/${c.repo_connection_uuid}`, { token: write });
      assert.equal(again.status, 404);
      assert.deepEqual(again.body.errors, [{ code: 12000, message: "Not found" }]);

      const revived = await h.call("PUT", url(), { token: write, body: body({ repo_id: "3", repo_name: "back" }) });
      assert.equal(revived.status, 200);
      assert.equal(revived.body.result.repo_connection_uuid, c.repo_connection_uuid);
      assert.equal(revived.body.result.deleted_on, null);
      assert.equal(revived.body.result.repo_name, "back");
      assert.equal((await rows()).find((r) => r.uuid === c.repo_connection_uuid)?.deleted_on, null);
    });

    it("DELETE of an unknown id, a non-UUID id, or another account's connection → 404 12000", async () => {
      const foreign = (await h.call("PUT", url(other), { token: otherWrite, body: body({ repo_id: "foreign" }) })).body.result;
      for (const id of ["6f1c2b1e-0000-4000-8000-000000000000", "not-a-uuid", foreign.repo_connection_uuid]) {
        const r = await h.call("DELETE", `${url()}/${id}`, { token: write });
        assert.equal(r.status, 404, id);
        assert.deepEqual(errorCodes(r), [12000]);
      }
      const stored = await rows(other);
      assert.equal(stored.find((r) => r.uuid === foreign.repo_connection_uuid)?.deleted_on, null, "the other account's connection is untouched");
    });

    it("a PUT under account A with B's repo id makes A's own connection", async () => {
      const b = (await h.call("PUT", url(other), { token: otherWrite, body: body({ repo_id: "shared" }) })).body.result;
      const a = (await h.call("PUT", url(), { token: write, body: body({ repo_id: "shared" }) })).body.result;
      assert.notEqual(a.repo_connection_uuid, b.repo_connection_uuid);
    });

    it("a Read token cannot write (403 10000); a token for another account gets 403", async () => {
      for (const [method, path] of [
        ["PUT", url()],
        ["DELETE", `${url()}/6f1c2b1e-0000-4000-8000-000000000000`],
      ] as const) {
        const r = await h.call(method, path, { token: read, body: body() });
        assert.equal(r.status, 403, `${method} ${path}`);
        assert.deepEqual(r.body.errors, [{ code: 10000, message: "Authentication error" }]);
        const foreign = await h.call(method, path, { token: otherWrite, body: body() });
        assert.equal(foreign.status, 403);
      }
    });

    it("bad bodies → 400 12002 naming the field, nothing stored", async () => {
      const before = await rows();
      const required = ["provider_account_id", "provider_account_name", "provider_type", "repo_id", "repo_name"];
      const cases: [Record<string, unknown> | undefined, string][] = [
        ...required.map((f): [Record<string, unknown>, string] => {
          const b = body({ repo_id: "bad" });
          delete b[f];
          return [b, `${f}: required`];
        }),
        [body({ provider_type: "bitbucket" }), "provider_type: must be one of github, gitlab, gitlab_internal, origin"],
        [body({ repo_id: 1397342994 }), "repo_id: "],
        [body({ repo_name: ["app"] }), "repo_name: "],
        [body({ provider_account_name: "" }), "provider_account_name: must not be empty"],
        [body({ repo_name: "x".repeat(257) }), "repo_name: must be at most 256 characters"],
        [body({ provider_account_id: "x".repeat(257) }), "provider_account_id: must be at most 256 characters"],
        [undefined, "body: required"],
      ];
      for (const [b, message] of cases) {
        const r = await h.call("PUT", url(), { token: write, ...(b === undefined ? {} : { body: b }) });
        assert.equal(r.status, 400, JSON.stringify(b));
        assert.deepEqual(errorCodes(r), [12002]);
        assert.ok(r.body.errors[0].message.startsWith(`Invalid request body: ${message}`), `${r.body.errors[0].message} ≠ ${message}`);
      }
      const ok = await h.call("PUT", url(), { token: write, body: body({ repo_name: "x".repeat(256), repo_id: "long" }) });
      assert.equal(ok.status, 200, "256 characters are allowed");
      assert.deepEqual((await rows()).length, before.length + 1);
    });
  });
}

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { applyEnvPatch, presentEnvVars } from "../../src/domain/env-vars.ts";
import type { EnvVar, Trigger } from "../../src/domain/config-types.ts";
import { KilnError } from "../../src/errors.ts";
import { newUuid } from "../../src/domain/ids.ts";
import { dialects } from "../helpers/databases.ts";
import { seed } from "../helpers/fixtures.ts";
import { errorCodes, startHarness, type Harness } from "../helpers/harness.ts";

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** A trigger row inserted through the repositories (triggers are another endpoint's concern). */
async function insertTrigger(h: Harness, accountId: string, workerName: string, deleted = false): Promise<Trigger> {
  const s = await seed(h, accountId, workerName);
  const now = new Date().toISOString();
  const trigger: Trigger = {
    trigger_uuid: newUuid(),
    account_id: accountId,
    external_script_id: s.worker.tag,
    role: "production",
    trigger_name: "Deploy main",
    repo_connection_uuid: s.connection.repo_connection_uuid,
    build_token_uuid: s.buildToken.build_token_uuid,
    build_command: "npm run build",
    deploy_command: "npx wrangler deploy",
    root_directory: "/",
    branch_includes: ["main"],
    branch_excludes: [],
    path_includes: ["*"],
    path_excludes: [],
    build_caching_enabled: false,
    cache_generation: 0,
    created_on: now,
    modified_on: now,
    deleted_on: deleted ? now : null,
  };
  await h.store.transaction((r) => r.triggers.insert(trigger));
  return trigger;
}

describe("applyEnvPatch / presentEnvVars (pure)", () => {
  const existing: EnvVar[] = [
    { key: "A", is_secret: false, value: "1", created_on: "2026-01-01T00:00:00.000Z" },
    { key: "S", is_secret: true, value: "hidden", created_on: "2026-01-02T00:00:00.000Z" },
  ];
  const now = "2026-02-01T00:00:00.000Z";

  it("upserts keep created_on of existing keys, null deletes, unknown null is no change", () => {
    const plan = applyEnvPatch(existing, { A: { is_secret: true, value: "2" }, B: { is_secret: false, value: "b" }, S: null, NOPE: null }, { now });
    assert.deepEqual(plan.upserts, [
      { key: "A", is_secret: true, value: "2", created_on: "2026-01-01T00:00:00.000Z" },
      { key: "B", is_secret: false, value: "b", created_on: now },
    ]);
    assert.deepEqual(plan.removals, ["S"]);
    assert.deepEqual(plan.result.map((v) => v.key), ["A", "B"]);
  });

  it("rejects bad keys, long values and more than 64 variables, naming the key (with an optional prefix)", () => {
    const code = (fn: () => unknown, message: string) =>
      assert.throws(fn, (e: unknown) => e instanceof KilnError && e.status === 400 && e.code === 12002 && e.errors[0]?.message === message);
    code(() => applyEnvPatch([], { "1BAD": { is_secret: false, value: "" } }), "Invalid request body: 1BAD: Key contains invalid characters");
    code(() => applyEnvPatch([], { "A-B": null }), "Invalid request body: A-B: Key contains invalid characters");
    code(
      () => applyEnvPatch([], { "bad key": { is_secret: false, value: "" } }, { fieldPrefix: "environment_variables." }),
      "Invalid request body: environment_variables.bad key: Key contains invalid characters",
    );
    code(() => applyEnvPatch([], { LONG: { is_secret: false, value: "x".repeat(5001) } }), "Invalid request body: LONG.value: must be at most 5000 characters");
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`V${String(i).padStart(2, "0")}`, { is_secret: false, value: "" }]));
    code(() => applyEnvPatch([], many), "Invalid request body: V64: too many variables: at most 64 per owner");
    const sixtyFour = Object.fromEntries(Object.entries(many).slice(0, 64));
    assert.equal(applyEnvPatch([], sixtyFour).result.length, 64);
    // Deleting one in the same patch makes room for another.
    const full = applyEnvPatch([], sixtyFour).result;
    assert.equal(applyEnvPatch(full, { V00: null, NEW: { is_secret: false, value: "" } }).result.length, 64);
  });

  it("presents secrets with value null, a variable called __proto__ included", () => {
    const shown = presentEnvVars([...existing, { key: "__proto__", is_secret: false, value: "p", created_on: now }]);
    assert.deepEqual(
      JSON.parse(JSON.stringify(shown)),
      JSON.parse(
        JSON.stringify({
          A: { created_on: "2026-01-01T00:00:00.000Z", is_secret: false, value: "1" },
          S: { created_on: "2026-01-02T00:00:00.000Z", is_secret: true, value: null },
        }).replace(/}$/, `,"__proto__":{"created_on":"${now}","is_secret":false,"value":"p"}}`),
      ),
    );
    assert.equal(JSON.stringify(shown).includes("hidden"), false);
  });
});

for (const dialect of dialects()) {
  describe(`${dialect}: a trigger's environment variables (#18, #19, #20)`, () => {
    let h: Harness;
    let account: string;
    let other: string;
    let write: string;
    let read: string;
    let otherWrite: string;
    let n = 0;
    const url = (t: Trigger | string, a = account) =>
      `/client/v4/accounts/${a}/builds/triggers/${typeof t === "string" ? t : t.trigger_uuid}/environment_variables`;
    const fresh = () => insertTrigger(h, account, `env-worker-${++n}`);
    const stored = (t: Trigger) => h.store.envVars.list("trigger", t.trigger_uuid);

    before(async () => {
      h = await startHarness(dialect);
      account = (await h.account("a")).id;
      other = (await h.account("b")).id;
      write = (await h.token([account], ["Workers CI Write"])).value;
      read = (await h.token([account], ["Workers CI Read"])).value;
      otherWrite = (await h.token([other], ["Workers CI Write"])).value;
    });
    after(() => h.close());

    it("a secret shorter than 4 characters is stored, and the answer says it will not be masked in logs", async () => {
      const t = await fresh();
      const short = await h.call("PATCH", url(t), { token: write, body: { PIN: { is_secret: true, value: "e" }, LONG: { is_secret: true, value: "abcd" }, PLAIN: { is_secret: false, value: "x" } } });
      assert.equal(short.status, 200, JSON.stringify(short.body));
      assert.deepEqual(short.body.messages, ["PIN: secret values shorter than 4 characters are not masked in build logs"]);
      assert.equal(short.body.result.PIN.value, null);
      const list = await h.call("PATCH", url(t), { token: write, body: { variables: [{ key: "TINY", value: "ab", type: "secret" }, { key: "OK", value: "long enough", type: "secret" }] } });
      assert.deepEqual(list.body.messages, ["TINY: secret values shorter than 4 characters are not masked in build logs"]);
      const fine = await h.call("PATCH", url(t), { token: write, body: { LONG: { is_secret: true, value: "abcde" } } });
      assert.deepEqual(fine.body.messages, []);
    });

    it("map form: PATCH upserts and answers only the upserted keys; GET lists all; secrets are null everywhere", async () => {
      const t = await fresh();
      const empty = await h.call("GET", url(t), { token: read });
      assert.equal(empty.status, 200);
      assert.deepEqual(empty.body, { success: true, errors: [], messages: [], result: {} });

      const secret = "super-secret-value-123";
      const first = await h.call("PATCH", url(t), {
        token: write,
        body: { API_KEY: { is_secret: true, value: secret }, NODE_ENV: { is_secret: false, value: "production", extra: 1 } },
      });
      assert.equal(first.status, 200, JSON.stringify(first.body));
      const r1 = first.body.result;
      assert.match(r1.API_KEY.created_on, ISO);
      assert.deepEqual(r1, {
        API_KEY: { created_on: r1.API_KEY.created_on, is_secret: true, value: null },
        NODE_ENV: { created_on: r1.NODE_ENV.created_on, is_secret: false, value: "production" },
      });
      assert.equal(JSON.stringify(first.body).includes(secret), false);

      await new Promise((r) => setTimeout(r, 5));
      const second = await h.call("PATCH", url(t), { token: write, body: { NODE_ENV: { is_secret: false, value: "staging" }, _X1: { is_secret: false, value: "" } } });
      assert.equal(second.status, 200);
      assert.deepEqual(Object.keys(second.body.result).sort(), ["NODE_ENV", "_X1"], "only the upserted keys");
      assert.equal(second.body.result.NODE_ENV.created_on, r1.NODE_ENV.created_on, "created_on of an existing key is kept");
      assert.equal(second.body.result.NODE_ENV.value, "staging");

      const all = await h.call("GET", url(t), { token: read });
      assert.deepEqual(all.body.result, {
        API_KEY: { created_on: r1.API_KEY.created_on, is_secret: true, value: null },
        NODE_ENV: { created_on: r1.NODE_ENV.created_on, is_secret: false, value: "staging" },
        _X1: second.body.result._X1,
      });
      assert.equal(JSON.stringify(all.body).includes(secret), false);
      const api = (await stored(t)).find((v) => v.key === "API_KEY");
      assert.equal(api?.value, secret, "the secret is kept (sealed) for builds");
      const raw = await h.store.db.kysely.selectFrom("env_vars").select("value").where("owner_id", "=", t.trigger_uuid).where("key", "=", "API_KEY").executeTakeFirstOrThrow();
      assert.notEqual(raw.value, secret, "sealed at rest");

      // A secret can become plain and back.
      const flip = await h.call("PATCH", url(t), { token: write, body: { API_KEY: { is_secret: false, value: "now-plain" } } });
      assert.deepEqual(flip.body.result.API_KEY, { created_on: r1.API_KEY.created_on, is_secret: false, value: "now-plain" });
    });

    it("list form {variables: [{key, value, type}]} works the same", async () => {
      const t = await fresh();
      const secret = "list-form-secret-xyz";
      const r = await h.call("PATCH", url(t), {
        token: write,
        body: { variables: [{ key: "TOKEN", value: secret, type: "secret" }, { key: "MODE", value: "ci", type: "text", extra: true }] },
      });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body.result, {
        TOKEN: { created_on: r.body.result.TOKEN.created_on, is_secret: true, value: null },
        MODE: { created_on: r.body.result.MODE.created_on, is_secret: false, value: "ci" },
      });
      assert.equal(JSON.stringify(r.body).includes(secret), false);
      assert.deepEqual((await stored(t)).map((v) => [v.key, v.is_secret, v.value]), [["MODE", false, "ci"], ["TOKEN", true, secret]]);

      // `variables` next to another key, or not an array, is the map form: a variable called "variables".
      const asMap = await h.call("PATCH", url(t), { token: write, body: { variables: { is_secret: false, value: "v" } } });
      assert.equal(asMap.status, 200);
      assert.deepEqual(Object.keys(asMap.body.result), ["variables"]);
      const empty = await h.call("PATCH", url(t), { token: write, body: { variables: [] } });
      assert.equal(empty.status, 200);
      assert.deepEqual(empty.body.result, {});
    });

    it("a rejected PATCH stores none of its keys (one valid and one invalid key)", async () => {
      const t = await fresh();
      await h.call("PATCH", url(t), { token: write, body: { KEEP: { is_secret: false, value: "old" } } });
      const before = await stored(t);
      const cases: [unknown, string][] = [
        [{ GOOD: { is_secret: false, value: "x" }, "1BAD": { is_secret: false, value: "y" } }, "Invalid request body: 1BAD: Key contains invalid characters"],
        [{ KEEP: { is_secret: false, value: "new" }, "BAD-KEY": { is_secret: false, value: "y" } }, "Invalid request body: BAD-KEY: Key contains invalid characters"],
        [{ GOOD: { is_secret: false, value: "x" }, LONG: { is_secret: false, value: "x".repeat(5001) } }, "Invalid request body: LONG.value: must be at most 5000 characters"],
        [{ GOOD: { is_secret: false, value: "x" }, NOSECRET: { value: "x" } }, "Invalid request body: NOSECRET.is_secret: required"],
        [{ GOOD: { is_secret: false, value: "x" }, NOVALUE: { is_secret: false } }, "Invalid request body: NOVALUE.value: required"],
        [{ GOOD: { is_secret: false, value: "x" }, WRONG: { is_secret: "yes", value: "x" } }, "Invalid request body: WRONG.is_secret: "],
        [{ GOOD: { is_secret: false, value: "x" }, NUM: { is_secret: false, value: 5 } }, "Invalid request body: NUM.value: "],
        [{ GOOD: { is_secret: false, value: "x" }, NULL: null }, "Invalid request body: NULL: "],
        [{ variables: [{ key: "GOOD", value: "x", type: "text" }, { key: "9LIVES", value: "x", type: "text" }] }, "Invalid request body: 9LIVES: Key contains invalid characters"],
        [{ variables: [{ key: "GOOD", value: "x", type: "text" }, { key: "T", value: "x", type: "json" }] }, "Invalid request body: variables.1.type: "],
        [{ variables: [{ key: "GOOD", value: "x", type: "text" }, { value: "x", type: "text" }] }, "Invalid request body: variables.1.key: required"],
        [{ variables: [{ key: "GOOD", value: "x", type: "text" }, { key: "V", type: "text" }] }, "Invalid request body: variables.1.value: required"],
        [{ variables: [{ key: "GOOD", value: "x", type: "text" }, { key: "GOOD", value: "y", type: "text" }] }, "Invalid request body: variables.1.key: duplicate key GOOD"],
        [{ variables: [{ key: "LONG", value: "x".repeat(5001), type: "text" }] }, "Invalid request body: variables.0.value: must be at most 5000 characters"],
        [[{ key: "A" }], "Invalid request body: body: "],
        ["text", "Invalid request body: body: "],
        [undefined, "Invalid request body: body: required"],
      ];
      for (const [body, message] of cases) {
        const r = await h.call("PATCH", url(t), { token: write, ...(body === undefined ? {} : { body }) });
        assert.equal(r.status, 400, JSON.stringify(body)?.slice(0, 120));
        assert.deepEqual(errorCodes(r), [12002]);
        assert.ok(r.body.errors[0].message.startsWith(message), `${r.body.errors[0].message} ≠ ${message}`);
        assert.deepEqual(await stored(t), before, `unchanged after ${JSON.stringify(body)?.slice(0, 80)}`);
      }
    });

    it("at most 64 variables per trigger after the upsert; the 65th key is named", async () => {
      const t = await fresh();
      const vars = (from: number, count: number) =>
        Object.fromEntries(Array.from({ length: count }, (_, i) => [`V${String(from + i).padStart(2, "0")}`, { is_secret: false, value: "v" }]));
      assert.equal((await h.call("PATCH", url(t), { token: write, body: vars(0, 60) })).status, 200);
      const over = await h.call("PATCH", url(t), { token: write, body: vars(58, 7) }); // 2 updates + 5 new = 65
      assert.equal(over.status, 400);
      assert.deepEqual(over.body.errors, [{ code: 12002, message: "Invalid request body: V64: too many variables: at most 64 per owner" }]);
      assert.equal((await stored(t)).length, 60, "nothing stored");
      const fits = await h.call("PATCH", url(t), { token: write, body: vars(58, 6) }); // 64 exactly
      assert.equal(fits.status, 200);
      assert.equal((await stored(t)).length, 64);
      const updateOnly = await h.call("PATCH", url(t), { token: write, body: vars(0, 3) });
      assert.equal(updateOnly.status, 200, "updating existing keys at the limit is fine");
    });

    it("DELETE removes one key (null result); unknown key → 404 12000; others stay", async () => {
      const t = await fresh();
      await h.call("PATCH", url(t), { token: write, body: { A: { is_secret: false, value: "a" }, B: { is_secret: true, value: "b" } } });
      const del = await h.call("DELETE", `${url(t)}/B`, { token: write });
      assert.equal(del.status, 200);
      assert.deepEqual(del.body, { success: true, errors: [], messages: [], result: null });
      assert.deepEqual(Object.keys((await h.call("GET", url(t), { token: read })).body.result), ["A"]);
      for (const key of ["B", "NOPE", "1BAD"]) {
        const r = await h.call("DELETE", `${url(t)}/${key}`, { token: write });
        assert.equal(r.status, 404, key);
        assert.deepEqual(r.body.errors, [{ code: 12000, message: "Not found" }]);
      }
      assert.deepEqual((await stored(t)).map((v) => v.key), ["A"]);
    });

    it("unknown, soft-deleted, non-UUID and other accounts' triggers → 404 12000 on every method", async () => {
      const gone = await insertTrigger(h, account, `env-gone-${++n}`, true);
      const foreign = await insertTrigger(h, other, `env-foreign-${++n}`);
      await h.call("PATCH", url(foreign, other), { token: otherWrite, body: { F: { is_secret: false, value: "f" } } });
      for (const id of ["6f1c2b1e-0000-4000-8000-000000000000", "not-a-uuid", gone.trigger_uuid, foreign.trigger_uuid]) {
        const calls = [
          h.call("GET", url(id), { token: read }),
          h.call("PATCH", url(id), { token: write, body: { A: { is_secret: false, value: "a" } } }),
          h.call("DELETE", `${url(id)}/F`, { token: write }),
        ];
        for (const r of await Promise.all(calls)) {
          assert.equal(r.status, 404, id);
          assert.deepEqual(errorCodes(r), [12000]);
        }
      }
      assert.deepEqual((await stored(gone)).length, 0);
      assert.deepEqual((await stored(foreign)).map((v) => [v.key, v.value]), [["F", "f"]], "the other account's variables are untouched");
    });

    it("Read tokens can GET but not PATCH or DELETE (403 10000)", async () => {
      const t = await fresh();
      assert.equal((await h.call("GET", url(t), { token: read })).status, 200);
      for (const [method, path] of [["PATCH", url(t)], ["DELETE", `${url(t)}/A`]] as const) {
        const r = await h.call(method, path, { token: read, body: { A: { is_secret: false, value: "a" } } });
        assert.equal(r.status, 403);
        assert.deepEqual(r.body.errors, [{ code: 10000, message: "Authentication error" }]);
      }
      assert.deepEqual(await stored(t), []);
      assert.equal((await h.call("GET", url(t), { token: otherWrite })).status, 403);
    });

    it("a variable may be called __proto__", async () => {
      const t = await fresh();
      const r = await h.call("PATCH", url(t), { token: write, rawBody: '{"__proto__": {"is_secret": false, "value": "p"}}' });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(Object.keys(r.body.result), ["__proto__"]);
      assert.deepEqual((await stored(t)).map((v) => v.key), ["__proto__"]);
      const listed = await h.call("GET", url(t), { token: read });
      assert.equal(Object.getOwnPropertyDescriptor(listed.body.result, "__proto__")?.value?.value, "p");
    });
  });
}

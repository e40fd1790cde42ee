import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { dialects } from "../helpers/databases.ts";
import { errorCodes, startHarness, type Harness } from "../helpers/harness.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

for (const dialect of dialects()) {
  describe(`${dialect}: deploy hooks (#33–#37)`, () => {
    let h: Harness;
    let account: string;
    let other: string;
    let write: string;
    let read: string;
    let otherWrite: string;
    let n = 0;
    const url = (worker: string, a = account) => `/client/v4/accounts/${a}/builds/workers/${worker}/deploy_hooks`;
    const worker = () => h.worker(account, `hooks-${++n}`);
    const count = async () => Number((await h.store.db.kysely.selectFrom("deploy_hooks").select((eb) => eb.fn.countAll().as("n")).executeTakeFirstOrThrow()).n);

    before(async () => {
      h = await startHarness(dialect);
      account = (await h.account("a")).id;
      other = (await h.account("b")).id;
      write = (await h.token([account], ["Workers CI Write"])).value;
      read = (await h.token([account], ["Workers CI Read"])).value;
      otherWrite = (await h.token([other], ["Workers CI Write"])).value;
    });
    after(() => h.close());

    it("create → get → list → update → delete round-trip, addressed by Worker name", async () => {
      const w = await worker();
      const created = await h.call("POST", url(w.name), { token: write, body: { deploy_hook_name: "  Nightly  ", branch: " main ", unknown: 1 } });
      assert.equal(created.status, 200, JSON.stringify(created.body));
      const hook = created.body.result;
      assert.match(hook.deploy_hook_uuid, UUID);
      assert.match(hook.created_on, ISO);
      assert.deepEqual(hook, {
        deploy_hook_uuid: hook.deploy_hook_uuid,
        deploy_hook_name: "Nightly",
        branch: "main",
        external_script_id: w.tag,
        created_on: hook.created_on,
        modified_on: hook.created_on,
      });

      const got = await h.call("GET", `${url(w.name)}/${hook.deploy_hook_uuid}`, { token: read });
      assert.equal(got.status, 200);
      assert.deepEqual(got.body.result, hook);

      const listed = await h.call("GET", url(w.name), { token: read });
      assert.equal(listed.status, 200);
      assert.deepEqual(listed.body.result, [{ ...hook, latest_build: null }]);

      await new Promise((r) => setTimeout(r, 5));
      const updated = await h.call("PUT", `${url(w.name)}/${hook.deploy_hook_uuid}`, { token: write, body: { deploy_hook_name: "Hourly", branch: "release" } });
      assert.equal(updated.status, 200);
      assert.deepEqual(
        { ...updated.body.result, modified_on: "x" },
        { ...hook, deploy_hook_name: "Hourly", branch: "release", modified_on: "x" },
      );
      assert.ok(updated.body.result.modified_on > hook.modified_on);
      // Same name on itself is not a clash.
      const same = await h.call("PUT", `${url(w.name)}/${hook.deploy_hook_uuid}`, { token: write, body: { deploy_hook_name: "Hourly", branch: "main" } });
      assert.equal(same.status, 200);

      const deleted = await h.call("DELETE", `${url(w.name)}/${hook.deploy_hook_uuid}`, { token: write });
      assert.equal(deleted.status, 200);
      assert.deepEqual(deleted.body.result, same.body.result, "the deleted hook, not null");
      assert.equal((await h.store.deployHooks.getByUuid(hook.deploy_hook_uuid)), undefined, "gone: the UUID can no longer start builds");
      assert.deepEqual((await h.call("GET", url(w.name), { token: read })).body.result, []);
      for (const method of ["GET", "PUT", "DELETE"]) {
        const r = await h.call(method, `${url(w.name)}/${hook.deploy_hook_uuid}`, { token: write, body: { deploy_hook_name: "x", branch: "y" } });
        assert.equal(r.status, 404, method);
        assert.deepEqual(r.body.errors, [{ code: 12000, message: "Not found" }]);
      }
    });

    it("duplicate names within a Worker → 409 12010 (create and rename); other Workers may reuse a name", async () => {
      const w = await worker();
      const a = (await h.call("POST", url(w.name), { token: write, body: { deploy_hook_name: "deploy", branch: "main" } })).body.result;
      const b = (await h.call("POST", url(w.name), { token: write, body: { deploy_hook_name: "other", branch: "main" } })).body.result;
      const before = await count();
      const dup = await h.call("POST", url(w.name), { token: write, body: { deploy_hook_name: " deploy ", branch: "dev" } });
      assert.equal(dup.status, 409);
      assert.deepEqual(dup.body.errors, [{ code: 12010, message: "Already exists" }]);
      assert.equal(await count(), before);
      const rename = await h.call("PUT", `${url(w.name)}/${b.deploy_hook_uuid}`, { token: write, body: { deploy_hook_name: "deploy", branch: "dev" } });
      assert.equal(rename.status, 409);
      assert.deepEqual(errorCodes(rename), [12010]);
      const unchanged = await h.call("GET", `${url(w.name)}/${b.deploy_hook_uuid}`, { token: read });
      assert.deepEqual(unchanged.body.result, b, "a rejected PUT changes nothing");

      const w2 = await worker();
      const reuse = await h.call("POST", url(w2.name), { token: write, body: { deploy_hook_name: "deploy", branch: "main" } });
      assert.equal(reuse.status, 200);
      assert.equal(reuse.body.result.external_script_id, w2.tag);
      // A hook is only reachable under its own Worker.
      const cross = await h.call("GET", `${url(w2.name)}/${a.deploy_hook_uuid}`, { token: read });
      assert.equal(cross.status, 404);
      assert.deepEqual(errorCodes(cross), [12000]);
    });

    it("list is oldest first with latest_build null", async () => {
      const w = await worker();
      const names = ["one", "two", "three"];
      for (const name of names) {
        await h.call("POST", url(w.name), { token: write, body: { deploy_hook_name: name, branch: "main" } });
        // created_on has millisecond resolution: hooks made within one millisecond have no order.
        await new Promise((r) => setTimeout(r, 3));
      }
      const listed = await h.call("GET", url(w.name), { token: read });
      assert.deepEqual(listed.body.result.map((x: { deploy_hook_name: string }) => x.deploy_hook_name), names);
      assert.ok(listed.body.result.every((x: { latest_build: unknown }) => x.latest_build === null));
    });

    it("unknown Worker name, Worker tag instead of name, non-UUID hook id, and another account's hook → 404 12000", async () => {
      const w = await worker();
      const mine = (await h.call("POST", url(w.name), { token: write, body: { deploy_hook_name: "h", branch: "main" } })).body.result;
      const ow = await h.worker(other, w.name);
      const foreign = (await h.call("POST", url(ow.name, other), { token: otherWrite, body: { deploy_hook_name: "h", branch: "main" } })).body.result;
      assert.equal(foreign.external_script_id, ow.tag);
      const cases: [string, string][] = [
        ["GET", url("no-such-worker")],
        ["POST", url("no-such-worker")],
        ["GET", url(w.tag)],
        ["GET", `${url(w.name)}/not-a-uuid`],
        ["PUT", `${url(w.name)}/not-a-uuid`],
        ["DELETE", `${url(w.name)}/not-a-uuid`],
        ["GET", `${url(w.name)}/${foreign.deploy_hook_uuid}`],
        ["PUT", `${url(w.name)}/${foreign.deploy_hook_uuid}`],
        ["DELETE", `${url(w.name)}/${foreign.deploy_hook_uuid}`],
        ["GET", `${url("no-such-worker")}/${mine.deploy_hook_uuid}`],
      ];
      for (const [method, path] of cases) {
        const r = await h.call(method, path, { token: write, body: { deploy_hook_name: "z", branch: "main" } });
        assert.equal(r.status, 404, `${method} ${path}`);
        assert.deepEqual(errorCodes(r), [12000]);
      }
      const still = await h.call("GET", `${url(ow.name, other)}/${foreign.deploy_hook_uuid}`, { token: otherWrite });
      assert.deepEqual(still.body.result, foreign, "the other account's hook is untouched");
    });

    it("Read tokens can GET but not POST, PUT or DELETE (403 10000)", async () => {
      const w = await worker();
      const hook = (await h.call("POST", url(w.name), { token: write, body: { deploy_hook_name: "h", branch: "main" } })).body.result;
      assert.equal((await h.call("GET", url(w.name), { token: read })).status, 200);
      assert.equal((await h.call("GET", `${url(w.name)}/${hook.deploy_hook_uuid}`, { token: read })).status, 200);
      const before = await count();
      for (const [method, path] of [
        ["POST", url(w.name)],
        ["PUT", `${url(w.name)}/${hook.deploy_hook_uuid}`],
        ["DELETE", `${url(w.name)}/${hook.deploy_hook_uuid}`],
      ] as const) {
        const r = await h.call(method, path, { token: read, body: { deploy_hook_name: "new", branch: "main" } });
        assert.equal(r.status, 403, method);
        assert.deepEqual(r.body.errors, [{ code: 10000, message: "Authentication error" }]);
      }
      assert.equal(await count(), before);
      assert.deepEqual((await h.call("GET", `${url(w.name)}/${hook.deploy_hook_uuid}`, { token: read })).body.result, hook);
      assert.equal((await h.call("GET", url(w.name), { token: otherWrite })).status, 403);
    });

    it("bad bodies on POST and PUT → 400 12002 naming the field; nothing changes", async () => {
      const w = await worker();
      const hook = (await h.call("POST", url(w.name), { token: write, body: { deploy_hook_name: "h", branch: "main" } })).body.result;
      const before = await count();
      const cases: [Record<string, unknown> | undefined, string][] = [
        [{ branch: "main" }, "deploy_hook_name: required"],
        [{ deploy_hook_name: "x" }, "branch: required"],
        [{ deploy_hook_name: "", branch: "main" }, "deploy_hook_name: must not be empty"],
        [{ deploy_hook_name: "   ", branch: "main" }, "deploy_hook_name: must not be empty"],
        [{ deploy_hook_name: "x", branch: "  " }, "branch: must not be empty"],
        [{ deploy_hook_name: "n".repeat(59), branch: "main" }, "deploy_hook_name: must be at most 58 characters"],
        [{ deploy_hook_name: "x", branch: "b".repeat(257) }, "branch: must be at most 256 characters"],
        [{ deploy_hook_name: 5, branch: "main" }, "deploy_hook_name: "],
        [{ deploy_hook_name: "x", branch: ["main"] }, "branch: "],
        [undefined, "body: required"],
      ];
      for (const [method, path] of [["POST", url(w.name)], ["PUT", `${url(w.name)}/${hook.deploy_hook_uuid}`]] as const) {
        for (const [b, message] of cases) {
          const r = await h.call(method, path, { token: write, ...(b === undefined ? {} : { body: b }) });
          assert.equal(r.status, 400, `${method} ${JSON.stringify(b)}`);
          assert.deepEqual(errorCodes(r), [12002]);
          assert.ok(r.body.errors[0].message.startsWith(`Invalid request body: ${message}`), r.body.errors[0].message);
        }
      }
      assert.equal(await count(), before);
      assert.deepEqual((await h.call("GET", `${url(w.name)}/${hook.deploy_hook_uuid}`, { token: read })).body.result, hook);
      const max = await h.call("POST", url(w.name), { token: write, body: { deploy_hook_name: ` ${"n".repeat(58)} `, branch: "b".repeat(256) } });
      assert.equal(max.status, 200, "58 / 256 characters after trimming are allowed");
      assert.equal(max.body.result.deploy_hook_name, "n".repeat(58));
    });
  });
}

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { dialects, makeDatabase, type TestDatabase } from "../helpers/databases.ts";
import { kiln } from "../helpers/cli.ts";

for (const dialect of dialects()) {
  describe(`${dialect}: admin CLI`, () => {
    let db: TestDatabase;
    let where: string[];
    before(async () => {
      db = await makeDatabase(dialect);
      where = db.flags;
    });
    after(() => db.cleanup());

    const json = async (args: string[]) => {
      const r = await kiln([...args, ...where, "--json"]);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split("\n");
      assert.equal(lines.length, 1, "exactly one JSON object on stdout");
      return JSON.parse(lines[0] ?? "") as Record<string, unknown>;
    };

    it("creates and lists accounts, tokens, users and Workers; revokes tokens", async () => {
      const account = await json(["account", "create", "--name", "Acme"]);
      assert.match(String(account.id), /^[0-9a-f]{32}$/);
      assert.deepEqual(Object.keys(account).sort(), ["id", "name"]);
      assert.equal(account.name, "Acme");
      const id = String(account.id);

      const list = await json(["account", "list"]);
      assert.ok((list.accounts as { id: string }[]).some((a) => a.id === id));

      const token = await json(["token", "create", "--account", id, "--name", "ci", "--permission", "Workers CI Write", "--permission", "Workers CI Read", "--expires-on", "2099-01-01T00:00:00Z"]);
      assert.deepEqual(Object.keys(token).sort(), ["id", "value"]);
      assert.match(String(token.value), /^[A-Za-z0-9_-]{40}$/);
      const tokens = (await json(["token", "list", "--account", id])).tokens as Record<string, unknown>[];
      assert.equal(tokens.length, 1);
      assert.equal(tokens[0]?.id, token.id);
      assert.deepEqual(tokens[0]?.permission_groups, ["Workers CI Write", "Workers CI Read"]);
      assert.equal(tokens[0]?.expires_on, "2099-01-01T00:00:00.000Z");
      assert.equal(JSON.stringify(tokens).includes(String(token.value)), false, "a token's value is never listed");

      const revoked = await json(["token", "revoke", String(token.id)]);
      assert.equal(typeof revoked.revoked_on, "string");

      const user = await json(["user", "create", "--email", "dev@example.com", "--account", id]);
      assert.equal(user.email, "dev@example.com");
      assert.match(String(user.api_key), /^[0-9a-f]{37}$/);

      const worker = await json(["worker", "create", "--account", id, "--name", "my-worker"]);
      assert.equal(worker.id, "my-worker");
      assert.match(String(worker.tag), /^[0-9a-f]{32}$/);
      const workers = (await json(["worker", "list", "--account", id])).workers as Record<string, unknown>[];
      assert.deepEqual(workers.map((w) => [w.id, w.tag]), [["my-worker", worker.tag]]);
    });

    it("rejects missing or invalid flags with exit 2, a message on stderr, and writes nothing", async () => {
      const before = (await json(["account", "list"])).accounts as unknown[];
      const cases: [string[], RegExp][] = [
        [["account", "create"], /missing required option --name/],
        [["token", "create", "--name", "x", "--permission", "Workers CI Write"], /missing required option --account/],
        [["token", "create", "--account", "nothex", "--name", "x", "--permission", "Workers CI Write"], /invalid --account/],
        [["token", "create", "--account", "a".repeat(32), "--name", "x", "--permission", "Admin"], /invalid --permission "Admin"/],
        [["token", "create", "--account", "a".repeat(32), "--name", "x", "--permission", "Workers CI Read", "--expires-on", "soon"], /invalid --expires-on/],
        [["worker", "create", "--account", "a".repeat(32), "--name", "Bad Name"], /invalid --name/],
        [["user", "create", "--email", "nope", "--account", "a".repeat(32)], /invalid --email/],
        [["account", "create", "--name", "x", "--bogus"], /unknown option/],
        [["frobnicate"], /unknown command/],
      ];
      for (const [args, message] of cases) {
        const r = await kiln([...args, ...where]);
        assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
        assert.match(r.stderr, message);
        assert.equal(r.stdout, "");
      }
      const after = (await json(["account", "list"])).accounts as unknown[];
      assert.equal(after.length, before.length);
    });

    it("accounts and Workers carry Cloudflare's real ids (--id, --tag); malformed is exit 2, a duplicate exit 1", async () => {
      const real = randomBytes(16).toString("hex");
      const tag = randomBytes(16).toString("hex");
      assert.deepEqual(await json(["account", "create", "--name", "team", "--id", real]), { id: real, name: "team" });
      assert.deepEqual(await json(["worker", "create", "--account", real, "--name", "site", "--tag", tag]), { id: "site", tag });
      const workers = (await json(["worker", "list", "--account", real])).workers as Record<string, unknown>[];
      assert.deepEqual(workers.map((w) => [w.id, w.tag]), [["site", tag]]);

      const other = String((await json(["account", "create", "--name", "other"])).id);
      const refused: [string[], number, RegExp][] = [
        [["account", "create", "--name", "again", "--id", real], 1, new RegExp(`^kiln: an account with id ${real} already exists\n$`)],
        [["worker", "create", "--account", other, "--name", "site2", "--tag", tag], 1, new RegExp(`^kiln: a Worker with tag ${tag} already exists\n$`)],
        [["account", "create", "--name", "x", "--id", real.toUpperCase()], 2, /invalid --id "[0-9A-F]{32}": an account id is 32 lowercase hex characters/],
        [["worker", "create", "--account", other, "--name", "x", "--tag", "abc"], 2, /invalid --tag "abc": a Worker tag is 32 lowercase hex characters/],
      ];
      for (const [args, code, message] of refused) {
        const r = await kiln([...args, ...where]);
        assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
        assert.match(r.stderr, message);
        assert.equal(r.stdout, "");
      }
      assert.deepEqual((await json(["worker", "list", "--account", other])).workers, []);
    });

    it("an operation error (unknown account, duplicate) exits 1 and writes nothing", async () => {
      const missing = await kiln(["token", "create", "--account", "f".repeat(32), "--name", "x", "--permission", "Workers CI Read", ...where]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /no account with id f{32}/);
      const id = String((await json(["account", "create", "--name", "dup"])).id);
      await json(["worker", "create", "--account", id, "--name", "w"]);
      const dup = await kiln(["worker", "create", "--account", id, "--name", "w", ...where]);
      assert.equal(dup.code, 1);
      assert.match(dup.stderr, /already exists/);
      const workers = (await json(["worker", "list", "--account", id])).workers as unknown[];
      assert.equal(workers.length, 1);
    });
  });
}

describe("configuration errors", () => {
  it("an invalid --port or KILN_PORT exits 2 and says what to fix", async () => {
    const flag = await kiln(["serve", "--port", "abc"]);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /invalid --port \(or KILN_PORT\): must be a number/);
    const env = await kiln(["serve"], { KILN_PORT: "70000" });
    assert.equal(env.code, 2);
    assert.match(env.stderr, /invalid --port \(or KILN_PORT\): must be between 0 and 65535/);
    const db = await kiln(["account", "list", "--database", "mysql://x"]);
    assert.equal(db.code, 2);
    assert.match(db.stderr, /invalid --database \(or KILN_DATABASE_URL\): must be a postgres/);
  });
});

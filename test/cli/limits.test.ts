import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { dialects, makeDatabase, type TestDatabase } from "../helpers/databases.ts";
import { kiln } from "../helpers/cli.ts";

for (const dialect of dialects()) {
  describe(`${dialect}: kiln account set-limits`, () => {
    let db: TestDatabase;
    let account: string;
    before(async () => {
      db = await makeDatabase(dialect);
      account = String((await json(["account", "create", "--name", "Acme"])).id);
    });
    after(() => db.cleanup());

    async function json(args: string[]): Promise<Record<string, unknown>> {
      const r = await kiln([...args, ...db.flags, "--json"]);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split("\n");
      assert.equal(lines.length, 1, "exactly one JSON object on stdout");
      return JSON.parse(lines[0] ?? "") as Record<string, unknown>;
    }

    it("sets either limit, keeps the other, prints the account's limits; no flag just shows them", async () => {
      assert.deepEqual(await json(["account", "set-limits", "--account", account]), {
        account_id: account,
        build_minutes_limit: null,
        concurrency_limit: null,
      });
      assert.deepEqual(await json(["account", "set-limits", "--account", account, "--build-minutes", "3000"]), {
        account_id: account,
        build_minutes_limit: 3000,
        concurrency_limit: null,
      });
      assert.deepEqual(await json(["account", "set-limits", "--account", account, "--concurrency", "2"]), {
        account_id: account,
        build_minutes_limit: 3000,
        concurrency_limit: 2,
      });
      assert.deepEqual(await json(["account", "set-limits", "--account", account, "--build-minutes", "0", "--concurrency", "10"]), {
        account_id: account,
        build_minutes_limit: 0,
        concurrency_limit: 10,
      });
      assert.deepEqual(await json(["account", "set-limits", "--account", account, "--build-minutes", "unlimited", "--concurrency", "default"]), {
        account_id: account,
        build_minutes_limit: null,
        concurrency_limit: null,
      });
      const human = await kiln(["account", "set-limits", "--account", account, "--build-minutes", "60", ...db.flags]);
      assert.equal(human.code, 0, human.stderr);
      assert.match(human.stdout, /build_minutes_limit=60/);
      assert.match(human.stdout, /concurrency_limit=default/);
    });

    it("invalid numbers and a missing or malformed --account → exit 2, nothing changed", async () => {
      const before = await json(["account", "set-limits", "--account", account]);
      const cases: [string[], RegExp][] = [
        [["--account", account, "--build-minutes", "-1"], /invalid --build-minutes "-1"/],
        [["--account", account, "--build-minutes", "1.5"], /invalid --build-minutes "1.5"/],
        [["--account", account, "--build-minutes", "lots"], /invalid --build-minutes "lots"/],
        [["--account", account, "--build-minutes", "99999999999"], /invalid --build-minutes/],
        [["--account", account, "--concurrency", "0"], /invalid --concurrency "0"/],
        [["--account", account, "--concurrency", "two"], /invalid --concurrency "two"/],
        [["--account", account, "--concurrency", ""], /invalid --concurrency/],
        [["--build-minutes", "10"], /missing required option --account/],
        [["--account", "nothex", "--build-minutes", "10"], /invalid --account/],
      ];
      for (const [args, message] of cases) {
        const r = await kiln(["account", "set-limits", ...args, ...db.flags, "--json"]);
        assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
        assert.match(r.stderr, message);
        assert.equal(r.stdout, "");
      }
      assert.deepEqual(await json(["account", "set-limits", "--account", account]), before);
    });

    it("an unknown account → exit 1", async () => {
      const r = await kiln(["account", "set-limits", "--account", "0".repeat(32), "--build-minutes", "10", ...db.flags, "--json"]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /no account with id 0{32}/);
      assert.equal(r.stdout, "");
    });
  });
}

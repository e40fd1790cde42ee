import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { dialects, makeDatabase, type TestDatabase } from "../helpers/databases.ts";
import { startServer } from "../helpers/cli.ts";

for (const dialect of dialects()) {
  describe(`${dialect}: kiln serve`, () => {
    let db: TestDatabase;
    let where: string[];
    before(async () => {
      db = await makeDatabase(dialect);
      where = db.flags;
    });
    after(() => db.cleanup());

    it("bootstraps on an empty database, answers over real HTTP, and stops cleanly on SIGTERM", async () => {
      fs.chmodSync(db.dataDir, 0o755); // as an operator might have made it: the server tightens it
      const server = await startServer(where);
      const deadline = Date.now() + 10_000;
      while (!server.stdout().includes("curl") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const out = server.stdout();
      const accountId = /^account_id=([0-9a-f]{32})$/m.exec(out)?.[1];
      const token = /^token=([A-Za-z0-9_-]{40})$/m.exec(out)?.[1];
      assert.ok(accountId && token, out);
      assert.match(out, new RegExp(`curl -s ${server.base}/client/v4/user/tokens/verify -H "Authorization: Bearer ${token}"`));
      assert.doesNotMatch(server.stderr(), new RegExp(token), "the token never appears in the logs");

      const verify = await fetch(`${server.base}/client/v4/user/tokens/verify`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(verify.status, 200);
      const body = (await verify.json()) as { success: boolean; result: { status: string } };
      assert.equal(body.success, true);
      assert.equal(body.result.status, "active");
      assert.ok(verify.headers.get("x-request-id"));

      const accounts = (await (await fetch(`${server.base}/client/v4/accounts`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
        result: { id: string; name: string }[];
      };
      assert.deepEqual(accounts.result.map((a) => [a.id, a.name]), [[accountId, "default"]]);

      server.child.kill("SIGTERM");
      assert.equal(await server.exited, 0);
      assert.match(server.stderr(), /"msg":"stopped"/);
      // The start says how builds are isolated (a warning when they are not).
      assert.match(server.stderr(), /"msg":"(builds run under bubblewrap; build network: (isolated|none \(isolated unavailable[^"]*\))|WARNING: builds are NOT isolated: [^"]+)"/);
      // Nothing of the data dir is open to other local users: 0700, its files 0600.
      const mode = (file: string) => (fs.statSync(file).mode & 0o777).toString(8);
      assert.equal(mode(db.dataDir), "700");
      for (const entry of fs.readdirSync(db.dataDir, { withFileTypes: true })) {
        assert.equal(mode(path.join(db.dataDir, entry.name)), entry.isDirectory() ? "700" : "600", entry.name);
      }

      // The second start finds the account: no new bootstrap block.
      const again = await startServer(where);
      await new Promise((r) => setTimeout(r, 200));
      assert.doesNotMatch(again.stdout(), /token=/);
      const still = await fetch(`${again.base}/client/v4/user/tokens/verify`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(still.status, 200);
      again.child.kill("SIGINT");
      assert.equal(await again.exited, 0);
    });
  });
}

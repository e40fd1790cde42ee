/** Concurrent requests that create the same thing: never a 500, never two rows. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { dialects } from "../helpers/databases.ts";
import { startHarness, type Harness } from "../helpers/harness.ts";

for (const dialect of dialects()) {
  describe(`${dialect}: racing creates`, () => {
    let h: Harness;
    let account: string;
    let token: string;
    before(async () => {
      h = await startHarness(dialect);
      account = (await h.account()).id;
      token = (await h.token([account], ["Workers CI Write"])).value;
      await h.worker(account, "racer");
    });
    after(() => h.close());

    it("8 concurrent upserts of one repository connection: all 200, one connection", async () => {
      const body = { provider_type: "github", provider_account_id: "1", provider_account_name: "acme", repo_id: "777", repo_name: "app" };
      const answers = await Promise.all(
        Array.from({ length: 8 }, () => h.call("PUT", `/client/v4/accounts/${account}/builds/repos/connections`, { token, body })),
      );
      assert.deepEqual(answers.map((a) => a.status), Array(8).fill(200));
      assert.equal(new Set(answers.map((a) => a.body.result.repo_connection_uuid)).size, 1);
    });

    it("8 concurrent deploy hooks with one name: one 200, the rest 409 12010", async () => {
      const answers = await Promise.all(
        Array.from({ length: 8 }, () =>
          h.call("POST", `/client/v4/accounts/${account}/builds/workers/racer/deploy_hooks`, { token, body: { deploy_hook_name: "deploy", branch: "main" } }),
        ),
      );
      const statuses = answers.map((a) => a.status).sort();
      assert.deepEqual(statuses, [200, ...Array(7).fill(409)]);
      for (const a of answers.filter((x) => x.status === 409)) assert.equal(a.body.errors[0].code, 12010);
    });
  });
}

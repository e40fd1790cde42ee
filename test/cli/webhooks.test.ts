/**
 * Webhooks through the real binary: `kiln account webhook-secret` shows and
 * rotates an account's secret, a push delivered over HTTP to `kiln serve` builds, and
 * `kiln deliveries list` shows what each delivery did.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { dialects, makeDatabase, type TestDatabase } from "../helpers/databases.ts";
import { kiln, startServer } from "../helpers/cli.ts";
import { githubPush, signGithub } from "../helpers/webhooks.ts";

for (const dialect of dialects()) {
  describe(`${dialect}: webhook CLI`, () => {
    let db: TestDatabase;
    before(async () => {
      db = await makeDatabase(dialect);
    });
    after(() => db.cleanup());

    const json = async (args: string[]) => {
      const r = await kiln([...args, ...db.flags, "--json"]);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as Record<string, unknown>;
    };

    it("shows and rotates the secret; deliveries are listed with their outcome; a rotated secret is refused", async () => {
      const account = String((await json(["account", "create", "--name", "hooks"])).id);
      const token = String((await json(["token", "create", "--account", account, "--name", "ci", "--permission", "Workers CI Write"])).value);
      const worker = await json(["worker", "create", "--account", account, "--name", "hooked"]);
      const shown = await json(["account", "webhook-secret", "--account", account]);
      assert.deepEqual(Object.keys(shown).sort(), ["account_id", "rotated", "webhook_secret"]);
      assert.equal(shown.rotated, false);
      const secret = String(shown.webhook_secret);
      assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
      assert.equal((await json(["account", "webhook-secret", "--account", account])).webhook_secret, secret, "showing does not change it");
      const plain = await kiln(["account", "webhook-secret", "--account", account, ...db.flags]);
      assert.equal(plain.stdout.trim(), secret);

      const server = await startServer([...db.flags, "--no-runner", "--git-url-template", "file:///nonexistent/{repo_name}.git"]);
      try {
        const api = (p: string, method: string, body?: unknown) =>
          fetch(`${server.base}/client/v4/accounts/${account}/builds${p}`, {
            method,
            headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
            body: body === undefined ? undefined : JSON.stringify(body),
          }).then(async (r) => ({ status: r.status, body: (await r.json()) as { result: Record<string, string> } }));
        const conn = await api("/repos/connections", "PUT", { provider_type: "github", provider_account_id: "1", provider_account_name: "acme", repo_id: "4242", repo_name: "hooked" });
        assert.equal(conn.status, 200);
        const buildTok = await api("/tokens", "POST", { build_token_name: "t", build_token_secret: "cf-secret-value", cloudflare_token_id: "cf-id" });
        assert.equal(buildTok.status, 200, JSON.stringify(buildTok.body));
        const trig = await api("/triggers", "POST", {
          external_script_id: worker.tag, trigger_name: "p", repo_connection_uuid: conn.body.result.repo_connection_uuid, build_token_uuid: buildTok.body.result.build_token_uuid,
          build_command: "", deploy_command: "npx wrangler deploy", root_directory: "/", branch_includes: ["main"], branch_excludes: [], path_includes: ["*"], path_excludes: [],
        });
        assert.equal(trig.status, 200, JSON.stringify(trig.body));

        const sha = "a".repeat(40);
        const deliver = (key: string, deliveryId: string, ref = "refs/heads/main") => {
          const body = JSON.stringify(githubPush({ id: 4242, owner: "acme", name: "hooked" }, ref, sha, [{ id: sha, message: "hello", modified: ["x"] }]));
          return fetch(`${server.base}/webhooks/github/${account}`, {
            method: "POST",
            headers: { "content-type": "application/json", "x-github-event": "push", "x-github-delivery": deliveryId, "x-hub-signature-256": signGithub(key, body) },
            body,
          }).then(async (r) => ({ status: r.status, body: (await r.json()) as { result: { builds: { build_uuid: string }[] } } }));
        };
        const built = await deliver(secret, "delivery-1");
        assert.equal(built.status, 202);
        assert.equal(built.body.result.builds.length, 1);
        assert.equal((await deliver(secret, "delivery-2", "refs/heads/dev")).status, 202);

        const rotated = await json(["account", "webhook-secret", "--account", account, "--rotate"]);
        assert.equal(rotated.rotated, true);
        assert.notEqual(rotated.webhook_secret, secret);
        assert.equal((await deliver(secret, "delivery-3")).status, 401, "the old secret is refused at once");
        assert.equal((await deliver(String(rotated.webhook_secret), "delivery-1")).status, 202);

        const listed = (await json(["deliveries", "list", "--account", account])).deliveries as Record<string, unknown>[];
        assert.deepEqual(
          listed.map((d) => [d.delivery_id, d.status, d.outcome]),
          [["delivery-2", 202, "skipped"], ["delivery-1", 202, "built"]],
          "newest first; the replay of delivery-1 was not recorded again; the 401 was not recorded",
        );
        assert.deepEqual((listed[0]?.result as { skipped: unknown[] }).skipped, [{ trigger_uuid: trig.body.result.trigger_uuid, reason: "branch_not_included" }]);
        const table = await kiln(["deliveries", "list", "--account", account, ...db.flags]);
        assert.equal(table.code, 0);
        assert.match(table.stdout, /^received_on\s+provider\s+event\s+delivery_id\s+status\s+outcome\s+builds\s+skipped/);
        assert.match(table.stdout, /github\s+push\s+delivery-2\s+202\s+skipped\s+0\s+branch_not_included/);
        assert.ok(!server.stderr().includes(secret) && !server.stderr().includes(String(rotated.webhook_secret)), "secrets never logged");
      } finally {
        server.child.kill("SIGTERM");
        await server.exited;
      }
    });

    it("usage errors exit 2; an unknown account exits 1", async () => {
      assert.equal((await kiln(["account", "webhook-secret", ...db.flags])).code, 2);
      assert.equal((await kiln(["deliveries", "list", "--account", "nope", ...db.flags])).code, 2);
      assert.equal((await kiln(["deliveries", "list", "--account", "a".repeat(32), "--limit", "0", ...db.flags])).code, 2);
      const missing = await kiln(["deliveries", "list", "--account", "a".repeat(32), ...db.flags]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /no account with id/);
      assert.equal((await kiln(["account", "webhook-secret", "--account", "b".repeat(32), ...db.flags])).code, 1);
    });
  });
}

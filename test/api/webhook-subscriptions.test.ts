/**
 * Webhook destinations through the subscriptions API, on SQLite and PostgreSQL: the URL checked
 * when subscribing (scheme, credentials, private addresses, Kiln's own API), the secret answered
 * once and never again nor logged, the delivery log and redelivery routes with their errors.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setupTrigger, startBuild, waitFor, waitForStatus, type BuildSetup } from "../helpers/builds.ts";
import { dialects } from "../helpers/databases.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";
import { errorCodes, startHarness, type Harness } from "../helpers/harness.ts";
import { startReceiver, type Receiver } from "../helpers/webhook-receiver.ts";

const T = "cf.workersBuilds.worker.build.";
const SOURCE = { type: "workersBuilds.worker", worker_name: "app" };

for (const dialect of dialects()) {
  describe(`${dialect}: webhook subscriptions API`, () => {
    let strict: Harness;
    let open: Harness;
    let repo: TestRepo;
    let s: BuildSetup;
    let o: BuildSetup;
    let receiver: Receiver;
    let secret = "";
    let sRead = "";
    let oRead = "";
    const logs: string[] = [];
    const subs = (setup: BuildSetup) => `/client/v4/accounts/${setup.accountId}/event_subscriptions/subscriptions`;

    before(async () => {
      repo = makeRepo({ name: `hooks-api-${dialect}`, files: { "README.md": "x\n" }, message: "First" });
      strict = await startHarness(dialect, {}, { gitUrlTemplate: repo.template });
      open = await startHarness(dialect, {}, { runner: true, gitUrlTemplate: repo.template, buildTimeout: 60, webhookAllowPrivate: true }, { logs, logLevel: "debug" });
      s = await setupTrigger(strict, repo, {}, "app");
      o = await setupTrigger(open, repo, { build: "true" }, "app");
      // Subscriptions are read with Queues Read (Workers CI Read does not grant it).
      sRead = (await strict.token([s.accountId], ["Queues Read"])).value;
      oRead = (await open.token([o.accountId], ["Queues Read"])).value;
      receiver = await startReceiver(() => secret);
      open.kiln.deliverer.start();
    });
    after(async () => {
      await receiver.close();
      await strict.close();
      await open.close();
      repo.cleanup();
    });

    const create = (h: Harness, setup: BuildSetup, url: string, events = [`${T}succeeded`]) =>
      h.call("POST", subs(setup), { token: setup.write, body: { name: "hook", source: SOURCE, events, destination: { type: "webhook", url } } });

    it("refuses URLs that are not http(s), carry credentials, resolve privately, or are Kiln's own API", async () => {
      const refused = async (h: Harness, setup: BuildSetup, url: string, message: string) => {
        const r = await create(h, setup, url);
        assert.equal(r.status, 400, JSON.stringify(r.body));
        assert.deepEqual(errorCodes(r), [12002]);
        assert.equal(r.body.errors[0].message, message);
      };
      await refused(strict, s, "ftp://example.com/", "Invalid request body: destination.url: must be an http:// or https:// URL");
      await refused(strict, s, "hooks.example.com/x", "Invalid request body: destination.url: must be an absolute http:// or https:// URL");
      await refused(strict, s, "https://u:p@hooks.example.com/", "Invalid request body: destination.url: must not carry a user name or password (put a token in the path or query instead)");
      await refused(strict, s, "http://10.1.2.3/hook", "Invalid request body: destination.url: host 10.1.2.3 resolves to 10.1.2.3, a loopback, private, link-local or reserved address (allowed only with kiln serve --webhook-allow-private)");
      await refused(strict, s, "http://[fe80::1]/hook", "Invalid request body: destination.url: host fe80::1 resolves to fe80::1, a loopback, private, link-local or reserved address (allowed only with kiln serve --webhook-allow-private)");
      await refused(strict, s, "http://169.254.169.254/latest/meta-data", "Invalid request body: destination.url: host 169.254.169.254 resolves to 169.254.169.254, a loopback, private, link-local or reserved address (allowed only with kiln serve --webhook-allow-private)");
      await refused(strict, s, "http://nothing.invalid/", "Invalid request body: destination.url: host nothing.invalid does not resolve (ENOTFOUND)");
      // Allowed private destinations still never include Kiln's own API (its port on this host, or its public URL).
      await refused(open, o, "http://127.0.0.1:8787/client/v4/workers/deploy_hooks/x", "Invalid request body: destination.url: is Kiln's own API");
      await refused(open, o, "http://localhost/client/v4", "Invalid request body: destination.url: is Kiln's own API");
      const bad = await open.call("POST", subs(o), { token: o.write, body: { name: "hook", source: SOURCE, events: [`${T}started`], destination: { type: "email", to: "x" } } });
      assert.equal(bad.status, 400);
      assert.match(bad.body.errors[0].message, /destination: type: must be "queues.queue" or "webhook"|destination.type/);
      // Nothing was stored.
      const list = await strict.call("GET", subs(s), { token: sRead });
      assert.equal(list.body.result.length, 0);
    });

    it("answers the secret once; GET, list and PATCH never show it, and no log line holds it", async () => {
      const r = await create(open, o, receiver.url, [`${T}started`, `${T}succeeded`]);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const sub = r.body.result;
      assert.match(sub.destination.secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
      secret = sub.destination.secret;
      assert.deepEqual(Object.keys(sub.destination).sort(), ["secret", "type", "url"]);
      const got = await open.call("GET", `${subs(o)}/${sub.id}`, { token: oRead });
      assert.deepEqual(got.body.result.destination, { type: "webhook", url: receiver.url });
      const list = await open.call("GET", subs(o), { token: oRead });
      assert.deepEqual(list.body.result.map((x: { destination: unknown }) => x.destination), [{ type: "webhook", url: receiver.url }]);
      // A new URL keeps the secret (and does not answer it again).
      const moved = await open.call("PATCH", `${subs(o)}/${sub.id}`, { token: o.write, body: { destination: { type: "webhook", url: `${receiver.url}?v=2` } } });
      assert.equal(moved.status, 200, JSON.stringify(moved.body));
      assert.deepEqual(moved.body.result.destination, { type: "webhook", url: `${receiver.url}?v=2` });
      const refused = await strict.call("PATCH", `${subs(s)}/${"0".repeat(32)}`, { token: s.write, body: { destination: { type: "webhook", url: "http://192.168.0.10/" } } });
      assert.equal(refused.status, 400, "the URL is checked before the subscription is looked up");

      const uuid = await startBuild(open, o);
      await waitForStatus(open, o, uuid, "stopped");
      await waitFor("both events delivered", async () => receiver.requests.filter((x) => x.answered === 204).length === 2);
      assert.ok(receiver.requests.every((x) => x.verified));
      assert.deepEqual(receiver.requests.map((x) => x.body.type), [`${T}started`, `${T}succeeded`]);
      assert.ok(logs.some((l) => l.includes('"msg":"webhook delivered"')), "deliveries are logged");
      for (const line of logs) assert.ok(!line.includes(secret.slice(6)), `a log line holds the secret: ${line.slice(0, 300)}`);
    });

    it("lists deliveries with their attempts and redelivers one", async () => {
      const [sub] = (await open.call("GET", subs(o), { token: oRead })).body.result;
      const path = `${subs(o)}/${sub.id}/deliveries`;
      const list = await waitFor("both recorded", async () => {
        const r = await open.call("GET", path, { token: oRead });
        return r.body.result.every((d: { state: string }) => d.state === "delivered") ? r : undefined;
      });
      assert.equal(list.status, 200);
      assert.equal(list.body.result_info.total_count, 2);
      const [succeeded, started] = list.body.result;
      assert.equal(succeeded.event_type, `${T}succeeded`);
      assert.equal(started.event_type, `${T}started`);
      assert.deepEqual(
        { state: started.state, attempts: started.attempts, last_status: started.last_status, last_error: started.last_error, next_attempt_on: started.next_attempt_on, subscription_id: started.subscription_id },
        { state: "delivered", attempts: 1, last_status: 204, last_error: null, next_attempt_on: null, subscription_id: sub.id },
      );
      const one = await open.call("GET", `${path}/${started.id}`, { token: oRead });
      assert.equal(one.status, 200);
      assert.equal(one.body.result.attempt_log.length, 1);
      assert.deepEqual(Object.keys(one.body.result.attempt_log[0]).sort(), ["attempt", "duration_ms", "error", "node", "response_body", "started_on", "status"]);
      assert.equal(one.body.result.attempt_log[0].status, 204);
      assert.equal(one.body.result.attempt_log[0].node, open.kiln.deliverer.node);

      const before = receiver.requests.length;
      const again = await open.call("POST", `${path}/${started.id}/redeliver`, { token: o.write });
      assert.equal(again.status, 200, JSON.stringify(again.body));
      assert.equal(again.body.result.state, "pending");
      await waitFor("the redelivery", async () => receiver.requests.length === before + 1);
      assert.equal(receiver.requests.at(-1)?.id, started.id, "same webhook-id");
      await waitFor("recorded", async () => (await open.call("GET", `${path}/${started.id}`, { token: oRead })).body.result.attempts === 2);

      const none = "0".repeat(32);
      const missing = await open.call("POST", `${path}/${none}/redeliver`, { token: o.write });
      assert.equal(missing.status, 404);
      assert.equal(missing.body.errors[0].message, "Webhook delivery not found");
      assert.equal((await open.call("GET", `${path}/${none}`, { token: oRead })).status, 404);
      const noSub = await open.call("GET", `${subs(o)}/${none}/deliveries`, { token: oRead });
      assert.equal(noSub.status, 404);
      assert.equal(noSub.body.errors[0].message, "Event subscription not found");
      assert.equal((await open.call("POST", `${path}/${started.id}/redeliver`, { token: oRead })).status, 403, "redelivery needs write");
      assert.equal((await open.call("GET", `${path}/not-an-id`, { token: oRead })).status, 404);
    });
  });
}

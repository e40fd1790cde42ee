/**
 * Build events through Cloudflare's Queues and event subscriptions API, with the official
 * `cloudflare` SDK (7.x) as the client over loopback HTTP: queues and subscriptions are
 * managed with it, real builds (success, failure, cancel, timeout) raise the events, and the
 * SDK pulls and acknowledges them with exact fields. Also: visibility timeouts, retries with a
 * delay, the retry limit, permissions, and that a rolled-back change raises nothing.
 */
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import Cloudflare from "cloudflare";
import type { FastifyInstance } from "fastify";
import { createApp } from "../../src/api/app.ts";
import { newUuid } from "../../src/domain/ids.ts";
import { prune } from "../../src/domain/retention.ts";
import { getBuild, setupTrigger, startBuild, waitFor, waitForStatus, type BuildSetup } from "../helpers/builds.ts";
import { dialects } from "../helpers/databases.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";
import { startHarness, type Harness } from "../helpers/harness.ts";

const ALL = ["started", "succeeded", "failed", "canceled", "queued", "skipped"].map((e) => `cf.workersBuilds.worker.build.${e}`);
const CLOUDFLARE_ONLY = ALL.slice(0, 4);

interface Pulled {
  id: string;
  lease_id: string;
  attempts: number;
  timestamp_ms: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the envelope is checked field by field
  envelope: any;
}

for (const dialect of dialects()) {
  describe(`${dialect}: build events through the cloudflare SDK`, () => {
    let h: Harness;
    let repo: TestRepo;
    let app: FastifyInstance;
    let base: string;

    before(async () => {
      repo = makeRepo({ name: `events-${dialect}`, files: { "README.md": "hello\n" }, message: "First commit" });
      h = await startHarness(dialect, {}, { runner: true, gitUrlTemplate: repo.template, cancelGrace: 0.2, slots: 4, buildTimeout: 4 });
      app = (await createApp(h.kiln.deps, { validateResponses: true })).fastify;
      await app.listen({ port: 0, host: "127.0.0.1" });
      base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/client/v4`;
    });
    after(async () => {
      await app.close();
      await h.close();
      repo.cleanup();
    });

    const sdk = (token: string) => new Cloudflare({ apiToken: token, baseURL: base, maxRetries: 0 });

    /** An account with a Worker building `command`, a queue and a subscription to `events`. */
    async function subscribed(name: string, command: string, events = ALL) {
      const s = await setupTrigger(h, repo, { build: command }, name);
      const cf = sdk(s.write);
      const queue = await cf.queues.create({ account_id: s.accountId, queue_name: `${name}-events` });
      const subscription = await cf.queues.subscriptions.create({
        account_id: s.accountId,
        name: `${name} builds`,
        enabled: true,
        source: { type: "workersBuilds.worker", worker_name: name },
        events,
        destination: { type: "queues.queue", queue_id: queue.queue_id ?? "" },
      });
      return { s, cf, queueId: queue.queue_id ?? "", subscription };
    }

    async function pull(cf: Cloudflare, accountId: string, queueId: string, options: { batch_size?: number; visibility_timeout_ms?: number } = {}): Promise<{ backlog: number; messages: Pulled[] }> {
      const r = await cf.queues.messages.pull(queueId, { account_id: accountId, batch_size: 100, ...options });
      return {
        backlog: r.message_backlog_count ?? -1,
        messages: (r.messages ?? []).map((m) => {
          assert.deepEqual(m.metadata, { "CF-Content-Type": "json" });
          return {
            id: m.id ?? "",
            lease_id: m.lease_id ?? "",
            attempts: m.attempts ?? -1,
            timestamp_ms: m.timestamp_ms ?? -1,
            envelope: JSON.parse(Buffer.from(m.body ?? "", "base64").toString("utf8")),
          };
        }),
      };
    }

    /** The envelope Cloudflare documents, from the build as the API shows it now (stopped). */
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a build answer
    function expectedEnvelope(type: string, build: any, s: BuildSetup, subscriptionId: string, workerName: string, at: { status: string; outcome: string | null; running: boolean; stopped: boolean }) {
      const m = build.build_trigger_metadata;
      return {
        type: `cf.workersBuilds.worker.build.${type}`,
        source: { type: "workersBuilds.worker", workerName },
        payload: {
          buildUuid: build.build_uuid,
          status: at.status,
          buildOutcome: at.outcome,
          createdAt: build.created_on,
          initializingAt: at.status === "queued" ? null : build.initializing_on,
          runningAt: at.running ? build.running_on : null,
          stoppedAt: at.stopped ? build.stopped_on : null,
          buildTriggerMetadata: {
            buildTriggerSource: m.build_trigger_source,
            branch: m.branch,
            commitHash: m.commit_hash,
            commitMessage: m.commit_message,
            author: m.author,
            buildCommand: m.build_command,
            deployCommand: m.deploy_command,
            rootDirectory: m.root_directory,
            repoName: m.repo_name,
            providerAccountName: m.provider_account_name,
            providerType: m.provider_type,
          },
        },
        metadata: { accountId: s.accountId, eventSubscriptionId: subscriptionId, eventSchemaVersion: 1, eventTimestamp: "" },
      };
    }

    /** Compares with the expected envelope; eventTimestamp must be an ISO time within the build's life. */
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- envelopes
    function sameEnvelope(actual: any, expected: any, timestamp: string) {
      assert.equal(actual.metadata.eventTimestamp, timestamp);
      assert.deepEqual(actual, { ...expected, metadata: { ...expected.metadata, eventTimestamp: timestamp } });
    }

    it("a successful build: queued, started and succeeded, each once, with exact fields; acked, the queue is empty", async () => {
      const { s, cf, queueId, subscription } = await subscribed("ok", "echo built");
      const uuid = await startBuild(h, s);
      const build = await waitForStatus(h, s, uuid, "stopped");
      assert.equal(build.build_outcome, "success");
      const metrics = await waitFor("three messages in the backlog", async () => {
        const m = await cf.queues.getMetrics(queueId, { account_id: s.accountId });
        return m.backlog_count === 3 ? m : undefined;
      });
      assert.ok(metrics.backlog_bytes > 0);
      assert.ok(metrics.oldest_message_timestamp_ms >= Date.parse(build.created_on) && metrics.oldest_message_timestamp_ms <= Date.now());
      const got = await waitFor("three messages", async () => {
        const p = await pull(cf, s.accountId, queueId, { visibility_timeout_ms: 60_000 });
        return p.messages.length === 3 ? p : undefined;
      });
      assert.equal(got.backlog, 3);
      const [queued, started, succeeded] = got.messages as [Pulled, Pulled, Pulled];
      sameEnvelope(queued.envelope, expectedEnvelope("queued", { ...build, build_trigger_metadata: { ...build.build_trigger_metadata, commit_hash: queued.envelope.payload.buildTriggerMetadata.commitHash, commit_message: queued.envelope.payload.buildTriggerMetadata.commitMessage, author: queued.envelope.payload.buildTriggerMetadata.author } }, s, subscription.id, "ok", { status: "queued", outcome: null, running: false, stopped: false }), build.created_on);
      // Created by branch: the commit is resolved when the build initializes, so the queued event has none yet.
      assert.equal(queued.envelope.payload.buildTriggerMetadata.commitHash, "");
      sameEnvelope(started.envelope, expectedEnvelope("started", build, s, subscription.id, "ok", { status: "running", outcome: null, running: true, stopped: false }), build.running_on);
      sameEnvelope(succeeded.envelope, expectedEnvelope("succeeded", build, s, subscription.id, "ok", { status: "stopped", outcome: "success", running: true, stopped: true }), build.stopped_on);
      for (const m of got.messages) {
        assert.equal(m.attempts, 1);
        assert.match(m.id, /^[0-9]+$/);
        assert.equal(m.timestamp_ms, Date.parse(m.envelope.metadata.eventTimestamp));
      }
      const acked = await cf.queues.messages.ack(queueId, { account_id: s.accountId, acks: got.messages.map((m) => ({ lease_id: m.lease_id })) });
      assert.deepEqual(acked, { ackCount: 3, retryCount: 0, warnings: {} });
      const after = await pull(cf, s.accountId, queueId);
      assert.deepEqual(after, { backlog: 0, messages: [] });
      assert.deepEqual(await cf.queues.getMetrics(queueId, { account_id: s.accountId }), { backlog_count: 0, backlog_bytes: 0, oldest_message_timestamp_ms: 0 });
    });

    it("a failed build: started and failed (outcome fail); Kiln's own events are not sent unless named", async () => {
      const { s, cf, queueId, subscription } = await subscribed("bad", "echo no; exit 3", CLOUDFLARE_ONLY);
      const uuid = await startBuild(h, s);
      const build = await waitForStatus(h, s, uuid, "stopped");
      assert.equal(build.build_outcome, "fail");
      const got = await pull(cf, s.accountId, queueId);
      assert.deepEqual(got.messages.map((m) => m.envelope.type), ["cf.workersBuilds.worker.build.started", "cf.workersBuilds.worker.build.failed"]);
      sameEnvelope(got.messages[1]?.envelope, expectedEnvelope("failed", build, s, subscription.id, "bad", { status: "stopped", outcome: "fail", running: true, stopped: true }), build.stopped_on);
    });

    it("a cancelled build: started and canceled (outcome cancelled)", async () => {
      const { s, cf, queueId, subscription } = await subscribed("stop", "echo waiting; sleep 30", CLOUDFLARE_ONLY);
      const uuid = await startBuild(h, s);
      await waitForStatus(h, s, uuid, "running");
      const r = await h.call("PUT", `/client/v4/accounts/${s.accountId}/builds/builds/${uuid}/cancel`, { token: s.write });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const build = await waitForStatus(h, s, uuid, "stopped");
      assert.equal(build.build_outcome, "cancelled");
      const got = await pull(cf, s.accountId, queueId);
      assert.deepEqual(got.messages.map((m) => m.envelope.type), ["cf.workersBuilds.worker.build.started", "cf.workersBuilds.worker.build.canceled"]);
      sameEnvelope(got.messages[1]?.envelope, expectedEnvelope("canceled", build, s, subscription.id, "stop", { status: "stopped", outcome: "cancelled", running: true, stopped: true }), build.stopped_on);
    });

    it("a build over the timeout: started and failed, the payload saying terminated", async () => {
      const { s, cf, queueId, subscription } = await subscribed("slow", "echo waiting; sleep 300", CLOUDFLARE_ONLY);
      const uuid = await startBuild(h, s);
      const build = await waitForStatus(h, s, uuid, "stopped", 20_000);
      assert.equal(build.build_outcome, "terminated");
      const got = await pull(cf, s.accountId, queueId);
      assert.deepEqual(got.messages.map((m) => m.envelope.type), ["cf.workersBuilds.worker.build.started", "cf.workersBuilds.worker.build.failed"]);
      sameEnvelope(got.messages[1]?.envelope, expectedEnvelope("failed", build, s, subscription.id, "slow", { status: "stopped", outcome: "terminated", running: true, stopped: true }), build.stopped_on);
    });

    it("while queued: a build superseded by a newer one raises skipped, a cancelled one canceled", async () => {
      const { s, cf, queueId, subscription } = await subscribed("held", "true");
      // No build of this account may start: both stay queued.
      await h.store.transaction((r) => r.accounts.setLimits(s.accountId, { concurrency_limit: 0 }));
      const older = await startBuild(h, s);
      const newer = await startBuild(h, s);
      const skipped = await waitForStatus(h, s, older, "stopped");
      assert.equal(skipped.build_outcome, "skipped");
      const r = await h.call("PUT", `/client/v4/accounts/${s.accountId}/builds/builds/${newer}/cancel`, { token: s.write });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const cancelled = await getBuild(h, s, newer);
      assert.equal(cancelled.build_outcome, "cancelled");
      const got = await pull(cf, s.accountId, queueId);
      assert.deepEqual(
        got.messages.map((m) => [m.envelope.type.replace("cf.workersBuilds.worker.build.", ""), m.envelope.payload.buildUuid]),
        [["queued", older], ["queued", newer], ["skipped", older], ["canceled", newer]],
      );
      const [skippedEvent, canceledEvent] = [got.messages[2]?.envelope, got.messages[3]?.envelope];
      sameEnvelope(skippedEvent, expectedEnvelope("skipped", skipped, s, subscription.id, "held", { status: "stopped", outcome: "skipped", running: false, stopped: true }), skipped.stopped_on);
      sameEnvelope(canceledEvent, expectedEnvelope("canceled", cancelled, s, subscription.id, "held", { status: "stopped", outcome: "cancelled", running: false, stopped: true }), cancelled.stopped_on);
    });

    it("an unacknowledged message comes back after its visibility timeout; a late ack is still accepted", async () => {
      const { s, cf, queueId } = await subscribed("vis", "true", ["cf.workersBuilds.worker.build.succeeded"]);
      const uuid = await startBuild(h, s);
      await waitForStatus(h, s, uuid, "stopped");
      const first = await pull(cf, s.accountId, queueId, { visibility_timeout_ms: 500 });
      assert.equal(first.messages.length, 1);
      assert.deepEqual(await pull(cf, s.accountId, queueId), { backlog: 1, messages: [] }, "leased: not handed out twice");
      await new Promise((r) => setTimeout(r, 600));
      const again = await pull(cf, s.accountId, queueId, { visibility_timeout_ms: 60_000 });
      assert.equal(again.messages.length, 1);
      const [a, b] = [first.messages[0] as Pulled, again.messages[0] as Pulled];
      assert.equal(b.id, a.id);
      assert.equal(b.attempts, 2);
      assert.notEqual(b.lease_id, a.lease_id);
      assert.deepEqual(b.envelope, a.envelope);
      // Cloudflare accepts an ack by a lease that ran out.
      assert.deepEqual(await cf.queues.messages.ack(queueId, { account_id: s.accountId, acks: [{ lease_id: a.lease_id }] }), { ackCount: 1, retryCount: 0, warnings: {} });
      const twice = await cf.queues.messages.ack(queueId, { account_id: s.accountId, acks: [{ lease_id: b.lease_id }, { lease_id: "nonsense" }] });
      assert.equal(twice.ackCount, 0);
      assert.deepEqual(Object.keys(twice.warnings ?? {}).sort(), [b.lease_id, "nonsense"].sort());
      assert.deepEqual(await pull(cf, s.accountId, queueId), { backlog: 0, messages: [] });
    });

    it("a retry with delay_seconds comes back after the delay; after max_retries (3) deliveries a message is not delivered again", async () => {
      const { s, cf, queueId } = await subscribed("retry", "true", ["cf.workersBuilds.worker.build.succeeded"]);
      const uuid = await startBuild(h, s);
      await waitForStatus(h, s, uuid, "stopped");
      const first = (await pull(cf, s.accountId, queueId)).messages[0] as Pulled;
      const retried = await cf.queues.messages.ack(queueId, { account_id: s.accountId, retries: [{ lease_id: first.lease_id, delay_seconds: 1 }] });
      assert.deepEqual(retried, { ackCount: 0, retryCount: 1, warnings: {} });
      assert.deepEqual((await pull(cf, s.accountId, queueId)).messages, [], "not before its delay");
      await new Promise((r) => setTimeout(r, 1100));
      const second = (await pull(cf, s.accountId, queueId)).messages[0] as Pulled;
      assert.equal(second.id, first.id);
      assert.equal(second.attempts, 2);
      // A retry by a lease that is no longer current does nothing.
      const stale = await cf.queues.messages.ack(queueId, { account_id: s.accountId, retries: [{ lease_id: first.lease_id }] });
      assert.equal(stale.retryCount, 0);
      assert.deepEqual(Object.keys(stale.warnings ?? {}), [first.lease_id]);
      await cf.queues.messages.ack(queueId, { account_id: s.accountId, retries: [{ lease_id: second.lease_id }] });
      const third = (await pull(cf, s.accountId, queueId)).messages[0] as Pulled;
      assert.equal(third.attempts, 3);
      await cf.queues.messages.ack(queueId, { account_id: s.accountId, retries: [{ lease_id: third.lease_id }] });
      // Its third delivery was its last: without a dead-letter queue it is deleted.
      assert.deepEqual(await pull(cf, s.accountId, queueId), { backlog: 0, messages: [] });
    });

    it("the consumer's max_retries and dead-letter queue (Cloudflare's consumers API): an exhausted message moves there", async () => {
      const { s, cf, queueId } = await subscribed("dlq", "true", ["cf.workersBuilds.worker.build.succeeded"]);
      await cf.queues.create({ account_id: s.accountId, queue_name: "dlq-dead" });
      const consumer = await cf.queues.consumers.create(queueId, {
        account_id: s.accountId,
        type: "http_pull",
        dead_letter_queue: "dlq-dead",
        settings: { max_retries: 2, visibility_timeout_ms: 300, batch_size: 10, retry_delay: 0 },
      });
      assert.deepEqual(consumer, {
        consumer_id: queueId,
        type: "http_pull",
        queue_name: "dlq-events",
        created_on: consumer.created_on,
        dead_letter_queue: "dlq-dead",
        settings: { batch_size: 10, max_retries: 2, visibility_timeout_ms: 300, retry_delay: 0 },
      });
      const listed = [];
      for await (const c of cf.queues.consumers.list(queueId, { account_id: s.accountId })) listed.push(c);
      assert.deepEqual(listed, [consumer]);
      const self = await h.call("POST", `/client/v4/accounts/${s.accountId}/queues/${queueId}/consumers`, { token: s.write, body: { type: "http_pull", dead_letter_queue: "dlq-events" } });
      assert.deepEqual([self.status, self.body.errors], [400, [{ code: 12002, message: "Invalid request body: dead_letter_queue: must be another queue than this one" }]]);
      const worker = await h.call("POST", `/client/v4/accounts/${s.accountId}/queues/${queueId}/consumers`, { token: s.write, body: { type: "worker", script_name: "x" } });
      assert.equal(worker.status, 400);

      const uuid = await startBuild(h, s);
      await waitForStatus(h, s, uuid, "stopped");
      // The consumer's settings are the pull's defaults: a 300 ms lease.
      const one = await pull(cf, s.accountId, queueId, { batch_size: 10 });
      const first = one.messages[0] as Pulled;
      assert.equal(first.attempts, 1);
      await new Promise((r) => setTimeout(r, 350));
      const two = (await pull(cf, s.accountId, queueId, { batch_size: 10 })).messages[0] as Pulled;
      assert.equal(two.attempts, 2);
      await new Promise((r) => setTimeout(r, 350));
      assert.deepEqual(await pull(cf, s.accountId, queueId), { backlog: 0, messages: [] }, "two deliveries were its last");
      const dead = await cf.queues.list({ account_id: s.accountId });
      const dlqId = dead.result.find((q) => q.queue_name === "dlq-dead")?.queue_id ?? "";
      const moved = await pull(cf, s.accountId, dlqId, { visibility_timeout_ms: 60_000 });
      assert.equal(moved.messages.length, 1);
      assert.equal(moved.messages[0]?.id, first.id);
      assert.equal(moved.messages[0]?.attempts, 1, "counted afresh in the dead-letter queue");
      assert.deepEqual(moved.messages[0]?.envelope, first.envelope);
    });

    it("queues and subscriptions: get, list, update (a disabled subscription receives nothing), delete; errors in Cloudflare's envelope", async () => {
      const { s, cf, queueId, subscription } = await subscribed("crud", "true", ["cf.workersBuilds.worker.build.succeeded"]);
      const q = await cf.queues.get(queueId, { account_id: s.accountId });
      assert.equal(q.queue_name, "crud-events");
      assert.equal(q.consumers?.[0]?.type, "http_pull");
      const queues = [];
      for await (const each of cf.queues.list({ account_id: s.accountId })) queues.push(each.queue_id);
      assert.deepEqual(queues, [queueId]);
      const got = await cf.queues.subscriptions.get(subscription.id, { account_id: s.accountId });
      assert.deepEqual(got, subscription);
      assert.equal(subscription.enabled, true);
      assert.deepEqual(subscription.source, { type: "workersBuilds.worker", worker_name: "crud" });
      assert.deepEqual(subscription.destination, { type: "queues.queue", queue_id: queueId });
      const listed = [];
      for await (const each of cf.queues.subscriptions.list({ account_id: s.accountId })) listed.push(each.id);
      assert.deepEqual(listed, [subscription.id]);
      const disabled = await cf.queues.subscriptions.update(subscription.id, { account_id: s.accountId, enabled: false });
      assert.equal(disabled.enabled, false);
      assert.equal(disabled.name, "crud builds");
      await waitForStatus(h, s, await startBuild(h, s), "stopped");
      assert.deepEqual(await pull(cf, s.accountId, queueId), { backlog: 0, messages: [] });
      const deleted = await cf.queues.subscriptions.delete(subscription.id, { account_id: s.accountId });
      assert.equal(deleted.id, subscription.id);
      await assert.rejects(cf.queues.subscriptions.get(subscription.id, { account_id: s.accountId }), (e: unknown) => e instanceof Cloudflare.NotFoundError);

      const dup = await h.call("POST", `/client/v4/accounts/${s.accountId}/queues`, { token: s.write, body: { queue_name: "crud-events" } });
      assert.equal(dup.status, 409);
      assert.deepEqual(dup.body.errors, [{ code: 11009, message: 'A queue named "crud-events" already exists in this account' }]);
      const badName = await h.call("POST", `/client/v4/accounts/${s.accountId}/queues`, { token: s.write, body: { queue_name: "Not OK" } });
      assert.equal(badName.status, 400);
      assert.equal(badName.body.errors[0].code, 12002);
      assert.match(badName.body.errors[0].message, /^Invalid request body: queue_name: /);
      const badEvent = await h.call("POST", `/client/v4/accounts/${s.accountId}/event_subscriptions/subscriptions`, {
        token: s.write,
        body: { name: "x", source: { type: "workersBuilds.worker", worker_name: "crud" }, events: ["cf.workersBuilds.worker.build.exploded"], destination: { type: "queues.queue", queue_id: queueId } },
      });
      assert.equal(badEvent.status, 400);
      assert.match(badEvent.body.errors[0].message, /^Invalid request body: events\.0: must be one of /);
      const noWorker = await h.call("POST", `/client/v4/accounts/${s.accountId}/event_subscriptions/subscriptions`, {
        token: s.write,
        body: { name: "x", source: { type: "workersBuilds.worker", worker_name: "ghost" }, events: ALL, destination: { type: "queues.queue", queue_id: queueId } },
      });
      assert.deepEqual([noWorker.status, noWorker.body.errors], [400, [{ code: 12002, message: 'Invalid request body: source.worker_name: no Worker named "ghost" in this account' }]]);
      const noQueue = await h.call("POST", `/client/v4/accounts/${s.accountId}/event_subscriptions/subscriptions`, {
        token: s.write,
        body: { name: "x", source: { type: "workersBuilds.worker", worker_name: "crud" }, events: ALL, destination: { type: "queues.queue", queue_id: "0".repeat(32) } },
      });
      assert.deepEqual([noQueue.status, noQueue.body.errors], [404, [{ code: 11000, message: "Queue not found" }]]);
      const webhook = await h.call("POST", `/client/v4/accounts/${s.accountId}/event_subscriptions/subscriptions`, {
        token: s.write,
        body: { name: "x", source: { type: "workersBuilds.worker", worker_name: "crud" }, events: ALL, destination: { type: "elsewhere", url: "https://example.com" } },
      });
      assert.equal(webhook.status, 400);
      assert.match(webhook.body.errors[0].message, /^Invalid request body: destination/);

      await cf.queues.delete(queueId, { account_id: s.accountId });
      await assert.rejects(cf.queues.get(queueId, { account_id: s.accountId }), (e: unknown) => e instanceof Cloudflare.NotFoundError);
      const gone = await h.call("POST", `/client/v4/accounts/${s.accountId}/queues/${queueId}/messages/pull`, { token: s.write, body: {} });
      assert.deepEqual([gone.status, gone.body.errors], [404, [{ code: 11000, message: "Queue not found" }]]);
    });

    it("permissions: Queues Read lists but cannot pull, Queues Write pulls, Workers CI Read cannot see queues", async () => {
      const { s, queueId } = await subscribed("perm", "true");
      const queuesRead = (await h.token([s.accountId], ["Queues Read"])).value;
      const queuesWrite = (await h.token([s.accountId], ["Queues Write"])).value;
      const list = await h.call("GET", `/client/v4/accounts/${s.accountId}/queues`, { token: queuesRead });
      assert.equal(list.status, 200);
      const subs = await h.call("GET", `/client/v4/accounts/${s.accountId}/event_subscriptions/subscriptions`, { token: queuesRead });
      assert.equal(subs.status, 200);
      assert.equal(subs.body.result_info.total_count, 1);
      const refused = await h.call("POST", `/client/v4/accounts/${s.accountId}/queues/${queueId}/messages/pull`, { token: queuesRead, body: {} });
      assert.deepEqual([refused.status, refused.body.errors], [403, [{ code: 10000, message: "Authentication error" }]]);
      const pulled = await h.call("POST", `/client/v4/accounts/${s.accountId}/queues/${queueId}/messages/pull`, { token: queuesWrite });
      assert.equal(pulled.status, 200, "no body is an empty body");
      assert.deepEqual(pulled.body.result, { message_backlog_count: 0, messages: [] });
      const ciRead = await h.call("GET", `/client/v4/accounts/${s.accountId}/queues`, { token: s.read });
      assert.equal(ciRead.status, 403);
      const tooBig = await h.call("POST", `/client/v4/accounts/${s.accountId}/queues/${queueId}/messages/pull`, { token: queuesWrite, body: { batch_size: 101 } });
      assert.deepEqual([tooBig.status, tooBig.body.errors], [400, [{ code: 12002, message: "Invalid request body: batch_size: must be at most 100" }]]);
    });

    it("a message older than its queue's retention (4 days) is dropped: by a pull, and by prune", async () => {
      const { s, cf, queueId } = await subscribed("old", "true", ["cf.workersBuilds.worker.build.queued", "cf.workersBuilds.worker.build.succeeded"]);
      const uuid = await startBuild(h, s);
      await waitForStatus(h, s, uuid, "stopped");
      const fiveDaysAgo = Date.now() - 5 * 86_400_000;
      const ids = (await h.store.db.kysely.selectFrom("queue_messages").select("id").where("queue_id", "=", queueId).orderBy("id").execute()).map((r) => Number(r.id));
      assert.equal(ids.length, 2);
      await h.store.db.kysely.updateTable("queue_messages").set({ created_ms: fiveDaysAgo }).where("id", "=", ids[0] as number).execute();
      const pulled = await pull(cf, s.accountId, queueId);
      assert.deepEqual(pulled.messages.map((m) => m.envelope.type), ["cf.workersBuilds.worker.build.succeeded"]);
      await h.store.db.kysely.updateTable("queue_messages").set({ created_ms: fiveDaysAgo }).where("id", "=", ids[1] as number).execute();
      const removed = await prune(h.store, new Date(0).toISOString());
      assert.ok(removed.expired_messages >= 1);
      assert.deepEqual(await h.store.db.kysely.selectFrom("queue_messages").select("id").where("queue_id", "=", queueId).execute(), []);
    });

    it("a change that rolls back raises no event; the event is written in the change's transaction", async () => {
      const { s, cf, queueId } = await subscribed("rollback", "true");
      const uuid = await startBuild(h, s);
      const build = await waitForStatus(h, s, uuid, "stopped");
      const stored = await h.store.builds.getByUuid(build.build_uuid);
      assert.ok(stored);
      const ghost = newUuid();
      let seenInside = -1;
      await assert.rejects(
        h.store.transaction(async (r) => {
          // A build inserted as stopped: the runner never sees it, and it raises `succeeded`.
          await r.builds.insert({ ...stored, build_uuid: ghost, status: "stopped", build_outcome: "success", created_on: new Date().toISOString() });
          seenInside = (await r.buildEvents.eventsOfBuild(ghost)).length;
          throw new Error("rolled back on purpose");
        }),
        /rolled back on purpose/,
      );
      assert.equal(seenInside, 1, "written in the same transaction");
      assert.deepEqual(await h.store.buildEvents.eventsOfBuild(ghost), []);
      const got = await pull(cf, s.accountId, queueId);
      assert.deepEqual(got.messages.map((m) => m.envelope.payload.buildUuid), [uuid, uuid, uuid], "only the real build's three events");
      assert.equal((await getBuild(h, s, uuid)).status, "stopped");
    });
  });
}

/**
 * Build events in a fleet on PostgreSQL: two nodes (each its own store, pool, runner and HTTP
 * server) pull one queue concurrently with the cloudflare SDK while events keep being written;
 * every message is leased by exactly one pull, and real builds run by both runners raise each of
 * their events exactly once. And the outbox's ids are gap-free for readers:
 * an account's events read "after id n" while many transactions write at once are each seen
 * exactly once, in id order (the advisory-lock protocol of store/build-events.ts).
 */
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import Cloudflare from "cloudflare";
import { pino } from "pino";
import { createApp } from "../../src/api/app.ts";
import { composeKiln } from "../../src/cli/compose.ts";
import { loadConfig } from "../../src/config.ts";
import type { Build } from "../../src/domain/build-types.ts";
import type { BuildSignals } from "../../src/domain/build-events.ts";
import { newUuid } from "../../src/domain/ids.ts";
import { openStore, type Store } from "../../src/store/index.ts";
import { setupTrigger, startBuild, waitForStatus, type BuildSetup } from "../helpers/builds.ts";
import { PG_URL } from "../helpers/databases.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";
import { startHarness, type Harness } from "../helpers/harness.ts";

const SUCCEEDED = "cf.workersBuilds.worker.build.succeeded";

describe("fleet on PostgreSQL: build events", { skip: PG_URL ? false : "skipped: KILN_TEST_DATABASE_URL is not set (the fleet needs PostgreSQL)" }, () => {
  let h: Harness;
  let repo: TestRepo;
  let s: BuildSetup;
  let template: Build;
  let second: { store: Store; signals: BuildSignals; close: () => Promise<void> };
  const bases: string[] = [];
  const apps: { close: () => Promise<unknown> }[] = [];

  before(async () => {
    repo = makeRepo({ name: "fleet-events", files: { "a.txt": "a" } });
    h = await startHarness("postgres", {}, { runner: true, gitUrlTemplate: repo.template });
    s = await setupTrigger(h, repo, { build: "true" }, "fleetev");
    const uuid = await startBuild(h, s);
    await waitForStatus(h, s, uuid, "stopped");
    template = (await h.store.builds.getByUuid(uuid)) as Build;
    // Node B: its own store and pool on the same database, its own HTTP server.
    const store = await openStore({ dataDir: h.db.dataDir, database: h.db.database, poolSize: 4, secretKey: Buffer.from(h.db.secretKey, "base64") });
    const config = loadConfig({ dataDir: h.db.dataDir, database: h.db.database, secretKey: h.db.secretKey, buildTools: "host", runner: true, gitUrlTemplate: repo.template }, {});
    const kiln = composeKiln(config, store, pino({ level: "silent" }));
    await kiln.runner?.start();
    second = {
      store,
      signals: kiln.signals,
      close: async () => {
        await kiln.runner?.stop();
        await kiln.close();
        await store.close();
      },
    };
    for (const deps of [h.kiln.deps, kiln.deps]) {
      const app = (await createApp(deps, { validateResponses: true })).fastify;
      await app.listen({ port: 0, host: "127.0.0.1" });
      apps.push(app);
      bases.push(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}/client/v4`);
    }
  });
  after(async () => {
    for (const app of apps) await app.close();
    await second?.close();
    await h?.close();
    repo?.cleanup();
  });

  /**
   * `n` stopped builds written at once through `store`, each raising `succeeded`; with
   * `holdMs`, each transaction stays open up to that long after its event took its id, so
   * transactions commit out of id order.
   */
  const writeEvents = (store: Store, n: number, holdMs = 0) =>
    Promise.all(
      Array.from({ length: n }, () =>
        store.transaction(async (r) => {
          await r.builds.insert({ ...template, build_uuid: newUuid(), status: "stopped", build_outcome: "success", created_on: new Date().toISOString() });
          if (holdMs > 0) await new Promise((resolve) => setTimeout(resolve, Math.random() * holdMs));
        }),
      ),
    );

  it("an event committed on one node wakes the other (NOTIFY sent by the writing transaction at COMMIT)", async () => {
    let heard = 0;
    const off = second.signals.onEvents(s.accountId, () => heard++);
    try {
      // The other node's LISTEN connection may still be coming up: try until it hears one.
      for (let i = 0; i < 40 && heard === 0; i++) {
        await writeEvents(h.store, 1);
        const until = Date.now() + 250;
        while (heard === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      }
      assert.ok(heard > 0, "node B heard node A's events");
      // A rolled-back transaction notifies nobody.
      heard = 0;
      await assert.rejects(
        h.store.transaction(async (r) => {
          await r.builds.insert({ ...template, build_uuid: newUuid(), status: "stopped", build_outcome: "success", created_on: new Date().toISOString() });
          throw new Error("undo");
        }),
        /undo/,
      );
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(heard, 0);
    } finally {
      off();
    }
  });

  it("two API nodes pulling one queue at once while events are written: each message leased once", async () => {
    const [a, b] = bases.map((base) => new Cloudflare({ apiToken: s.write, baseURL: base, maxRetries: 0 })) as [Cloudflare, Cloudflare];
    const queue = await a.queues.create({ account_id: s.accountId, queue_name: "fleet" });
    const queueId = queue.queue_id ?? "";
    await b.queues.subscriptions.create({
      account_id: s.accountId,
      name: "fleet",
      source: { type: "workersBuilds.worker", worker_name: "fleetev" },
      events: [SUCCEEDED],
      destination: { type: "queues.queue", queue_id: queueId },
    });
    const total = 240;
    const seen = new Map<string, number>();
    let writing = true;
    const writers = (async () => {
      for (let i = 0; i < total / 40; i++) await Promise.all([writeEvents(h.store, 20), writeEvents(second.store, 20)]);
      writing = false;
    })();
    const puller = async (cf: Cloudflare) => {
      for (;;) {
        const r = await cf.queues.messages.pull(queueId, { account_id: s.accountId, batch_size: 7, visibility_timeout_ms: 120_000 });
        const messages = r.messages ?? [];
        for (const m of messages) seen.set(m.id ?? "", (seen.get(m.id ?? "") ?? 0) + 1);
        if (messages.length > 0) await cf.queues.messages.ack(queueId, { account_id: s.accountId, acks: messages.map((m) => ({ lease_id: m.lease_id ?? "" })) });
        else if (!writing && (r.message_backlog_count ?? 0) === 0) return;
      }
    };
    await Promise.all([puller(a), puller(b), puller(a), puller(b), writers]);
    assert.equal(seen.size, total, "every message pulled");
    assert.deepEqual([...seen.values()].filter((n) => n !== 1), [], "none pulled twice");
  });

  it("real builds run by two runners, pulled through two API nodes: each build's queued, started, succeeded exactly once", async () => {
    const [a, b] = bases.map((base) => new Cloudflare({ apiToken: s.write, baseURL: base, maxRetries: 0 })) as [Cloudflare, Cloudflare];
    const queue = await b.queues.create({ account_id: s.accountId, queue_name: "fleet-builds" });
    const queueId = queue.queue_id ?? "";
    await a.queues.subscriptions.create({
      account_id: s.accountId,
      name: "fleet builds",
      source: { type: "workersBuilds.worker", worker_name: "fleetev" },
      events: ["cf.workersBuilds.worker.build.queued", "cf.workersBuilds.worker.build.started", SUCCEEDED],
      destination: { type: "queues.queue", queue_id: queueId },
    });
    // By commit alone: a build of a branch would supersede the queued ones of that branch.
    const uuids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const r = await h.call("POST", `/client/v4/accounts/${s.accountId}/builds/triggers/${s.triggerUuid}/builds`, { token: s.write, body: { commit_hash: template.metadata.commit_hash } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      uuids.push(r.body.result.build_uuid as string);
    }
    const runners = new Set<string>();
    for (const uuid of uuids) {
      const b2 = await waitForStatus(h, s, uuid, "stopped", 60_000);
      assert.equal(b2.build_outcome, "success");
      runners.add(((await h.store.builds.getByUuid(uuid)) as Build).runner_id ?? "");
    }
    const seen = new Map<string, number>();
    const pullAll = async (cf: Cloudflare) => {
      for (;;) {
        const r = await cf.queues.messages.pull(queueId, { account_id: s.accountId, batch_size: 5, visibility_timeout_ms: 120_000 });
        const messages = r.messages ?? [];
        if (messages.length === 0) return;
        for (const m of messages) {
          const e = JSON.parse(Buffer.from(m.body ?? "", "base64").toString("utf8")) as { type: string; payload: { buildUuid: string } };
          const key = `${e.payload.buildUuid} ${e.type.replace("cf.workersBuilds.worker.build.", "")}`;
          seen.set(key, (seen.get(key) ?? 0) + 1);
        }
        await cf.queues.messages.ack(queueId, { account_id: s.accountId, acks: messages.map((m) => ({ lease_id: m.lease_id ?? "" })) });
      }
    };
    await Promise.all([pullAll(a), pullAll(b), pullAll(a), pullAll(b)]);
    const expected = uuids.flatMap((u) => ["queued", "started", "succeeded"].map((t) => `${u} ${t}`)).sort();
    assert.deepEqual([...seen.keys()].sort(), expected);
    assert.deepEqual([...seen.values()].filter((n) => n !== 1), [], "each event pulled once");
    assert.equal(runners.size, 2, "both runners ran builds");
  });

  it("an account's events read after an id while two nodes' transactions commit out of id order: each once, in order", async () => {
    const start = await h.store.buildEvents.lastEventId(s.accountId);
    const got: number[] = [];
    let done = false;
    const reader = (async () => {
      let after = start;
      for (;;) {
        const last = done;
        const batch = await second.store.buildEvents.eventsAfter(s.accountId, after, 50);
        for (const e of batch) got.push(e.id);
        if (batch.length > 0) after = batch.at(-1)?.id ?? after;
        else if (last) return;
      }
    })();
    // Each store's pool has 4 connections: 8 transactions open at a time, committing out of order.
    for (let i = 0; i < 20; i++) await Promise.all([writeEvents(h.store, 10, 30), writeEvents(second.store, 10, 30)]);
    done = true;
    await reader;
    const all = (await h.store.buildEvents.eventsAfter(s.accountId, start, 10_000)).map((e) => e.id);
    assert.equal(all.length, 400);
    assert.ok(got.length > 0);
    assert.deepEqual(got, all, "the follower saw every event once, in id order, none skipped");
  });
});

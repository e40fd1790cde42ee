/**
 * The live account event stream (Kiln extension, Server-Sent Events) over real HTTP on loopback,
 * with real builds: every event of the account once and in order with the envelope's exact
 * fields, resumed after a disconnect with Last-Event-ID without a gap or a repeat while builds
 * went on, the filter, errors in the envelope; on PostgreSQL a second API node's stream woken by
 * LISTEN/NOTIFY (its polling pushed out of the way).
 */
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import type { FastifyInstance } from "fastify";
import pino from "pino";
import { createApp } from "../../src/api/app.ts";
import { activeEventStreams, eventStreamOptions } from "../../src/api/routes/event-stream.ts";
import { composeKiln } from "../../src/cli/compose.ts";
import { loadConfig } from "../../src/config.ts";
import { openStore, type Store } from "../../src/store/index.ts";
import { setupTrigger, startBuild, waitFor, waitForStatus, type BuildSetup } from "../helpers/builds.ts";
import { dialects } from "../helpers/databases.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";
import { startHarness, type Harness } from "../helpers/harness.ts";
import { openSse, type SseStream } from "../helpers/sse.ts";

const T = "cf.workersBuilds.worker.build.";

interface Received {
  id: number;
  envelope: {
    type: string;
    source: { type: string; workerName: string };
    payload: { buildUuid: string; status: string; buildOutcome: string | null; runningAt: string | null; stoppedAt: string | null; buildTriggerMetadata: Record<string, string> };
    metadata: { accountId: string; eventSubscriptionId: string; eventSchemaVersion: number; eventTimestamp: string };
  };
}

/** The next `n` events (pings and the retry hint skipped). */
async function take(stream: SseStream, n: number, timeoutMs = 30_000): Promise<Received[]> {
  const out: Received[] = [];
  while (out.length < n) {
    const ev = await stream.next(timeoutMs);
    assert.ok(ev, "the stream closed");
    if (ev.data === undefined) continue;
    assert.equal(ev.event, undefined, "plain messages (EventSource's onmessage)");
    out.push({ id: Number(ev.id), envelope: JSON.parse(ev.data) });
  }
  return out;
}

const typesOf = (events: Received[]) => events.map((e) => `${e.envelope.type.slice(T.length)}:${e.envelope.payload.buildUuid}`);

for (const dialect of dialects()) {
  describe(`${dialect}: account event stream`, () => {
    let h: Harness;
    let repo: TestRepo;
    let app: FastifyInstance;
    let base: string;
    let s: BuildSetup;
    const path = (setup = s) => `/client/v4/accounts/${setup.accountId}/builds/events/stream`;

    before(async () => {
      repo = makeRepo({ name: `events-${dialect}`, files: { "README.md": "hello\n" }, message: "First commit" });
      h = await startHarness(dialect, {}, { runner: true, gitUrlTemplate: repo.template, slots: 2, buildTimeout: 60 });
      app = (await createApp(h.kiln.deps, { validateResponses: true })).fastify;
      await app.listen({ port: 0, host: "127.0.0.1" });
      base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      s = await setupTrigger(h, repo, { build: "echo built" }, "app");
    });
    after(async () => {
      await app.close();
      await h.close();
      repo.cleanup();
    });

    it("sends each event of a build's life once, in order, as the exact envelope", async () => {
      const stream = await openSse(base, path(), s.read);
      assert.equal(stream.status, 200);
      assert.match(String(stream.headers["content-type"]), /^text\/event-stream/);
      assert.equal((await stream.next())?.data, undefined, "first the retry hint");
      const uuid = await startBuild(h, s);
      const events = await take(stream, 3);
      assert.deepEqual(typesOf(events), [`queued:${uuid}`, `started:${uuid}`, `succeeded:${uuid}`]);
      assert.ok(events[0]!.id < events[1]!.id && events[1]!.id < events[2]!.id);
      const done = events[2]!.envelope;
      const build = await waitForStatus(h, s, uuid, "stopped");
      assert.deepEqual(done.source, { type: "workersBuilds.worker", workerName: "app" });
      assert.deepEqual(done.metadata, { accountId: s.accountId, eventSubscriptionId: "", eventSchemaVersion: 1, eventTimestamp: build.stopped_on });
      assert.equal(done.payload.status, "stopped");
      assert.equal(done.payload.buildOutcome, "success");
      assert.equal(done.payload.stoppedAt, build.stopped_on);
      assert.equal(done.payload.buildTriggerMetadata.branch, "main");
      assert.equal(done.payload.buildTriggerMetadata.buildCommand, "echo built");
      assert.equal(done.payload.buildTriggerMetadata.commitMessage, "First commit");
      assert.equal(events[1]!.envelope.payload.status, "running");
      assert.equal(events[1]!.envelope.payload.buildOutcome, null);
      stream.abort();
      await waitFor("the stream to be freed", async () => activeEventStreams() === 0, 2000);
    });

    it("resumes after a disconnect with Last-Event-ID: no event lost or repeated while builds went on", async () => {
      const first = await openSse(base, path(), s.read);
      const a = await startBuild(h, s);
      const got = await take(first, 2);
      first.abort();
      await waitFor("the first leg to be freed", async () => activeEventStreams() === 0, 2000);
      // Events committed while nobody listened.
      await waitForStatus(h, s, a, "stopped");
      const b = await startBuild(h, s);
      await waitForStatus(h, s, b, "stopped");
      const second = await openSse(base, path(), s.read, { "last-event-id": String(got.at(-1)!.id) });
      got.push(...(await take(second, 4)));
      second.abort();
      assert.deepEqual(typesOf(got), [`queued:${a}`, `started:${a}`, `succeeded:${a}`, `queued:${b}`, `started:${b}`, `succeeded:${b}`]);
      // Exactly the outbox, id for id.
      const stored = await h.store.buildEvents.eventsAfter(s.accountId, got[0]!.id - 1, 100);
      assert.deepEqual(got.map((e) => e.id), stored.map((e) => e.id));
      // ?after= does the same for clients that cannot set headers; the header wins over it.
      const third = await openSse(base, `${path()}?after=${got[2]!.id}`, s.read, {});
      assert.deepEqual((await take(third, 3)).map((e) => e.id), got.slice(3).map((e) => e.id));
      third.abort();
      const fourth = await openSse(base, `${path()}?after=0`, s.read, { "last-event-id": String(got[4]!.id) });
      assert.deepEqual((await take(fourth, 1)).map((e) => e.id), [got[5]!.id]);
      fourth.abort();
    });

    it("filters with ?events=, and refuses bad input in the envelope", async () => {
      const before = await h.store.buildEvents.lastEventId(s.accountId);
      const stream = await openSse(base, `${path()}?events=${T}succeeded,${T}failed&after=${before}`, s.read);
      const uuid = await startBuild(h, s);
      const [only] = await take(stream, 1);
      assert.equal(only?.envelope.type, `${T}succeeded`);
      assert.equal(only?.envelope.payload.buildUuid, uuid);
      stream.abort();

      const expectError = async (p: string, headers: Record<string, string>, status: number, code: number, message?: RegExp) => {
        const r = await openSse(base, p, s.read, headers);
        assert.equal(r.status, status);
        const body = JSON.parse(await r.text());
        assert.equal(body.success, false);
        assert.equal(body.errors[0].code, code);
        if (message) assert.match(body.errors[0].message, message);
      };
      await expectError(path(), { "last-event-id": "x1" }, 400, 12002, /Last-Event-ID: must be an event id/);
      await expectError(`${path()}?after=-1`, {}, 400, 12013, /after/);
      await expectError(`${path()}?events=${T}exploded`, {}, 400, 12013, /events: must be a comma-separated list/);
      const other = await setupTrigger(h, repo, {}, "other");
      const foreign = await openSse(base, path(), other.read);
      assert.equal(foreign.status, 403);
      await foreign.text();
    });
  });
}

describe("postgres: account event stream across API nodes", { skip: !dialects().includes("postgres") && "needs KILN_TEST_DATABASE_URL" }, () => {
  it("a second node's stream is woken by NOTIFY, not by its polling", async () => {
    const h = await startHarness("postgres", {}, { runner: false });
    const repo = makeRepo({ name: "events-fleet", files: { "README.md": "x\n" }, message: "First" });
    let other: Store | undefined;
    let app: FastifyInstance | undefined;
    const saved = { ...eventStreamOptions };
    try {
      const s = await setupTrigger(h, repo, {}, "app");
      other = await openStore({ dataDir: h.db.dataDir, database: h.db.database, poolSize: 2, secretKey: Buffer.from(h.db.secretKey, "base64") });
      const config = loadConfig({ dataDir: h.db.dataDir, database: h.db.database, secretKey: h.db.secretKey, runner: false }, {});
      const node = composeKiln(config, other, pino({ level: "silent" }));
      try {
        await (node.signals as unknown as { ready(): Promise<void> }).ready();
        app = (await createApp(node.deps, { validateResponses: true })).fastify;
        await app.listen({ port: 0, host: "127.0.0.1" });
        eventStreamOptions.pollMs = 60_000;
        const stream = await openSse(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, `/client/v4/accounts/${s.accountId}/builds/events/stream`, s.read);
        await stream.next();
        const t0 = Date.now();
        // Queued on the first node (its own store and signals): the event is committed there.
        const uuid = await startBuild(h, s);
        const [queued] = await take(stream, 1, 5000);
        const ms = Date.now() - t0;
        assert.equal(queued?.envelope.type, `${T}queued`);
        assert.equal(queued?.envelope.payload.buildUuid, uuid);
        assert.ok(ms < 1000, `arrived in ${ms} ms`);
        process.stdout.write(`# event committed on one node reached the other node's stream in ${ms} ms\n`);
        stream.abort();
      } finally {
        await app?.close();
        await node.close();
      }
    } finally {
      Object.assign(eventStreamOptions, saved);
      await other?.close();
      await h.close();
      repo.cleanup();
    }
  });
});

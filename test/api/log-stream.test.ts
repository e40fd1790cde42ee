/**
 * The live log stream (Kiln extension, Server-Sent Events) over real HTTP on loopback, with
 * real builds: every line exactly once and in order while the build runs, resume with
 * Last-Event-ID, a finished build at once, 404/403 in the envelope, and a disconnect that
 * frees the stream (no poller left behind).
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import type { FastifyInstance } from "fastify";
import { createApp } from "../../src/api/app.ts";
import { activeLogStreams, logStreamOptions, logStreamStats } from "../../src/api/routes/log-stream.ts";
import { allLogs, getBuild, setupTrigger, startBuild, waitFor, waitForStatus, type BuildSetup } from "../helpers/builds.ts";
import { dialects } from "../helpers/databases.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";
import { openSse as open, type SseStream as Stream } from "../helpers/sse.ts";
import { startHarness, type Harness } from "../helpers/harness.ts";

/** Reads `line` events until `end` (asserting nothing else but pings comes), with the end data. */
async function readToEnd(stream: Stream, seen: [number, [number, string]][] = []): Promise<{ lines: [number, [number, string]][]; end: unknown }> {
  for (;;) {
    const ev = await stream.next();
    assert.ok(ev, "the stream closed before its end event");
    if (ev.comment !== undefined) continue;
    if (ev.event === "end") {
      assert.equal(await stream.next(), undefined, "nothing after end; the server closes");
      return { lines: seen, end: JSON.parse(ev.data ?? "null") };
    }
    assert.equal(ev.event, "line");
    seen.push([Number(ev.id), JSON.parse(ev.data ?? "null")]);
  }
}

const SLOW = 'for i in $(seq 1 300); do echo "n $i"; sleep 0.005; done';

for (const dialect of dialects()) {
  describe(`${dialect}: live log stream`, () => {
    let h: Harness;
    let repo: TestRepo;
    let app: FastifyInstance;
    let base: string;
    let s: BuildSetup;
    const path = (uuid: string, setup = s) => `/client/v4/accounts/${setup.accountId}/builds/builds/${uuid}/logs/stream`;

    before(async () => {
      repo = makeRepo({ name: `stream-${dialect}`, files: { "README.md": "hello\n" }, message: "First" });
      h = await startHarness(dialect, {}, { runner: true, gitUrlTemplate: repo.template, cancelGrace: 1, slots: 4, buildTimeout: 60 });
      // inject() cannot stream: a second app over the same deps, on loopback.
      app = (await createApp(h.kiln.deps, { validateResponses: true })).fastify;
      await app.listen({ port: 0, host: "127.0.0.1" });
      base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      s = await setupTrigger(h, repo, { build: SLOW }, "slow");
    });
    after(async () => {
      await app.close();
      await h.close();
      repo.cleanup();
    });

    it("streams a running build live: every line once, in order, ids 0..n-1, then end", async () => {
      const uuid = await startBuild(h, s);
      const stream = await open(base, path(uuid), s.read);
      assert.equal(stream.status, 200);
      assert.match(String(stream.headers["content-type"]), /^text\/event-stream/);
      assert.equal(stream.headers["cache-control"], "no-cache");
      assert.ok(stream.headers["x-request-id"], "the request id header is kept");
      const first = await stream.next();
      assert.equal(first?.event, "line");
      assert.notEqual((await getBuild(h, s, uuid)).status, "stopped", "the first line arrives while the build runs");
      const { lines, end } = await readToEnd(stream, [[Number(first?.id), JSON.parse(first?.data ?? "null")]]);
      assert.deepEqual(end, { build_outcome: "success", status: "stopped" });
      assert.deepEqual(lines.map(([id]) => id), lines.map((_, i) => i));
      const stored = await allLogs(h, s, uuid);
      assert.deepEqual(lines.map(([, l]) => l), stored.lines);
      const output = lines.map(([, [, t]]) => t).filter((t) => t.startsWith("n "));
      assert.deepEqual(output, Array.from({ length: 300 }, (_, i) => `n ${i + 1}`));
      await waitFor("the stream to be freed", async () => activeLogStreams() === 0, 2000);
    });

    it("resumes with Last-Event-ID: no line lost or repeated", async () => {
      const uuid = await startBuild(h, s);
      const firstLeg = await open(base, path(uuid), s.read);
      const got: [number, [number, string]][] = [];
      while (got.length < 40) {
        const ev = await firstLeg.next();
        assert.ok(ev?.event === "line", JSON.stringify(ev));
        got.push([Number(ev.id), JSON.parse(ev.data ?? "null")]);
      }
      firstLeg.abort();
      assert.notEqual((await getBuild(h, s, uuid)).status, "stopped", "resumed mid-build");
      await waitFor("the first leg to be freed", async () => activeLogStreams() === 0, 2000);
      const lastId = got[got.length - 1]?.[0];
      const second = await open(base, path(uuid), s.read, { "last-event-id": String(lastId) });
      const { lines, end } = await readToEnd(second, got);
      assert.deepEqual(end, { build_outcome: "success", status: "stopped" });
      assert.deepEqual(lines.map(([id]) => id), lines.map((_, i) => i));
      assert.deepEqual(lines.map(([, l]) => l), (await allLogs(h, s, uuid)).lines);
    });

    it("streams a finished build at once, then end; ?from= and Last-Event-ID past the end", async () => {
      const uuid = await startBuild(h, s);
      await waitForStatus(h, s, uuid, "stopped");
      const stored = (await allLogs(h, s, uuid)).lines;
      const t0 = Date.now();
      const { lines, end } = await readToEnd(await open(base, path(uuid), s.read));
      assert.ok(Date.now() - t0 < 2000);
      assert.deepEqual(end, { build_outcome: "success", status: "stopped" });
      assert.deepEqual(lines, stored.map((l, i) => [i, l]));

      const from = await readToEnd(await open(base, `${path(uuid)}?from=10`, s.read));
      assert.deepEqual(from.lines, stored.slice(10).map((l, i) => [i + 10, l]));
      // The header wins over ?from= (an EventSource reconnects to the same URL with it).
      const both = await readToEnd(await open(base, `${path(uuid)}?from=10`, s.read, { "last-event-id": "19" }));
      assert.equal(both.lines[0]?.[0], 20);
      const past = await readToEnd(await open(base, path(uuid), s.read, { "last-event-id": String(stored.length - 1) }));
      assert.deepEqual(past.lines, []);
      assert.deepEqual(past.end, { build_outcome: "success", status: "stopped" });
    });

    it("answers 404 12000 / 403 / 400 in the envelope before any event", async () => {
      const expectError = async (stream: Stream, status: number, code: number) => {
        assert.equal(stream.status, status);
        assert.match(String(stream.headers["content-type"]), /application\/json/);
        const body = JSON.parse(await stream.text());
        assert.equal(body.success, false);
        assert.deepEqual(body.errors.map((e: { code: number }) => e.code), [code]);
      };
      await expectError(await open(base, path(randomUUID()), s.read), 404, 12000);
      await expectError(await open(base, path("not-a-uuid"), s.read), 404, 12000);
      const uuid = await startBuild(h, s);
      await waitForStatus(h, s, uuid, "stopped");
      const other = (await h.account("other")).id;
      const otherRead = (await h.token([other], ["Workers CI Read"])).value;
      // Another account's token on this account: 403; this build under the other account: 404.
      await expectError(await open(base, path(uuid), otherRead), 403, 10000);
      await expectError(await open(base, `/client/v4/accounts/${other}/builds/builds/${uuid}/logs/stream`, otherRead), 404, 12000);
      await expectError(await open(base, path(uuid), s.read, { "last-event-id": "abc" }), 400, 12002);
      await expectError(await open(base, `${path(uuid)}?from=-1`, s.read), 400, 12013);
      assert.equal(activeLogStreams(), 0);
    });

    it("sends heartbeats while waiting, and a disconnect frees the stream at once", async () => {
      const quiet = await setupTrigger(h, repo, { build: "echo start; sleep 20" }, "quiet");
      const uuid = await startBuild(h, quiet);
      const saved = { ...logStreamOptions };
      logStreamOptions.heartbeatMs = 150;
      try {
        const stream = await open(base, path(uuid, quiet), quiet.read);
        let ev;
        do ev = await stream.next();
        while (ev?.comment === undefined);
        assert.equal(ev.comment, "ping");
        assert.equal(activeLogStreams(), 1);
        stream.abort();
        await waitFor("the stream to be freed", async () => activeLogStreams() === 0, 1000);
      } finally {
        Object.assign(logStreamOptions, saved);
        const r = await h.call("PUT", `/client/v4/accounts/${quiet.accountId}/builds/builds/${uuid}/cancel`, { token: quiet.write });
        assert.equal(r.status, 200, JSON.stringify(r.body));
      }
    });

    it("respects back-pressure from a slow reader, and frees a stream blocked on it", async () => {
      const big = await setupTrigger(h, repo, { build: `awk 'BEGIN{s=sprintf("%190s",""); gsub(/ /,"x",s); for(i=1;i<=60000;i++) print i, s}'` }, "big");
      const uuid = await startBuild(h, big);
      await waitForStatus(h, big, uuid, "stopped");
      const stored = (await allLogs(h, big, uuid)).lines;
      assert.ok(stored.length > 60_000);

      const waitsBefore = logStreamStats.drainWaits;
      const slow = await open(base, path(uuid, big), big.read);
      slow.pause();
      await waitFor("the server to wait for drain", async () => logStreamStats.drainWaits > waitsBefore, 5000);
      assert.equal(activeLogStreams(), 1, "blocked, not finished");
      slow.resume();
      const { lines, end } = await readToEnd(slow);
      assert.deepEqual(end, { build_outcome: "success", status: "stopped" });
      assert.equal(lines.length, stored.length);
      assert.ok(lines.every(([id, l], i) => id === i && l[1] === stored[i]?.[1]));

      const stuck = await open(base, path(uuid, big), big.read);
      stuck.pause();
      await waitFor("the server to wait for drain", async () => logStreamStats.drainWaits > waitsBefore + 1, 5000);
      stuck.abort();
      await waitFor("the blocked stream to be freed", async () => activeLogStreams() === 0, 1000);
    });

    it("ends open streams when the server shuts down", async () => {
      const quiet = await setupTrigger(h, repo, { build: "echo start; sleep 20" }, "shutdown");
      const uuid = await startBuild(h, quiet);
      const other = (await createApp(h.kiln.deps, { validateResponses: true })).fastify;
      await other.listen({ port: 0, host: "127.0.0.1" });
      try {
        const stream = await open(base.replace(/:\d+$/, `:${(other.server.address() as AddressInfo).port}`), path(uuid, quiet), quiet.read);
        assert.equal((await stream.next())?.event, "line");
        const t0 = Date.now();
        await other.close();
        assert.ok(Date.now() - t0 < 2000, "close does not wait for the build");
        let ev;
        do ev = await stream.next(2000);
        while (ev && ev.event === "line");
        assert.equal(ev, undefined, "closed without an end event: the client reconnects elsewhere");
        assert.equal(activeLogStreams(), 0);
      } finally {
        const r = await h.call("PUT", `/client/v4/accounts/${quiet.accountId}/builds/builds/${uuid}/cancel`, { token: quiet.write });
        assert.equal(r.status, 200, JSON.stringify(r.body));
      }
    });
  });
}

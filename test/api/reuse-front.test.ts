/**
 * Reused answers sent in front of Fastify (src/api/reuse-front.ts), over real HTTP on SQLite:
 * the same status, headers and bytes as the route's own answer, counted in the metrics, and
 * only to callers the full path would answer 200 — every other request reaches Fastify and
 * gets its refusal there.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setupTrigger, startBuild, type BuildSetup } from "../helpers/builds.ts";
import type { TestRepo } from "../helpers/git-repos.ts";
import { errorCodes, startHarness, type Answer, type Harness } from "../helpers/harness.ts";

const VERIFY = "/client/v4/user/tokens/verify";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe("sqlite over http: reused answers in front of Fastify", () => {
  let h: Harness;
  let s: BuildSetup;
  let build: string;
  const logs: string[] = [];

  const metric = async (pattern: RegExp): Promise<number> => {
    const text = String((await h.call("GET", "/metrics")).body);
    const m = pattern.exec(text);
    return m ? Number(m[1]) : 0;
  };
  const front = () => metric(/^kiln_http_answers_reused_total\{where="front"\} (\d+)/m);
  const counted = (route: string, status: number) =>
    metric(new RegExp(`^kiln_http_requests_total\\{method="GET",route="${route.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}",status="${status}"\\} (\\d+)`, "m"));
  /** Headers that differ between two answers by nature. */
  const comparable = (a: Answer) => {
    const { date: _date, "x-request-id": _id, ...rest } = a.headers;
    return rest;
  };

  before(async () => {
    h = await startHarness("sqlite", {}, {}, { transport: "http", logs, logLevel: "info" });
    s = await setupTrigger(h, { name: "app" } as TestRepo, {});
    build = await startBuild(h, s);
  });
  after(async () => {
    await h?.close();
  });

  for (const [label, path] of [
    ["token verify", VERIFY],
    ["the scripts list", () => `/client/v4/accounts/${s.accountId}/workers/scripts`],
    ["one build", () => `/client/v4/accounts/${s.accountId}/builds/builds/${build}`],
    ["a Worker's builds", () => `/client/v4/accounts/${s.accountId}/builds/workers/${s.workerTag}/builds?per_page=50`],
  ] as const) {
    it(`${label}: the second answer comes from the front, with the same status, headers and bytes`, async () => {
      const url = typeof path === "string" ? path : path();
      const first = await h.call("GET", url, { token: s.read });
      assert.equal(first.status, 200, JSON.stringify(first.body));
      const before = await front();
      const second = await h.call("GET", url, { token: s.read, headers: { "x-request-id": "poll-42" } });
      assert.equal((await front()) - before, 1, "answered in front of Fastify");
      assert.equal(second.status, 200);
      assert.deepEqual(second.body, first.body);
      assert.deepEqual(comparable(second), comparable(first));
      assert.equal(second.headers["content-type"], "application/json; charset=utf-8");
      assert.equal(second.headers["x-request-id"], "poll-42");
      const generated = await h.call("GET", url, { token: s.read });
      assert.match(String(generated.headers["x-request-id"]), UUID);
    });
  }

  it("every answer from the front is counted under its route, as the route counts it", async () => {
    await h.call("GET", VERIFY, { token: s.read });
    const before = await counted(VERIFY, 200);
    const frontBefore = await front();
    for (let i = 0; i < 5; i++) assert.equal((await h.call("GET", VERIFY, { token: s.read })).status, 200);
    assert.equal((await front()) - frontBefore, 5);
    assert.equal((await counted(VERIFY, 200)) - before, 5);
  });

  it("token verify is answered per token: two tokens polling in turn each get their own id", async () => {
    const other = await h.token([s.accountId], ["Workers CI Read"], { name: "other" });
    const mine = (await h.call("GET", VERIFY, { token: s.read })).body.result.id;
    for (let i = 0; i < 3; i++) {
      assert.equal((await h.call("GET", VERIFY, { token: other.value })).body.result.id, other.id);
      assert.equal((await h.call("GET", VERIFY, { token: s.read })).body.result.id, mine);
    }
    assert.notEqual(mine, other.id);
  });

  it("a cached URL asked without the right credentials gets the full path's refusal", async () => {
    const url = `/client/v4/accounts/${s.accountId}/workers/scripts`;
    const elsewhere = await h.account("elsewhere");
    const stranger = await h.token([elsewhere.id], ["Workers CI Read"]);
    // Known to the credential cache as valid (no commit after this): only the account check can refuse it.
    assert.equal((await h.call("GET", `/client/v4/accounts/${elsewhere.id}/workers/scripts`, { token: stranger.value })).status, 200);
    assert.equal((await h.call("GET", url, { token: s.read })).status, 200);
    assert.equal((await h.call("GET", url, { token: s.read })).status, 200);
    const frontBefore = await front();
    const forbidden = await h.call("GET", url, { token: stranger.value });
    assert.equal(forbidden.status, 403);
    assert.deepEqual(errorCodes(forbidden), [10000]);
    const missing = await h.call("GET", url);
    assert.equal(missing.status, 400);
    assert.deepEqual(errorCodes(missing), [9106]);
    const unknown = await h.call("GET", url, { token: "x".repeat(40) });
    assert.equal(unknown.status, 401);
    assert.deepEqual(errorCodes(unknown), [10000]);
    const malformed = await h.call("GET", url, { headers: { authorization: "Bearer not a token" } });
    assert.equal(malformed.status, 400);
    assert.deepEqual(errorCodes(malformed), [6003]);
    assert.equal((await front()) - frontBefore, 0, "none of them was answered in front");
  });

  it("a global key the cache knows is answered in front too; a token without the account is not", async () => {
    const u = await h.user(`front-${Date.now()}@example.com`, [s.accountId]);
    const headers = { "x-auth-email": u.email, "x-auth-key": u.api_key };
    const url = `/client/v4/accounts/${s.accountId}/builds/builds/${build}`;
    assert.equal((await h.call("GET", url, { headers })).status, 200);
    const frontBefore = await front();
    assert.equal((await h.call("GET", url, { headers })).status, 200);
    assert.equal((await front()) - frontBefore, 1);
  });

  it("writes and HEAD requests are never answered in front", async () => {
    const url = `/client/v4/accounts/${s.accountId}/workers/scripts`;
    await h.call("GET", url, { token: s.read });
    const frontBefore = await front();
    const head = await h.call("HEAD", url, { token: s.read });
    assert.equal(head.status, 200);
    const post = await h.call("POST", url, { token: s.read, body: {} });
    assert.equal(post.status, 405);
    assert.deepEqual(errorCodes(post), [10405]);
    assert.equal((await front()) - frontBefore, 0);
  });

  it("at debug level every request has its request line, the front's the same as the route's", async () => {
    const debugLogs: string[] = [];
    const d = await startHarness("sqlite", {}, {}, { transport: "http", logs: debugLogs, logLevel: "debug" });
    try {
      const account = await d.account("dbg");
      const t = await d.token([account.id], ["Workers CI Read"]);
      const fronted = async () => Number(/^kiln_http_answers_reused_total\{where="front"\} (\d+)/m.exec(String((await d.call("GET", "/metrics")).body))?.[1]);
      const before = await fronted();
      for (let i = 0; i < 3; i++) assert.equal((await d.call("GET", VERIFY, { token: t.value, headers: { "x-request-id": `dbg-${i}` } })).status, 200);
      assert.equal((await fronted()) - before, 2, "the second and third from the front");
      const lines = debugLogs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === "request" && l.route === VERIFY);
      assert.deepEqual(lines.map((l) => l.reqId), ["dbg-0", "dbg-1", "dbg-2"]);
      // The route's line (the first) and the front's (the other two): the same fields and values.
      const shape = ({ time: _time, ms, reqId: _id, ...rest }: Record<string, unknown>) => ({ ...rest, ms: typeof ms });
      assert.deepEqual(shape(lines[0] ?? {}), { ...shape(lines[0] ?? {}), level: 20, method: "GET", status: 200, msg: "request", ms: "number" });
      assert.deepEqual(lines.map(shape), [0, 1, 2].map(() => shape(lines[0] ?? {})));
    } finally {
      await d.close();
    }
  });

  it("at info level a reused read logs nothing, as a read through the route does not", () => {
    const reads = logs.map((l) => JSON.parse(l) as { msg: string; route?: string; status?: number }).filter((l) => l.msg === "request" && l.route === VERIFY);
    assert.deepEqual(reads, []);
  });
});

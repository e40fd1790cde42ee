import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { z } from "zod";
import { createApp } from "../../src/api/app.ts";
import { routes } from "../../src/api/routes/index.ts";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { defineRoute, ok } from "../../src/api/route.ts";
import { accountParams, uuid } from "../../src/api/schemas/common.ts";
import { dialects } from "../helpers/databases.ts";
import { errorCodes, startHarness, type Harness } from "../helpers/harness.ts";
import { hold, waitUntil } from "../helpers/raw-http.ts";

/** A route with a body and a UUID path id, to exercise request validation end to end. */
const echo = defineRoute({
  method: "POST",
  path: "/accounts/:account_id/test/echo/:thing_uuid",
  operationId: "testEcho",
  summary: "test only",
  tag: "Test",
  auth: "write",
  params: accountParams.extend({ thing_uuid: uuid }),
  body: z.object({ name: z.string().max(10), count: z.number().int(), nested: z.object({ flag: z.boolean() }).optional() }),
  result: z.object({ name: z.string(), count: z.number() }),
  async handler({ body }) {
    return ok({ name: body.name, count: body.count });
  },
});

/** A route whose handler breaks, to check that a 500 never leaks internals. */
const broken = defineRoute({
  method: "GET",
  path: "/accounts/:account_id/test/broken",
  operationId: "testBroken",
  summary: "test only",
  tag: "Test",
  auth: "read",
  params: accountParams,
  result: z.null(),
  async handler() {
    throw new Error("secret internal detail at /srv/kiln");
  },
});

describe("HTTP conventions", () => {
  let h: Harness;
  let account: string;
  let token: string;
  const thing = "182bd5e5-6e1a-4fe4-a799-aa6d9a6ab26e";
  const echoUrl = () => `/client/v4/accounts/${account}/test/echo/${thing}`;

  before(async () => {
    h = await startHarness("sqlite", { routes: [...routes, echo, broken] });
    account = (await h.account()).id;
    token = (await h.token([account], ["Workers CI Write"])).value;
  });
  after(() => h.close());

  it("unknown route → 400 with 7003 and 7000 (outside /client/v4 and /webhooks a GET gets the dashboard's 404 page)", async () => {
    for (const [method, path] of [["GET", "/client/v4/nope"], ["POST", "/no/such/page"], ["GET", "/client/v4/accounts/x/y/z"], ["GET", "/webhooks/nope"]] as const) {
      const r = await h.call(method, path, { token });
      assert.equal(r.status, 400);
      assert.deepEqual(r.body, {
        success: false,
        errors: [
          { code: 7003, message: `Could not route to ${path}, perhaps your object identifier is invalid?` },
          { code: 7000, message: "No route for that URI" },
        ],
        messages: [],
        result: null,
      });
    }
    const page = await h.call("GET", "/no/such/page", { token });
    assert.equal(page.status, 404);
    assert.equal(page.headers["content-type"], "text/html; charset=utf-8");
  });

  it("wrong method on a known path → 405 10405", async () => {
    const r = await h.call("DELETE", `/client/v4/accounts/${account}/workers/scripts`, { token });
    assert.equal(r.status, 405);
    assert.deepEqual(r.body.errors, [{ code: 10405, message: "Method not allowed" }]);
    assert.equal((await h.call("POST", "/client/v4/user/tokens/verify", { token })).status, 405);
  });

  it("a valid body is accepted and unknown fields are ignored", async () => {
    const r = await h.call("POST", echoUrl(), { token, body: { name: "x", count: 2, extra: { deep: true } } });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { success: true, errors: [], messages: [], result: { name: "x", count: 2 } });
  });

  it("malformed JSON → 400 12002", async () => {
    const r = await h.call("POST", echoUrl(), { token, rawBody: '{"name": "x",' });
    assert.equal(r.status, 400);
    assert.deepEqual(r.body.errors, [{ code: 12002, message: "Invalid request body: body: malformed JSON" }]);
  });

  it("JSON sent with another content type is still read as JSON", async () => {
    const r = await h.call("POST", echoUrl(), { token, rawBody: '{"name":"x","count":1}', headers: { "content-type": "text/plain" } });
    assert.equal(r.status, 200);
  });

  const invalid: [string, unknown, string][] = [
    ["missing field", { count: 1 }, "Invalid request body: name: required"],
    ["wrong type", { name: 5, count: 1 }, "Invalid request body: name: "],
    ["over-long string", { name: "x".repeat(11), count: 1 }, "Invalid request body: name: "],
    ["nested wrong type", { name: "a", count: 1, nested: { flag: "yes" } }, "Invalid request body: nested.flag: "],
    ["not an object", [1, 2], "Invalid request body: "],
    ["no body at all", undefined, "Invalid request body: body: required"],
  ];
  for (const [what, body, prefix] of invalid) {
    it(`invalid body (${what}) → 400 12002 naming the field`, async () => {
      const r = await h.call("POST", echoUrl(), { token, ...(body === undefined ? {} : { body }) });
      assert.equal(r.status, 400);
      assert.deepEqual(errorCodes(r), [12002]);
      assert.ok(r.body.errors[0].message.startsWith(prefix), r.body.errors[0].message);
    });
  }

  it("a path id that is not a UUID → 404 12000", async () => {
    const r = await h.call("POST", `/client/v4/accounts/${account}/test/echo/not-a-uuid`, { token, body: { name: "x", count: 1 } });
    assert.equal(r.status, 404);
    assert.deepEqual(r.body.errors, [{ code: 12000, message: "Not found" }]);
  });

  it("a body over 1 MiB → 413 10413", async () => {
    const r = await h.call("POST", echoUrl(), { token, rawBody: JSON.stringify({ name: "x", count: 1, pad: "y".repeat(1024 * 1024) }) });
    assert.equal(r.status, 413);
    assert.deepEqual(r.body, { success: false, errors: [{ code: 10413, message: "Request body too large" }], messages: [], result: null });
  });

  it("a handler crash → 500 10500 with no internals", async () => {
    const r = await h.call("GET", `/client/v4/accounts/${account}/test/broken`, { token });
    assert.equal(r.status, 500);
    assert.deepEqual(r.body, { success: false, errors: [{ code: 10500, message: "Internal error" }], messages: [], result: null });
    assert.doesNotMatch(JSON.stringify(r.body), /secret|srv|stack/);
  });

  it("authentication runs before validation (unauthenticated never learns about ids)", async () => {
    const r = await h.call("POST", `/client/v4/accounts/${account}/test/echo/not-a-uuid`, { body: {} });
    assert.equal(r.status, 400);
    assert.deepEqual(errorCodes(r), [9106]);
  });

  it("HEAD on a GET route goes through the same credential check", async () => {
    const path = `/client/v4/accounts/${account}/workers/scripts`;
    assert.equal((await h.call("HEAD", path)).status, 400);
    assert.equal((await h.call("HEAD", path, { token: "x".repeat(40) })).status, 401);
    assert.equal((await h.call("HEAD", path, { token })).status, 200);
  });

  it("the route without credentials (deploy-hook trigger) takes at most 16 KiB of body", async () => {
    const url = "/client/v4/workers/builds/deploy_hooks/182bd5e5-6e1a-4fe4-a799-aa6d9a6ab26e";
    const big = await h.call("POST", url, { rawBody: JSON.stringify({ pad: "y".repeat(17 * 1024) }) });
    assert.equal(big.status, 413);
    assert.deepEqual(errorCodes(big), [10413]);
    const small = await h.call("POST", url, { rawBody: JSON.stringify({ pad: "y".repeat(1024) }) });
    assert.deepEqual(errorCodes(small), [12000], "an unknown hook, as before");
  });

  it("HTTP limits: defaults, KILN_* variables, and a header timeout longer than the request timeout refused", () => {
    const d = loadConfig({}, {});
    assert.deepEqual(
      [d.headersTimeout, d.requestTimeout, d.keepAliveTimeout, d.idleTimeout, d.maxConnections, d.logStreamsPerToken, d.logStreamsPerAccount],
      [20, 60, 72, 300, undefined, 100, 500],
    );
    const e = loadConfig({}, { KILN_HEADERS_TIMEOUT: "2", KILN_REQUEST_TIMEOUT: "5", KILN_MAX_CONNECTIONS: "50", KILN_LOG_STREAMS_PER_TOKEN: "3", KILN_IDLE_TIMEOUT: "0" });
    assert.deepEqual([e.headersTimeout, e.requestTimeout, e.maxConnections, e.logStreamsPerToken, e.idleTimeout], [2, 5, 50, 3, 0]);
    assert.throws(() => loadConfig({ headersTimeout: "90" }, {}), (x: unknown) => x instanceof ConfigError && /--headers-timeout \(or KILN_HEADERS_TIMEOUT\): must be at most --request-timeout/.test(x.message));
    assert.throws(() => loadConfig({}, { KILN_LOG_STREAMS_PER_ACCOUNT: "0" }), (x: unknown) => x instanceof ConfigError && /--log-streams-per-account/.test(x.message));
  });

  it("a request arriving on an open connection while the server closes: 503 10503 in the envelope (not Fastify's own)", async () => {
    const slow = defineRoute({
      method: "GET", path: "/test/slow", operationId: "testSlow", summary: "test only", tag: "Test", auth: "none", result: z.null(),
      async handler() {
        await new Promise((r) => setTimeout(r, 300));
        return ok(null);
      },
    });
    const app = await createApp(h.kiln.deps, { routes: [...routes, slow] });
    await app.fastify.listen({ port: 0, host: "127.0.0.1" });
    const socket = await hold((app.fastify.server.address() as AddressInfo).port, "GET /client/v4/test/slow HTTP/1.1\r\nHost: kiln\r\n\r\n");
    try {
      await new Promise((r) => setTimeout(r, 100));
      const closed = app.fastify.close();
      assert.equal((await socket.answer)?.status, 200);
      // The first answer kept the connection alive; the next request on it comes during close().
      socket.socket.write("GET /healthz HTTP/1.1\r\nHost: kiln\r\n\r\n");
      await waitUntil("the second answer", () => socket.received().includes("HTTP/1.1 503"), 2000);
      const second = socket.received().slice(socket.received().indexOf("HTTP/1.1 503"));
      assert.match(second, /connection: close/i);
      assert.ok(second.endsWith('{"success":false,"errors":[{"code":10503,"message":"Service unavailable"}],"messages":[],"result":null}'), second);
      await closed;
    } finally {
      socket.socket.destroy();
    }
  });

  it("echoes a request id, generated or given", async () => {
    const generated = await h.call("GET", "/client/v4/user/tokens/verify", { token });
    assert.match(String(generated.headers["x-request-id"]), /^[0-9a-f-]{36}$/);
    const given = await h.call("GET", "/client/v4/user/tokens/verify", { token, headers: { "x-request-id": "abc-123" } });
    assert.equal(given.headers["x-request-id"], "abc-123");
  });

  it("trailing slash is the same route", async () => {
    const r = await h.call("GET", `/client/v4/accounts/${account}/workers/scripts/`, { token });
    assert.equal(r.status, 200);
  });

  it("/healthz answers ok with the database kind", async () => {
    const r = await h.call("GET", "/healthz");
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.result, { status: "ok", database: "sqlite" });
  });

  it("/metrics counts requests by route and status and has a latency histogram", async () => {
    await h.call("GET", `/client/v4/accounts/${account}/workers/scripts`, { token });
    await h.call("GET", `/client/v4/accounts/${account}/workers/scripts`);
    const r = await h.call("GET", "/metrics");
    assert.equal(r.status, 200);
    const text = String(r.body);
    assert.match(text, /kiln_http_requests_total\{method="GET",route="\/client\/v4\/accounts\/:account_id\/workers\/scripts",status="200"\} [1-9]/);
    assert.match(text, /kiln_http_requests_total\{method="GET",route="\/client\/v4\/accounts\/:account_id\/workers\/scripts",status="400"\} 1/);
    assert.match(text, /kiln_http_request_duration_seconds_bucket\{le="0\.001",method="GET"/);
  });

  it("/client/v4/openapi.json describes every route from its schemas", async () => {
    const r = await h.call("GET", "/client/v4/openapi.json");
    assert.equal(r.status, 200);
    assert.equal(r.body.openapi, "3.1.0");
    const scripts = r.body.paths["/accounts/{account_id}/workers/scripts"].get;
    assert.equal(scripts.operationId, "listWorkerScripts");
    assert.deepEqual(scripts["x-api-token-group"], ["Workers CI Write", "Workers CI Read"]);
    // Answers that are not the envelope are described as what they are.
    assert.deepEqual(r.body.paths["/accounts/{account_id}/builds/builds/{build_uuid}/logs/raw"].get.responses["200"].content, { "text/plain": { schema: { type: "string" } } });
    assert.deepEqual(Object.keys(r.body.paths["/accounts/{account_id}/builds/builds/{build_uuid}/logs/stream"].get.responses["200"].content), ["text/event-stream"]);
    assert.deepEqual(Object.keys(scripts.responses["200"].content), ["application/json"]);
    const echoOp = r.body.paths["/accounts/{account_id}/test/echo/{thing_uuid}"].post;
    assert.deepEqual(echoOp.requestBody.content["application/json"].schema.required.sort(), ["count", "name"]);
  });
});

for (const dialect of dialects()) describe(`${dialect}: scripts list`, () => {
  let h: Harness;
  before(async () => {
    h = await startHarness(dialect);
  });
  after(() => h.close());

  it("answers the account's Workers in Cloudflare's shape, with either group", async () => {
    const a = (await h.account("a")).id;
    const b = (await h.account("b")).id;
    const one = await h.worker(a, "api");
    const two = await h.worker(a, "web");
    await h.worker(b, "other");
    for (const group of ["Workers CI Read", "Workers CI Write"] as const) {
      const { value } = await h.token([a], [group]);
      const r = await h.call("GET", `/client/v4/accounts/${a}/workers/scripts`, { token: value });
      assert.equal(r.status, 200);
      assert.deepEqual(r.body.result, [
        { id: "api", tag: one.tag, created_on: one.created_on, modified_on: one.modified_on },
        { id: "web", tag: two.tag, created_on: two.created_on, modified_on: two.modified_on },
      ]);
      assert.match(one.tag, /^[0-9a-f]{32}$/);
    }
  });
});

/**
 * The parts of a webhook delivery on their own: Standard Webhooks signatures (checked with the
 * `standardwebhooks` library), the retry schedule, the destination guard, and the HTTP sender
 * against real loopback servers.
 */
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { Webhook, WebhookVerificationError } from "standardwebhooks";
import { isDeniedAddress } from "../../src/domain/address-ranges.ts";
import { newWebhookSecret, signWebhook, WEBHOOK_SECRET_FORMAT } from "../../src/domain/standard-webhooks.ts";
import { DEFAULT_RETRY_SCHEDULE_MS, maxAttempts, retryDelayMs } from "../../src/domain/webhook-backoff.ts";
import { checkDestination, DestinationRefused, type Resolver } from "../../src/outbound/address-guard.ts";
import { postWebhook, RESPONSE_EXCERPT } from "../../src/outbound/http-sender.ts";

describe("Standard Webhooks signatures", () => {
  it("verify with the standardwebhooks library", () => {
    const secret = newWebhookSecret();
    assert.match(secret, WEBHOOK_SECRET_FORMAT);
    const body = JSON.stringify({ type: "cf.workersBuilds.worker.build.succeeded", payload: { ü: "ß" } });
    const headers = signWebhook(secret, "msg_1", new Date(), body);
    assert.equal(headers["webhook-id"], "msg_1");
    assert.match(headers["webhook-timestamp"], /^\d{10}$/);
    assert.match(headers["webhook-signature"], /^v1,[A-Za-z0-9+/]{43}=$/);
    assert.deepEqual(new Webhook(secret).verify(body, { ...headers }), JSON.parse(body));
  });

  it("fail verification for another secret, another body, another id or an old timestamp", () => {
    const secret = newWebhookSecret();
    const body = '{"a":1}';
    const headers = { ...signWebhook(secret, "msg_1", new Date(), body) };
    assert.throws(() => new Webhook(newWebhookSecret()).verify(body, headers), WebhookVerificationError);
    assert.throws(() => new Webhook(secret).verify('{"a":2}', headers), WebhookVerificationError);
    assert.throws(() => new Webhook(secret).verify(body, { ...headers, "webhook-id": "msg_2" }), WebhookVerificationError);
    const old = { ...signWebhook(secret, "msg_1", new Date(Date.now() - 10 * 60_000), body) };
    assert.throws(() => new Webhook(secret).verify(body, old), WebhookVerificationError);
  });

  it("agree with the library's own signer", () => {
    const secret = newWebhookSecret();
    const at = new Date(1_700_000_000_000);
    assert.equal(signWebhook(secret, "msg_x", at, "{}")["webhook-signature"], new Webhook(secret).sign("msg_x", at, "{}"));
  });
});

describe("retry schedule", () => {
  it("is 8 attempts over more than an hour (about 27.5 h)", () => {
    assert.equal(maxAttempts(), 8);
    const total = DEFAULT_RETRY_SCHEDULE_MS.reduce((a, b) => a + b, 0);
    assert.equal(total, 99_305_000);
    assert.ok(total >= 3_600_000);
  });

  it("waits 5 s, 5 min, 30 min … with ±10 % jitter, then gives up", () => {
    assert.equal(retryDelayMs(1, undefined, () => 0.5), 5_000);
    assert.equal(retryDelayMs(2, undefined, () => 0.5), 300_000);
    assert.equal(retryDelayMs(3, undefined, () => 0), 1_620_000);
    assert.equal(retryDelayMs(3, undefined, () => 1), 1_980_000);
    assert.equal(retryDelayMs(7, undefined, () => 0.5), 36_000_000);
    assert.equal(retryDelayMs(8), undefined);
    assert.equal(retryDelayMs(0), undefined);
    assert.equal(retryDelayMs(2, [10, 20], () => 0.5), 20);
  });
});

describe("denied addresses", () => {
  it("cover loopback, private, link-local, shared, multicast, unspecified, v4 and v6, mapped ones too", () => {
    const denied = ["127.0.0.1", "127.9.9.9", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255",
      "::1", "::", "fe80::1", "fe80::1%eth0", "fc00::1", "fd12:3456::1", "ff02::1", "fec0::1", "::ffff:127.0.0.1", "::ffff:7f00:1", "::ffff:10.0.0.1", "::ffff:a9fe:a9fe", "64:ff9b::a00:1", "not an address", ""];
    const allowed = ["1.1.1.1", "93.184.216.34", "172.32.0.1", "192.169.0.1", "100.128.0.1", "2606:4700:4700::1111", "2001:4860:4860::8888", "::ffff:1.1.1.1"];
    for (const a of denied) assert.equal(isDeniedAddress(a), true, a);
    for (const a of allowed) assert.equal(isDeniedAddress(a), false, a);
  });
});

const fixed = (...answers: string[]): Resolver => async () => answers.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
const strict = { allowPrivate: false, ownApi: { origins: ["https://kiln.example.com"], port: 8787 } };

describe("destination guard", () => {
  const refused = async (url: string, pattern: RegExp, options: Parameters<typeof checkDestination>[1] = strict) => {
    await assert.rejects(checkDestination(url, options), (e: unknown) => e instanceof DestinationRefused && pattern.test(e.reason));
  };

  it("refuses what is not an http(s) URL, or carries credentials", async () => {
    await refused("not a url", /absolute http/);
    await refused("ftp://example.com/x", /http:\/\/ or https:\/\//);
    await refused("file:///etc/passwd", /http:\/\/ or https:\/\//);
    await refused("https://user:pw@example.com/", /user name or password/);
  });

  it("refuses literal and resolved private addresses unless allowed", async () => {
    await refused("http://127.0.0.1:9/", /resolves to 127\.0\.0\.1.*--webhook-allow-private/);
    await refused("http://[::1]/", /resolves to ::1/);
    await refused("http://[::ffff:169.254.169.254]/", /resolves to ::ffff:a9fe:a9fe/);
    await refused("http://localhost:9/", /resolves to (127\.0\.0\.1|::1)/);
    await refused("http://internal.example/", /resolves to 10\.0\.0\.5/, { ...strict, resolver: fixed("10.0.0.5") });
    // One private answer among public ones is enough to refuse.
    await refused("http://mixed.example/", /resolves to fd00::5/, { ...strict, resolver: fixed("93.184.216.34", "fd00::5") });
    const ok = await checkDestination("http://internal.example/x", { ...strict, allowPrivate: true, resolver: fixed("10.0.0.5") });
    assert.deepEqual(ok.addresses, [{ address: "10.0.0.5", family: 4 }]);
    const pub = await checkDestination("https://hooks.example/x?y=1", { ...strict, resolver: fixed("93.184.216.34") });
    assert.equal(pub.url.href, "https://hooks.example/x?y=1");
  });

  it("refuses a host that does not resolve", async () => {
    await refused("http://nothing.invalid/", /does not resolve/);
  });

  it("refuses Kiln's own API, even when private addresses are allowed", async () => {
    const open = { ...strict, allowPrivate: true };
    await refused("https://kiln.example.com/client/v4/workers/deploy_hooks/x", /Kiln's own API/, open);
    await refused("http://127.0.0.1:8787/client/v4/workers/deploy_hooks/x", /Kiln's own API/, open);
    await refused("http://localhost:8787/", /Kiln's own API/, open);
    await checkDestination("http://127.0.0.1:8788/", open);
  });
});

describe("HTTP sender", () => {
  let server: http.Server;
  let port = 0;
  const seen: { path: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
  before(async () => {
    server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        seen.push({ path: req.url ?? "", headers: req.headers, body });
        if (req.url === "/redirect") {
          res.writeHead(302, { location: `http://127.0.0.1:${port}/ok` }).end();
        } else if (req.url === "/slow") {
          setTimeout(() => res.writeHead(200).end("late"), 2000).unref();
        } else if (req.url === "/big") {
          res.writeHead(200);
          // Far more than the sender reads: it must stop early rather than take it all.
          const chunk = "x".repeat(64 * 1024);
          let n = 0;
          const pump = () => {
            while (n < 1024 && res.write(chunk)) n++;
            if (n < 1024 && !res.destroyed) res.once("drain", pump);
            else res.end();
          };
          res.on("error", () => undefined);
          pump();
        } else if (req.url === "/fail") {
          res.writeHead(503).end("down for maintenance");
        } else res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const post = (path: string, extra: Partial<Parameters<typeof postWebhook>[0]> = {}) =>
    postWebhook({
      url: new URL(`http://hooks.example:${port}${path}`),
      addresses: [{ address: "127.0.0.1", family: 4 }],
      headers: { "webhook-id": "msg_1" },
      body: '{"hello":"world"}',
      timeoutMs: 5000,
      ...extra,
    });

  it("connects to the checked address, not to what the name resolves to now", async () => {
    // hooks.example does not resolve at all: the pinned address is the only way there.
    const answer = await post("/ok");
    assert.equal(answer.status, 204);
    assert.equal(answer.ok, true);
    assert.equal(answer.error, undefined);
    const last = seen.at(-1);
    assert.equal(last?.headers.host, `hooks.example:${port}`);
    assert.equal(last?.headers["content-type"], "application/json");
    assert.equal(last?.headers["webhook-id"], "msg_1");
    assert.equal(last?.body, '{"hello":"world"}');
  });

  it("does not follow a redirect", async () => {
    const before = seen.length;
    const answer = await post("/redirect");
    assert.equal(answer.status, 302);
    assert.equal(answer.ok, false);
    assert.match(answer.error ?? "", /^HTTP 302: redirects are not followed \(to http:\/\/127\.0\.0\.1:\d+\/ok\)$/);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(seen.length, before + 1);
  });

  it("gives up at the deadline", async () => {
    const answer = await post("/slow", { timeoutMs: 300 });
    assert.equal(answer.status, undefined);
    assert.equal(answer.error, "timed out after 300 ms");
    assert.ok(answer.durationMs >= 290 && answer.durationMs < 1500, String(answer.durationMs));
  });

  it("reads only the first bytes of a large answer", async () => {
    const answer = await post("/big");
    assert.equal(answer.status, 200);
    assert.equal(answer.responseBody.length, RESPONSE_EXCERPT);
  });

  it("reports a failure status with the answer's start, and a refused connection", async () => {
    const answer = await post("/fail");
    assert.equal(answer.status, 503);
    assert.equal(answer.error, "HTTP 503");
    assert.equal(answer.responseBody, "down for maintenance");
    const closed = await postWebhook({ url: new URL("http://127.0.0.1:9/"), addresses: [{ address: "127.0.0.1", family: 4 }], headers: {}, body: "{}", timeoutMs: 2000 });
    assert.equal(closed.status, undefined);
    assert.match(closed.error ?? "", /ECONNREFUSED/);
  });
});

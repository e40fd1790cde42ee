/**
 * HTTP limits against real `kiln serve` processes over loopback, started with small
 * limits so the attacks are quick:
 *
 * - slowloris: thousands of sockets sending partial headers or a body a byte at a time, on a
 *   server whose open-file limit is 1,024 and cannot be raised: a fresh client is still answered
 *   within a second (the connection cap displaces the connection waiting longest);
 * - the header and request timeouts close such sockets (408 in the envelope), and do not touch a
 *   live log stream, which outlives them;
 * - live log streams are capped per token and per account (429 10429), and another account's
 *   requests stay fast while one token holds a thousand of them (p99 printed);
 * - credentials are checked before a body is read: a refused 1 MiB upload is answered while its
 *   body has not even been sent;
 * - what Node's parser refuses (400, 408, 413, 414, 431, 505) is answered in the envelope.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { raiseFileLimit, readFileLimit } from "../../src/cli/fd-limit.ts";
import { kiln, startServer } from "../helpers/cli.ts";
import { dribble, get, hold, holdMany, percentile, portOf, send, waitUntil, type Held } from "../helpers/raw-http.ts";
import { makeDatabase, type TestDatabase } from "../helpers/databases.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";
import { httpTrigger } from "../helpers/served-builds.ts";

type Server = Awaited<ReturnType<typeof startServer>>;

async function admin(db: TestDatabase, args: string[]): Promise<Record<string, string>> {
  const r = await kiln([...args, ...db.flags, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, string>;
}

// First, while this process has few descriptors open: it lowers its own soft limit for a moment.
it("raiseFileLimit lifts a soft open-file limit to the hard one with prlimit", async () => {
  const start = readFileLimit();
  assert.ok(start, "/proc/self/limits is readable");
  execFileSync("prlimit", ["--pid", String(process.pid), `--nofile=1024:${start.hard}`]);
  try {
    assert.equal(readFileLimit()?.soft, 1024);
    const outcome = await raiseFileLimit();
    assert.deepEqual(outcome, { limit: { soft: start.hard, hard: start.hard }, raisedFrom: 1024 });
    // Nothing left to raise: nothing done.
    assert.deepEqual(await raiseFileLimit(), { limit: { soft: start.hard, hard: start.hard } });
  } finally {
    execFileSync("prlimit", ["--pid", String(process.pid), `--nofile=${start.soft}:${start.hard}`]);
  }
});

describe("HTTP limits", () => {
  let db: TestDatabase;
  let repo: TestRepo;
  /** Short timeouts (headers 1 s, request 2 s, idle 4 s) and stream caps; its open-file limit starts at 1,024 and may be raised to 8,192. */
  let server: Server;
  /** Default timeouts; its open-file limit is 1,024 and cannot be raised. */
  let lowFd: Server;
  let account: string;
  let write: string;
  let readA: string;
  let readB: string;
  let other: string;
  let otherToken: string;
  let buildUuid: string;

  before(async () => {
    db = await makeDatabase("sqlite");
    repo = makeRepo({ name: "limits-app", files: { "package.json": "{}" } });
    account = (await admin(db, ["account", "create", "--name", "streams"])).id as string;
    const token = async (acc: string, name: string, ...groups: string[]) =>
      (await admin(db, ["token", "create", "--account", acc, "--name", name, ...groups.flatMap((g) => ["--permission", g])])).value as string;
    write = await token(account, "w", "Workers CI Write", "Workers CI Read");
    readA = await token(account, "ra", "Workers CI Read");
    readB = await token(account, "rb", "Workers CI Read");
    other = (await admin(db, ["account", "create", "--name", "bystander"])).id as string;
    otherToken = await token(other, "o", "Workers CI Read");
    const workerTag = (await admin(db, ["worker", "create", "--account", account, "--name", "limits-worker"])).tag as string;
    await admin(db, ["worker", "create", "--account", other, "--name", "bystander-worker"]);

    const common = [...db.flags, "--no-runner", "--git-url-template", repo.template];
    [server, lowFd] = await Promise.all([
      startServer(
        [...common, "--headers-timeout", "1", "--request-timeout", "2", "--idle-timeout", "4", "--log-streams-per-token", "1000", "--log-streams-per-account", "1200"],
        {},
        { prefix: ["prlimit", "--nofile=1024:8192"] },
      ),
      startServer(common, {}, { prefix: ["prlimit", "--nofile=1024:1024"] }),
    ]);

    // A build that stays queued (no runner): its live stream stays open.
    const { api, triggerUuid } = await httpTrigger(server.base, write, account, { workerTag, repoId: "limits-1", repoName: "limits-app" });
    buildUuid = (await api(`/triggers/${triggerUuid}/builds`, "POST", { branch: "main" })).build_uuid as string;
  });

  after(async () => {
    for (const s of [server, lowFd]) s?.child.kill("SIGTERM");
    await Promise.all([server?.exited, lowFd?.exited]);
    await db?.cleanup();
    repo?.cleanup();
  });

  it("runs with the open-file limit at its hard limit and caps connections at 3/4 of it", () => {
    // Started with a soft limit of 1,024 under a hard 8,192.
    assert.match(server.stderr(), /"max_connections":6144,"open_files":8192,"open_files_hard":8192,"msg":"connection cap"/);
    // At its hard limit already: nothing to raise, nothing to complain about.
    assert.doesNotMatch(lowFd.stderr(), /open-file limit (raised|could not)/);
    assert.match(lowFd.stderr(), /"max_connections":768,"open_files":1024,"open_files_hard":1024,"msg":"connection cap"/);
  });

  it("slowloris on 1,024 file descriptors: 2,000 partial-header and 1,100 slow-body sockets, a fresh client is answered within 1 s", async () => {
    const port = portOf(lowFd.base);
    const partial = await holdMany(port, 2000, (i) => `GET /client/v4/user/tokens/verify HTTP/1.1\r\nHost: kiln\r\nX-Slow-${i}: `);
    const slowBody = await holdMany(
      port,
      1100,
      () => `POST /client/v4/accounts/${account}/builds/tokens HTTP/1.1\r\nHost: kiln\r\nAuthorization: Bearer ${write}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{`,
    );
    const stop = dribble([...partial, ...slowBody], "a", 500);
    try {
      // The cap (3/4 of 1,024) holds: the connections waiting longest were closed to make room.
      await waitUntil("the cap to close the oldest", () => [...partial, ...slowBody].filter((h) => h.closedAt === undefined).length <= 768, 10_000);
      const fresh: number[] = [];
      for (let i = 0; i < 20; i++) {
        const a = await send(port, get("/client/v4/user/tokens/verify", write));
        assert.equal(a.status, 200, JSON.stringify(a.body));
        fresh.push(a.ms);
      }
      const stillOpen = [...partial, ...slowBody].filter((h) => h.closedAt === undefined).length;
      console.log(`slowloris (3,100 sockets, fd limit 1,024, cap 768): ${stillOpen} attack sockets open; 20 fresh requests answered, max ${Math.max(...fresh)} ms, p50 ${percentile(fresh, 50)} ms`);
      assert.ok(Math.max(...fresh) < 1000, `fresh requests took ${fresh.join(", ")} ms`);
      // Every partial-header socket was displaced before the slow bodies (they waited longest).
      assert.ok(partial.every((h) => h.closedAt !== undefined));
      await waitUntil("the shed warning", () => /"msg":"connection cap reached: closed the connections waiting longest"/.test(lowFd.stderr()), 2000);
      const metrics = await send(port, get("/metrics"));
      assert.match(String(metrics.body), /^kiln_http_connections_shed_total (\d+)$/m);
      assert.ok(Number(/^kiln_http_connections_shed_total (\d+)$/m.exec(String(metrics.body))?.[1]) >= 2300);
    } finally {
      stop();
      for (const h of [...partial, ...slowBody]) h.socket.destroy();
    }
  });

  it("partial headers, and sockets that send nothing: closed within headersTimeout (1 s) + 1.5 s, 408 10408", async () => {
    const port = portOf(server.base);
    const partial = await holdMany(port, 300, (i) => `GET /client/v4/user/tokens/verify HTTP/1.1\r\nHost: kiln\r\nX-Slow-${i}: `);
    const silent = await holdMany(port, 100, () => "");
    const sockets = [...partial, ...silent];
    const stop = dribble(partial, "a", 200);
    try {
      await waitUntil("every partial-header socket to be closed", () => sockets.every((h) => h.closedAt !== undefined), 5000);
      const lifetimes = sockets.map((h) => (h.closedAt ?? Number.NaN) - h.openedAt);
      console.log(`partial headers and silence: 400 sockets closed after ${Math.min(...lifetimes)}-${Math.max(...lifetimes)} ms (headers timeout 1 s)`);
      assert.ok(Math.max(...lifetimes) < 2500, `lifetimes up to ${Math.max(...lifetimes)} ms`);
      const answer = await sockets[0]?.answer;
      assert.equal(answer?.status, 408);
      assert.deepEqual(answer?.body, { success: false, errors: [{ code: 10408, message: "Request timeout: the request did not arrive in time" }], messages: [], result: null });
      const metrics = await send(port, get("/metrics"));
      assert.ok(Number(/^kiln_http_refused_requests_total\{status="408"\} (\d+)$/m.exec(String(metrics.body))?.[1]) >= 400, String(metrics.body).slice(0, 2000));
    } finally {
      stop();
    }
  });

  it("a slow body: 408 10408 at the request timeout (2 s)", async () => {
    const h = await hold(
      portOf(server.base),
      `POST /client/v4/accounts/${account}/builds/tokens HTTP/1.1\r\nHost: kiln\r\nAuthorization: Bearer ${write}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`,
    );
    const stop = dribble([h], " ", 200);
    try {
      const answer = await h.answer;
      assert.equal(answer?.status, 408);
      assert.deepEqual(answer?.body.errors, [{ code: 10408, message: "Request timeout: the request did not arrive in time" }]);
      assert.ok(answer && answer.ms >= 1900 && answer.ms < 4000, `answered after ${answer?.ms} ms`);
    } finally {
      stop();
      h.socket.destroy();
    }
  });

  describe("credentials before the body", () => {
    const upload = (token: string | undefined, extra = "") =>
      `POST /client/v4/accounts/${account}/builds/tokens HTTP/1.1\r\nHost: kiln\r\n${token ? `Authorization: Bearer ${token}\r\n` : ""}Content-Type: application/json\r\nContent-Length: ${1024 * 1024}\r\n${extra}\r\n`;
    const cases: [string, () => string | undefined, number, number[]][] = [
      ["no credentials", () => undefined, 400, [9106]],
      ["an unknown token", () => "x".repeat(40), 401, [10000]],
      ["a read token on a write route", () => readA, 403, [10000]],
    ];
    for (const [what, token, status, codes] of cases) {
      it(`a 1 MiB upload with ${what} is answered ${status} before its body is sent, and the connection closed`, async () => {
        // Only the headers go out: an answer proves the body was never needed.
        const h = await hold(portOf(server.base), upload(token()));
        const answer = await h.answer;
        assert.equal(answer?.status, status);
        assert.deepEqual(answer?.body.errors.map((e: { code: number }) => e.code), codes);
        assert.equal(answer?.headers.connection, "close");
        await waitUntil("the server to close the connection", () => h.closedAt !== undefined, 2000);
      });
    }

    it("an error after the body was read (a field fails validation) keeps the connection", async () => {
      const body = JSON.stringify({ build_token_name: 5 });
      const a = await send(
        portOf(server.base),
        `POST /client/v4/accounts/${account}/builds/tokens HTTP/1.1\r\nHost: kiln\r\nAuthorization: Bearer ${write}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      );
      assert.equal(a.status, 400);
      assert.deepEqual(a.body.errors.map((e: { code: number }) => e.code), [12002]);
      assert.equal(a.headers.connection, "keep-alive");
    });

    it("Expect: 100-continue: no 100 Continue for refused credentials; 100 then the answer for valid ones", async () => {
      const refused = await hold(portOf(server.base), upload("x".repeat(40), "Expect: 100-continue\r\n"));
      assert.equal((await refused.answer)?.status, 401);
      assert.doesNotMatch(refused.received(), /100 Continue/);

      const body = JSON.stringify({ build_token_name: "continued", build_token_secret: "cf-secret-value-2", cloudflare_token_id: "cf2" });
      const accepted = await hold(
        portOf(server.base),
        `POST /client/v4/accounts/${account}/builds/tokens HTTP/1.1\r\nHost: kiln\r\nAuthorization: Bearer ${write}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
      );
      await waitUntil("100 Continue", () => accepted.received().startsWith("HTTP/1.1 100 Continue"), 2000);
      accepted.socket.write(body);
      const answer = await accepted.answer;
      assert.equal(answer?.status, 200, JSON.stringify(answer?.body));
    });

    it("a webhook with a wrong GitLab token is refused 401 10401 before its 10 MiB body", async () => {
      const h = await hold(
        portOf(server.base),
        `POST /webhooks/gitlab/${account} HTTP/1.1\r\nHost: kiln\r\nX-Gitlab-Event: Push Hook\r\nX-Gitlab-Token: wrong-token\r\nContent-Length: ${10 * 1024 * 1024}\r\n\r\n`,
      );
      const answer = await h.answer;
      assert.equal(answer?.status, 401);
      assert.deepEqual(answer?.body.errors.map((e: { code: number }) => e.code), [10401]);
    });
  });

  describe("refusals of the HTTP layer are in the envelope", () => {
    const envelope = (status: number, code: number, what: string, request: () => string) =>
      it(`${status} ${code}: ${what}`, async () => {
        const a = await send(portOf(server.base), request());
        assert.equal(a.status, status, JSON.stringify(a.body));
        assert.equal(a.headers["content-type"], "application/json; charset=utf-8");
        assert.equal(a.body.success, false);
        assert.deepEqual(a.body.messages, []);
        assert.equal(a.body.result, null);
        assert.deepEqual(a.body.errors.map((e: { code: number }) => e.code), [code], JSON.stringify(a.body));
      });
    envelope(400, 10400, "a request line the parser cannot read", () => "NOT A REQUEST\r\n\r\n");
    envelope(400, 10400, "a malformed header line", () => "GET / HTTP/1.1\r\nHost: kiln\r\nBad Header Line\r\n\r\n");
    envelope(413, 10413, "Content-Length over 1 MiB, refused on the header before a byte of the body", () => `POST /client/v4/accounts/${account}/builds/tokens HTTP/1.1\r\nHost: kiln\r\nAuthorization: Bearer ${write}\r\nContent-Length: ${2 * 1024 * 1024}\r\n\r\n`);
    envelope(413, 10413, "a chunk extension over Node's limit", () => `POST /client/v4/accounts/${account}/builds/tokens HTTP/1.1\r\nHost: kiln\r\nAuthorization: Bearer ${write}\r\nTransfer-Encoding: chunked\r\n\r\n1;${"a".repeat(20_000)}\r\nx\r\n0\r\n\r\n`);
    envelope(414, 10414, "a URL over 8 KiB (within Node's 16 KiB header limit)", () => get(`/client/v4/accounts?x=${"a".repeat(9000)}`, write));
    envelope(414, 10414, "a URL over the 16 KiB header limit itself", () => get(`/client/v4/accounts?x=${"a".repeat(20_000)}`, write));
    envelope(431, 10431, "a 20 KiB header", () => get("/client/v4/accounts", write, `X-Big: ${"a".repeat(20_000)}\r\n`));
    envelope(505, 10505, "HTTP/1.2 (the parser refuses it)", () => "GET /client/v4/accounts HTTP/1.2\r\nHost: kiln\r\n\r\n");
    envelope(505, 10505, "HTTP/2.0 in an HTTP/1 request line (the parser takes it, Kiln does not)", () => "GET /client/v4/accounts HTTP/2.0\r\nHost: kiln\r\n\r\n");
    // (408 is asserted with the timeouts above.)
  });

  it("1,000 live streams on one token: the 1,001st is 429 10429, another token of the account hits the account cap, streams outlive the header, request and idle timeouts (pinged), and another account stays fast", async () => {
    const port = portOf(server.base);
    const path = `/client/v4/accounts/${account}/builds/builds/${buildUuid}/logs/stream`;
    const bystander = async (n: number) => {
      const times: number[] = [];
      const worker = async () => {
        for (let i = 0; i < n / 4; i++) {
          const t0 = performance.now();
          const r = await fetch(`${server.base}/client/v4/accounts/${other}/workers/scripts`, { headers: { authorization: `Bearer ${otherToken}` } });
          assert.equal(r.status, 200);
          await r.arrayBuffer();
          times.push(performance.now() - t0);
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
      return times;
    };
    const baseline = await bystander(100);

    const streams: Held[] = [];
    try {
      for (let i = 0; i < 1000; i += 100) streams.push(...(await Promise.all(Array.from({ length: 100 }, () => hold(port, get(path, readA).replace("Connection: close\r\n", ""))))));
      await waitUntil("1,000 streams to start", () => streams.every((s) => s.received().startsWith("HTTP/1.1 200")), 15_000);
      assert.ok(streams.every((s) => /content-type: text\/event-stream/i.test(s.received())));

      const over = await send(port, get(path, readA));
      assert.equal(over.status, 429);
      assert.deepEqual(over.body.errors, [{ code: 10429, message: "Too many live log streams for this token (at most 1000 at once)" }]);
      assert.ok(Number(over.headers["retry-after"]) > 0);

      // Another token of the same account: up to the account's cap (1,200), then 429 naming it.
      for (let i = 0; i < 200; i += 100) streams.push(...(await Promise.all(Array.from({ length: 100 }, () => hold(port, get(path, readB).replace("Connection: close\r\n", ""))))));
      await waitUntil("1,200 streams to start", () => streams.every((s) => s.received().startsWith("HTTP/1.1 200")), 15_000);
      const overAccount = await send(port, get(path, readB));
      assert.equal(overAccount.status, 429);
      assert.deepEqual(overAccount.body.errors, [{ code: 10429, message: "Too many live log streams for this account (at most 1200 at once)" }]);

      const loaded = await bystander(200);
      const p = (xs: number[], q: number) => Math.round(percentile(xs, q) * 10) / 10;
      console.log(`bystander account: p50 ${p(baseline, 50)} ms, p99 ${p(baseline, 99)} ms alone; p50 ${p(loaded, 50)} ms, p99 ${p(loaded, 99)} ms beside 1,200 live streams`);
      assert.ok(percentile(loaded, 99) < 1000, `p99 ${percentile(loaded, 99)} ms`);

      // Past the header (1 s), request (2 s) and idle (4 s) timeouts: no stream was cut, and the
      // quiet ones kept alive with pings (every 2 s, half the idle timeout).
      // Measured from the last stream opened: on a loaded machine opening 1,200 takes seconds.
      const lastOpened = Math.max(...streams.map((s) => s.openedAt));
      await waitUntil("the idle timeout to pass for every stream", () => Date.now() - lastOpened > 5000, 15_000);
      assert.equal(streams.filter((s) => s.closedAt !== undefined).length, 0);
      assert.ok(streams.every((s) => s.received().includes(": ping\n\n")), "every stream was pinged");
    } finally {
      for (const s of streams) s.socket.destroy();
    }
    // Closed streams free their places (as soon as the server has seen the disconnects).
    const deadline = Date.now() + 5000;
    for (;;) {
      const again = await hold(port, get(path, readA).replace("Connection: close\r\n", ""));
      await waitUntil("an answer", () => /\r\n\r\n/.test(again.received()) || again.closedAt !== undefined, 5000);
      again.socket.destroy();
      if (again.received().startsWith("HTTP/1.1 200")) break;
      assert.ok(Date.now() < deadline, `still refused: ${again.received().slice(0, 300)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });
});

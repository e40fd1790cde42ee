/**
 * The client's time limits against a real loopback server: a request is cut at its timeout, a
 * live log stream is not (it lasts as long as its build; it used to be cut at the request
 * timeout, 30 s, which ended `kiln builds logs --follow` on every longer build).
 */
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { ApiClient, TransportError } from "../../src/cli/client/api-client.ts";

describe("ApiClient time limits", () => {
  let server: http.Server;
  let base: string;

  before(async () => {
    server = http.createServer((req, res) => {
      if (req.url === "/stream") {
        res.writeHead(200, { "content-type": "text/event-stream" });
        let n = 0;
        const timer = setInterval(() => {
          if (n < 8) res.write(`event: line\nid: ${n}\ndata: [${n}, "line ${n}"]\n\n`);
          else {
            res.end('event: end\ndata: {"build_outcome":"success"}\n\n');
            clearInterval(timer);
          }
          n++;
        }, 100);
        req.on("close", () => clearInterval(timer));
        return;
      }
      // A slow answer: past the request timeout.
      setTimeout(() => res.end(JSON.stringify({ success: true, errors: [], messages: [], result: null })), 1000);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it("a stream outlives the request timeout (900 ms of events, 200 ms timeout)", async () => {
    const api = new ApiClient(base, "t", 200);
    const events = await api.events("/stream");
    assert.ok(events);
    const got: string[] = [];
    for await (const ev of events) got.push(ev.event);
    assert.deepEqual(got, [...Array(8).fill("line"), "end"]);
  });

  it("a request past the timeout is cut", async () => {
    const api = new ApiClient(base, "t", 200);
    await assert.rejects(api.request("GET", "/slow"), (error: unknown) => error instanceof TransportError && /^cannot reach http:\/\/127\.0\.0\.1:\d+: /.test(error.message));
  });
});

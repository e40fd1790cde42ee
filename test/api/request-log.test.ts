/**
 * The request line: at info for writes and failures, at debug for successful reads, so the
 * default level (info) logs what changed and what went wrong; the metrics count every request.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { startHarness } from "../helpers/harness.ts";

const requestLines = (logs: string[]) =>
  logs.map((l) => JSON.parse(l) as { msg: string; level: number; method?: string; route?: string; status?: number }).filter((l) => l.msg === "request");

describe("request log lines", () => {
  for (const level of ["info", "debug"]) {
    it(`at ${level}: reads ${level === "info" ? "not logged" : "logged at debug"}, a failure and a write at info, all counted`, async () => {
      const logs: string[] = [];
      const h = await startHarness("sqlite", {}, {}, { logs, logLevel: level });
      try {
        const account = (await h.account("a")).id;
        const token = (await h.token([account], ["Workers CI Write"])).value;
        assert.equal((await h.call("GET", `/client/v4/accounts/${account}/workers/scripts`, { token })).status, 200);
        assert.equal((await h.call("GET", `/client/v4/accounts/${account}/workers/scripts`, { token: "x".repeat(40) })).status, 401);
        const write = await h.call("POST", `/client/v4/accounts/${account}/builds/tokens`, {
          token,
          body: { build_token_name: "deploy", build_token_secret: "s3cret-value", cloudflare_token_id: "cf-id" },
        });
        assert.equal(write.status, 200, JSON.stringify(write.body));
        const lines = requestLines(logs);
        const reads = lines.filter((l) => l.method === "GET" && l.status === 200);
        assert.equal(reads.length, level === "debug" ? 1 : 0, JSON.stringify(lines));
        if (level === "debug") assert.equal(reads[0]?.level, 20);
        const failure = lines.find((l) => l.status === 401);
        assert.equal(failure?.level, 30, JSON.stringify(lines));
        const post = lines.find((l) => l.method === "POST" && l.status === 200);
        assert.equal(post?.level, 30, JSON.stringify(lines));
        const metrics = await h.call("GET", "/metrics");
        assert.match(String(metrics.body), /kiln_http_requests_total\{method="GET",route="\/client\/v4\/accounts\/:account_id\/workers\/scripts",status="200"\} 1/);
      } finally {
        await h.close();
      }
    });
  }
});

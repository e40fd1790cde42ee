/**
 * The Kiln extensions the dashboard uses: the whole log as text/plain, read and sent in
 * pages over real HTTP; what a token may do on an account; the account's webhook deliveries.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import type { FastifyInstance } from "fastify";
import { createApp } from "../../src/api/app.ts";
import http from "node:http";
import { rawLogOptions, rawLogStats } from "../../src/api/routes/log-raw.ts";
import { allLogs, setupTrigger, startBuild, waitFor, waitForStatus, type BuildSetup } from "../helpers/builds.ts";
import { dialects } from "../helpers/databases.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";
import { errorCodes, startHarness, type Harness } from "../helpers/harness.ts";

for (const dialect of dialects()) {
  describe(`${dialect}: dashboard extensions`, () => {
    let h: Harness;
    let repo: TestRepo;
    let app: FastifyInstance;
    let base: string;
    let s: BuildSetup;
    let uuid: string;
    const pageLines = rawLogOptions.pageLines;

    before(async () => {
      repo = makeRepo({ name: `raw-${dialect}`, files: { "README.md": "hi\n" }, message: "First" });
      h = await startHarness(dialect, {}, { runner: true, gitUrlTemplate: repo.template, slots: 2, buildTimeout: 60 });
      // inject() cannot stream: a second app over the same deps, on loopback.
      app = (await createApp(h.kiln.deps, { validateResponses: true })).fastify;
      await app.listen({ port: 0, host: "127.0.0.1" });
      base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      // Colours and a line with a tab: the raw log keeps the bytes as printed.
      s = await setupTrigger(h, repo, { build: `i=0; while [ $i -lt 2500 ]; do echo "row $i"; i=$((i+1)); done; printf '\\033[32mgreen\\033[0m\\tend\\n'` }, "raw");
      uuid = await startBuild(h, s);
      await waitForStatus(h, s, uuid, "stopped", 60_000);
      rawLogOptions.pageLines = 700;
    });
    after(async () => {
      rawLogOptions.pageLines = pageLines;
      await app?.close();
      await h?.close();
      repo?.cleanup();
    });

    it("GET …/logs/raw answers the whole log as text/plain, every line once and in order, as an attachment", async () => {
      const r = await fetch(`${base}/client/v4/accounts/${s.accountId}/builds/builds/${uuid}/logs/raw`, { headers: { authorization: `Bearer ${s.read}` } });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get("content-type"), "text/plain; charset=utf-8");
      assert.equal(r.headers.get("content-disposition"), `attachment; filename="build-${uuid}.log"`);
      assert.equal(r.headers.get("cache-control"), "no-store");
      const text = await r.text();
      const { lines } = await allLogs(h, s, uuid);
      assert.ok(lines.length > 2500, `${lines.length} lines`);
      assert.equal(text, lines.map(([, t]) => `${t}\n`).join(""), "the same lines as the API's log pages, in several store pages of 700");
      assert.match(text, /^Initializing build environment\.\.\.\n/);
      assert.ok(text.includes("row 0\nrow 1\n") && text.includes("row 2499\n"));
      assert.ok(text.includes("\u001b[32mgreen\u001b[0m\tend\n"), "escape sequences as printed");
    });

    it("raw log: a big log goes out page by page as the client reads it (back-pressure), whole", async () => {
      const big = await setupTrigger(h, repo, { build: `awk 'BEGIN{s=sprintf("%190s",""); gsub(/ /,"x",s); for(i=1;i<=60000;i++) print i, s}'` }, "rawbig");
      const id = await startBuild(h, big);
      await waitForStatus(h, big, id, "stopped", 120_000);
      const pagesBefore = rawLogStats.pages;
      const waitsBefore = rawLogStats.drainWaits;
      const received: Buffer[] = [];
      let ended!: () => void;
      const done = new Promise<void>((resolve) => (ended = resolve));
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        http.get(`${base}/client/v4/accounts/${big.accountId}/builds/builds/${id}/logs/raw`, { headers: { authorization: `Bearer ${big.read}` } }, resolve).on("error", reject);
      });
      assert.equal(res.statusCode, 200);
      res.pause();
      // ~11 MB of log: the server fills the socket, then waits for the reader, with few pages read.
      await waitFor("the server to wait for drain", async () => rawLogStats.drainWaits > waitsBefore, 10_000);
      const pagesWhileBlocked = rawLogStats.pages - pagesBefore;
      assert.ok(pagesWhileBlocked < 60_000 / 700, `${pagesWhileBlocked} pages read while the client did not read`);
      res.on("data", (c: Buffer) => received.push(c));
      res.on("end", () => ended());
      res.resume();
      await done;
      const text = Buffer.concat(received).toString("utf8");
      const lines = text.split("\n");
      assert.equal(lines.pop(), "", "ends with a newline");
      const stored = (await allLogs(h, big, id)).lines;
      assert.equal(lines.length, stored.length);
      assert.ok(lines.every((l, i) => l === stored[i]?.[1]));
      assert.ok(rawLogStats.pages - pagesBefore >= Math.ceil(stored.length / 700), "read in pages of 700");
    });

    it("raw log: unknown build 404 and a foreign account 403, in the envelope", async () => {
      const missing = await fetch(`${base}/client/v4/accounts/${s.accountId}/builds/builds/${randomUUID()}/logs/raw`, { headers: { authorization: `Bearer ${s.read}` } });
      assert.equal(missing.status, 404);
      assert.match(missing.headers.get("content-type") ?? "", /^application\/json/);
      assert.deepEqual(errorCodes({ status: 404, headers: {}, body: await missing.json() }), [12000]);
      const bad = await fetch(`${base}/client/v4/accounts/${s.accountId}/builds/builds/not-a-uuid/logs/raw`, { headers: { authorization: `Bearer ${s.read}` } });
      assert.equal(bad.status, 404, "a malformed id is an unknown build, as on the other build routes");
      const other = await h.account("other");
      const foreign = await h.token([other.id], ["Workers CI Write"]);
      const denied = await fetch(`${base}/client/v4/accounts/${s.accountId}/builds/builds/${uuid}/logs/raw`, { headers: { authorization: `Bearer ${foreign.value}` } });
      assert.equal(denied.status, 403);
      assert.deepEqual(errorCodes({ status: 403, headers: {}, body: await denied.json() }), [10000]);
    });

    it("GET …/builds/permissions tells Read from Write, and a global key has both", async () => {
      const read = await h.call("GET", `/client/v4/accounts/${s.accountId}/builds/permissions`, { token: s.read });
      assert.equal(read.status, 200);
      assert.deepEqual(read.body.result, { read: true, write: false, permission_groups: ["Workers CI Read"] });
      const write = await h.call("GET", `/client/v4/accounts/${s.accountId}/builds/permissions`, { token: s.write });
      assert.deepEqual(write.body.result, { read: true, write: true, permission_groups: ["Workers CI Write"] });
      const user = await h.user("ops@example.com", [s.accountId]);
      const key = await h.call("GET", `/client/v4/accounts/${s.accountId}/builds/permissions`, { headers: { "x-auth-email": user.email, "x-auth-key": user.api_key } });
      assert.equal(key.status, 200);
      assert.deepEqual(key.body.result, { read: true, write: true, permission_groups: ["Workers CI Read", "Workers CI Write"] });
      const other = await h.account("elsewhere");
      const foreign = await h.call("GET", `/client/v4/accounts/${other.id}/builds/permissions`, { token: s.write });
      assert.equal(foreign.status, 403);
      assert.deepEqual(errorCodes(foreign), [10000]);
    });

    it("GET …/builds/webhook_deliveries lists the account's deliveries newest first; per_page is checked", async () => {
      const make = (n: number, outcome: "built" | "skipped") => ({
        id: randomUUID(),
        account_id: s.accountId,
        provider: "github" as const,
        delivery_id: `d-${n}`,
        event: "push",
        received_on: new Date(Date.UTC(2026, 10, 1, 10, n)).toISOString(),
        status: 200,
        outcome,
        result: outcome === "built" ? { builds: [{ build_uuid: uuid, trigger_uuid: s.triggerUuid, external_script_id: s.workerTag }], skipped: [] } : { builds: [], skipped: [{ trigger_uuid: s.triggerUuid, reason: "branch_not_included" as const }] },
      });
      await h.store.transaction(async (r) => {
        await r.deliveries.insert(make(1, "built"));
        await r.deliveries.insert(make(2, "skipped"));
      });
      const r = await h.call("GET", `/client/v4/accounts/${s.accountId}/builds/webhook_deliveries`, { token: s.read });
      assert.equal(r.status, 200);
      assert.deepEqual(r.body.result.map((d: { delivery_id: string }) => d.delivery_id), ["d-2", "d-1"]);
      assert.deepEqual(r.body.result[0].skipped, [{ trigger_uuid: s.triggerUuid, reason: "branch_not_included" }]);
      assert.deepEqual(r.body.result[1].builds, [{ build_uuid: uuid, trigger_uuid: s.triggerUuid, external_script_id: s.workerTag }]);
      assert.equal(r.body.result[1].outcome, "built");
      const one = await h.call("GET", `/client/v4/accounts/${s.accountId}/builds/webhook_deliveries?per_page=1`, { token: s.read });
      assert.equal(one.body.result.length, 1);
      const bad = await h.call("GET", `/client/v4/accounts/${s.accountId}/builds/webhook_deliveries?per_page=0`, { token: s.read });
      assert.equal(bad.status, 400);
      assert.deepEqual(errorCodes(bad), [12013]);
    });
  });
}

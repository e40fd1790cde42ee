/**
 * Webhook destinations through real `kiln serve` processes and the CLI: `kiln events subscribe
 * --url` (the secret printed once), a receiver verifying signatures with the `standardwebhooks`
 * library down for a while — and the server killed with -9 meanwhile — then up: every event
 * delivered after retries and the restart, in order; and
 * `kiln events deliveries` / `redeliver`. On PostgreSQL, two API nodes deliver from one
 * database: each event reaches the receiver once, one attempt each, from either node.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { waitFor } from "../helpers/builds.ts";
import { kiln, startServer, sweepKilledNetworks } from "../helpers/cli.ts";
import { dialects, makeDatabase, type TestDatabase } from "../helpers/databases.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";
import { servedTrigger } from "../helpers/served-builds.ts";
import { startReceiver, type Receiver } from "../helpers/webhook-receiver.ts";

const T = "cf.workersBuilds.worker.build.";
// A short timeout: a delivery in flight when the server is killed is retried after timeout + 30 s.
const HOOK_FLAGS = ["--webhook-allow-private", "--webhook-retry-schedule", "0.5,0.5,1,1,2,2", "--webhook-timeout", "2"];

for (const dialect of dialects()) {
  describe(`${dialect}: kiln events subscribe --url and deliveries, against kiln serve`, () => {
    let db: TestDatabase;
    let repo: TestRepo;
    let receiver: Receiver;
    let secret = "";
    before(async () => {
      db = await makeDatabase(dialect);
      repo = makeRepo({ name: `hook-cli-${dialect}`, files: { "a.txt": "a" } });
      receiver = await startReceiver(() => secret);
    });
    after(async () => {
      await receiver.close();
      await db.cleanup();
      repo.cleanup();
      await sweepKilledNetworks();
    });

    it("subscribes with --url, delivers after the receiver comes back, in order, and shows the log", async () => {
      let server = await startServer([...db.flags, ...HOOK_FLAGS], { KILN_GIT_URL_TEMPLATE: repo.template });
      const firstStderr = server.stderr;
      let second: Awaited<ReturnType<typeof startServer>> | undefined;
      try {
        const t = await servedTrigger(server, db.flags, "hookcli", "echo built", `hook-cli-${dialect}`);
        const client = (args: string[]) => kiln(args, { KILN_API_URL: `${server.base}/client/v4`, KILN_API_TOKEN: t.token, KILN_ACCOUNT_ID: t.account });

        const sub = await client(["events", "subscribe", "--worker", "hookcli", "--url", receiver.url, "--events", "started,succeeded,failed"]);
        assert.equal(sub.code, 0, sub.stderr);
        const m = new RegExp(`^subscription ([0-9a-f]{32}): hookcli → webhook ${receiver.url.replace(/[.?]/g, "\\$&")} \\(started, succeeded, failed\\)\\nsigning secret \\(shown only now; verify deliveries with it\\): (whsec_\\S+)\\n$`).exec(sub.stdout);
        assert.ok(m, sub.stdout);
        const subscriptionId = m[1]!;
        secret = m[2]!;
        const listed = await client(["events", "subscriptions"]);
        assert.match(listed.stdout, new RegExp(`${subscriptionId}\\s+hookcli builds\\s+hookcli\\s+webhook ${receiver.url.replace(/[.?]/g, "\\$&")}\\s`));
        assert.ok(!listed.stdout.includes(secret));

        await receiver.down();
        const a = await t.start();
        await waitFor("build a stopped", async () => (await t.build(a)).status === "stopped");
        const b = await t.start();
        await waitFor("build b stopped", async () => (await t.build(b)).status === "stopped");
        await waitFor("a failed attempt", async () => {
          const r = await client(["events", "deliveries", "--subscription", subscriptionId, "--json"]);
          return JSON.parse(r.stdout).result.some((d: { last_error: string | null }) => /ECONNREFUSED/.test(d.last_error ?? ""));
        });
        // kill -9 with the deliveries pending: they are in the database, and the restarted server
        // (same port, so the client and the trigger helper keep working) delivers them.
        server.child.kill("SIGKILL");
        await server.exited;
        server = await startServer([...db.flags, ...HOOK_FLAGS, "--port", new URL(server.base).port], { KILN_GIT_URL_TEMPLATE: repo.template });
        await receiver.up();
        await waitFor("four deliveries", async () => new Set(receiver.requests.filter((r) => r.answered === 204).map((r) => r.id)).size === 4, 60_000);
        assert.ok(receiver.requests.every((r) => r.verified));
        for (const uuid of [a, b]) {
          assert.deepEqual(receiver.requests.filter((r) => r.body.payload.buildUuid === uuid).map((r) => r.body.type), [`${T}started`, `${T}succeeded`]);
        }

        const log = await waitFor("all recorded", async () => {
          const r = await client(["events", "deliveries", "--subscription", subscriptionId]);
          return (r.stdout.match(/delivered \(204\)/g) ?? []).length === 4 ? r : undefined;
        });
        assert.equal(log.code, 0, log.stderr);
        assert.match(log.stdout, /^id\s+event\s+build\s+attempts\s+result\s+created_on\n/);
        assert.match(log.stdout, new RegExp(`\\s+succeeded\\s+${b}\\s+1\\s+delivered \\(204\\)\\s`));
        assert.match(log.stdout, /\n4 deliveries\n$/);
        const all = JSON.parse((await client(["events", "deliveries", "--subscription", subscriptionId, "--json"])).stdout).result;
        const first = all.at(-1);
        assert.equal(first.event_type, `${T}started`);
        assert.ok(first.attempts >= 2, "retried while the receiver was down");
        const one = await client(["events", "deliveries", "--subscription", subscriptionId, "--delivery", first.id]);
        assert.equal(one.code, 0, one.stderr);
        assert.match(one.stdout, new RegExp(`^${first.id}  started  build ${a}  delivered \\(204\\)\\nattempt\\s+started_on\\s+ms\\s+status\\s+error\\s+node\\n1\\s+\\S+\\s+\\d+\\s+-\\s+connect ECONNREFUSED`));

        const before = receiver.requests.length;
        const again = await client(["events", "redeliver", "--subscription", subscriptionId, first.id]);
        assert.deepEqual([again.code, again.stdout], [0, `delivery ${first.id} will be sent again now\n`]);
        await waitFor("the redelivery", async () => receiver.requests.length === before + 1);
        assert.equal(receiver.requests.at(-1)?.id, first.id);

        const bad = await client(["events", "deliveries", "--subscription", "nope"]);
        assert.deepEqual([bad.code, bad.stderr.trim()], [2, 'kiln: invalid --subscription "nope": 32 hex characters are expected']);
        assert.ok(!server.stderr().includes(secret.slice(6)) && !firstStderr().includes(secret.slice(6)), "the secret is in no log line");

        if (dialect === "postgres") {
          // A second API node on the same database: both deliver, each event once.
          second = await startServer([...db.flags, ...HOOK_FLAGS, "--no-runner"], {});
          receiver.delayAnswers(300);
          const mark = receiver.requests.length;
          const builds: string[] = [];
          for (let i = 0; i < 6; i++) {
            const uuid = await t.start();
            builds.push(uuid);
            await waitFor(`build ${i} stopped`, async () => (await t.build(uuid)).status === "stopped");
          }
          await waitFor("twelve more deliveries", async () => receiver.requests.length - mark >= 12, 30_000);
          await new Promise((r) => setTimeout(r, 1500));
          const fresh = receiver.requests.slice(mark);
          assert.equal(fresh.length, 12, "each event reached the receiver once");
          assert.equal(new Set(fresh.map((r) => r.id)).size, 12);
          for (const uuid of builds) assert.deepEqual(fresh.filter((r) => r.body.payload.buildUuid === uuid).map((r) => r.body.type), [`${T}started`, `${T}succeeded`]);
          const page = JSON.parse((await client(["events", "deliveries", "--subscription", subscriptionId, "--json"])).stdout).result.slice(0, 12);
          const nodes = new Map<string, number>();
          for (const d of page) {
            assert.equal(d.attempts, 1, "one attempt, one lease");
            const detail = JSON.parse((await client(["events", "deliveries", "--subscription", subscriptionId, "--delivery", d.id, "--json"])).stdout);
            const node = detail.attempt_log[0].node as string;
            nodes.set(node, (nodes.get(node) ?? 0) + 1);
          }
          assert.equal([...nodes.values()].reduce((x, y) => x + y, 0), 12);
          // Which node sends what is the race of their claims (6 and 6 seen); both may, neither must.
          process.stdout.write(`# deliveries per API node: ${JSON.stringify([...nodes.values()])}\n`);
        }
      } finally {
        second?.child.kill("SIGTERM");
        await second?.exited;
        server.child.kill("SIGTERM");
        await server.exited;
      }
    });
  });
}

/**
 * Build events through a real `kiln serve` process: `kiln queues` and `kiln events` against it,
 * and `kill -9` of the server between a build's state changes and their delivery. An event
 * committed with its change is delivered after the restart; one leased by a pull when the
 * server died comes back after its visibility timeout; acknowledged, it is gone for good.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { buildProcesses, waitFor } from "../helpers/builds.ts";
import { kiln, startServer, sweepKilledNetworks } from "../helpers/cli.ts";
import { dialects, makeDatabase, type TestDatabase } from "../helpers/databases.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";
import { servedTrigger } from "../helpers/served-builds.ts";

const PREFIX = "cf.workersBuilds.worker.build.";

interface PulledJson {
  message_backlog_count: number;
  messages: { id: string; lease_id: string; attempts: number; body: string; timestamp_ms: number }[];
}

const decode = (m: PulledJson["messages"][number]) => JSON.parse(Buffer.from(m.body, "base64").toString("utf8"));

for (const dialect of dialects()) {
  describe(`${dialect}: kiln queues / kiln events, and kill -9 before delivery`, () => {
    let db: TestDatabase;
    let repo: TestRepo;
    before(async () => {
      db = await makeDatabase(dialect);
      repo = makeRepo({ name: `ev-cli-${dialect}`, files: { "a.txt": "a" } });
    });
    after(async () => {
      await db.cleanup();
      repo.cleanup();
      await sweepKilledNetworks();
    });

    it("the CLI creates a queue and a subscription, pulls and acks; events survive kill -9 of the server", async () => {
      const env = { KILN_GIT_URL_TEMPLATE: repo.template };
      // A short lease: the build the killed server ran is stopped soon after the restart.
      const flags = [...db.flags, "--lease-ttl", "3"];
      const server = await startServer(flags, env);
      let again: Awaited<ReturnType<typeof startServer>> | undefined;
      try {
        const t = await servedTrigger(server, db.flags, "evcli", "echo started; sleep 300", `ev-cli-${dialect}`);
        const client = (args: string[], base = server.base) =>
          kiln(args, { KILN_API_URL: `${base}/client/v4`, KILN_API_TOKEN: t.token, KILN_ACCOUNT_ID: t.account });

        const created = await client(["queues", "create", "builds-q", "--json"]);
        assert.equal(created.code, 0, created.stderr);
        const queueId = JSON.parse(created.stdout).queue_id as string;
        assert.match(queueId, /^[0-9a-f]{32}$/);
        const listed = await client(["queues", "list"]);
        assert.equal(listed.code, 0, listed.stderr);
        assert.match(listed.stdout, new RegExp(`${queueId}\\s+builds-q\\s`));

        const sub = await client(["events", "subscribe", "--worker", "evcli", "--queue", "builds-q", "--events", "queued,started,failed"]);
        assert.equal(sub.code, 0, sub.stderr);
        assert.match(sub.stdout, new RegExp(`^subscription [0-9a-f]{32}: evcli → queue ${queueId} \\(queued, started, failed\\)\\n$`));
        // Without --webhook-allow-private a private destination is refused (test/cli/event-webhooks.test.ts has the rest).
        const webhook = await client(["events", "subscribe", "--worker", "evcli", "--url", "http://10.0.0.1/hook"]);
        assert.deepEqual([webhook.code, webhook.stderr.trim()], [1, "kiln: 12002: Invalid request body: destination.url: host 10.0.0.1 resolves to 10.0.0.1, a loopback, private, link-local or reserved address (allowed only with kiln serve --webhook-allow-private)"]);
        const badEvents = await client(["events", "subscribe", "--worker", "evcli", "--queue", "builds-q", "--events", "started,exploded"]);
        assert.equal(badEvents.code, 2);
        assert.match(badEvents.stderr, /invalid --events "started,exploded": a comma-separated list of started, succeeded, failed, canceled, queued, skipped/);
        const subs = await client(["events", "subscriptions", "--json"]);
        assert.equal(subs.code, 0, subs.stderr);
        assert.equal(JSON.parse(subs.stdout).result.length, 1);

        const uuid = await t.start();
        await waitFor("the build to run", async () => (await t.build(uuid)).status === "running");

        // The CLI leases the queued event and dies with the server before acknowledging it.
        const leased = await client(["queues", "pull", "builds-q", "--batch-size", "1", "--visibility-timeout-ms", "1500", "--json"]);
        assert.equal(leased.code, 0, leased.stderr);
        const first = (JSON.parse(leased.stdout) as PulledJson).messages;
        assert.equal(first.length, 1);
        assert.equal(decode(first[0] as PulledJson["messages"][number]).type, `${PREFIX}queued`);

        server.child.kill("SIGKILL");
        await server.exited;
        await waitFor("the build's processes to die with the server", async () => buildProcesses(uuid).length === 0, 10_000);

        again = await startServer(flags, env);
        const base = again.base;
        // The reaper stops the abandoned build as terminated: `failed`, raised by the new server.
        await waitFor("the build to be stopped", async () => {
          const r = await fetch(`${base}/client/v4/accounts/${t.account}/builds/builds/${uuid}`, { headers: { authorization: `Bearer ${t.token}` } });
          return ((await r.json()) as { result: { status: string } }).result.status === "stopped";
        }, 20_000);
        await new Promise((r) => setTimeout(r, 1600)); // the killed pull's lease runs out
        const pulled = await client(["queues", "pull", queueId, "--batch-size", "10", "--json"], base);
        assert.equal(pulled.code, 0, pulled.stderr);
        const result = JSON.parse(pulled.stdout) as PulledJson;
        const seen = result.messages.map((m) => [decode(m).type, m.attempts, decode(m).payload.buildOutcome]);
        assert.deepEqual(seen, [
          [`${PREFIX}queued`, 2, null],
          [`${PREFIX}started`, 1, null],
          [`${PREFIX}failed`, 1, "terminated"],
        ]);
        assert.equal(result.messages[0]?.id, first[0]?.id, "the same message, delivered again");
        const human = await client(["queues", "pull", "builds-q"], base);
        assert.equal(human.code, 0, human.stderr);
        assert.equal(human.stdout, "0 messages leased, 3 in the queue\n", "all three are leased");

        const acked = await client(["queues", "ack", "builds-q", ...result.messages.map((m) => m.lease_id)], base);
        assert.equal(acked.code, 0, acked.stderr);
        assert.equal(acked.stdout, "3 acknowledged, 0 to retry\n");
        const empty = await client(["queues", "pull", "builds-q", "--json"], base);
        assert.deepEqual(JSON.parse(empty.stdout), { message_backlog_count: 0, messages: [] });
      } finally {
        if (server.child.exitCode === null && server.child.signalCode === null) {
          server.child.kill("SIGTERM");
          await server.exited;
        }
        if (again) {
          again.child.kill("SIGTERM");
          await again.exited;
        }
      }
    });
  });
}

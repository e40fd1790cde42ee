/**
 * Credentials read on one request are reused on the next (src/domain/auth.ts) while the
 * store's credential generation stays the same. These tests hold that a revocation, a deleted
 * user or membership, or an expiry is honoured on the very next request issued after the
 * revoking call returned: written by this process (the path an API write takes), by another
 * connection (another process on SQLite, another node on PostgreSQL), by `kiln token revoke`
 * against real `kiln serve` processes, and while a burst of requests is in flight.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { sql } from "kysely";
import { revokeToken } from "../../src/domain/admin.ts";
import { openStore, type Store } from "../../src/store/index.ts";
import { dialects, makeDatabase, type TestDatabase } from "../helpers/databases.ts";
import { startHarness, TRANSPORTS, type Harness } from "../helpers/harness.ts";
import { kiln, startServer } from "../helpers/cli.ts";

const VERIFY = "/client/v4/user/tokens/verify";
const scripts = (account: string) => `/client/v4/accounts/${account}/workers/scripts`;

/**
 * Requests in `loops` concurrent loops while `revoke` runs; every request issued after `revoke`
 * resolved must be refused. Returns how many were issued after it, and how many of those were
 * still answered 200 (must be 0).
 */
async function burst(call: () => Promise<number>, revoke: () => Promise<unknown>, loops = 8): Promise<{ before: number; after: number; stale: number }> {
  let revoked = false;
  let stop = false;
  const counts = { before: 0, after: 0, stale: 0 };
  const loop = async () => {
    while (!stop) {
      // In-process requests can complete in microtasks alone: yield, or the timers below never run.
      await new Promise((r) => setImmediate(r));
      const issuedAfter = revoked;
      const status = await call();
      if (!issuedAfter) counts.before++;
      else {
        counts.after++;
        if (status !== 401) counts.stale++;
      }
    }
  };
  const running = Array.from({ length: loops }, loop);
  // Let the cache warm up and requests pile up before the revocation.
  while (counts.before < 50) await new Promise((r) => setTimeout(r, 1));
  await revoke();
  revoked = true;
  while (counts.after < 200) await new Promise((r) => setTimeout(r, 1));
  stop = true;
  await Promise.all(running);
  return counts;
}

for (const dialect of dialects()) {
  for (const transport of TRANSPORTS)
  describe(`${dialect} over ${transport}: revocation is honoured on the next request, cached or not`, () => {
    let h: Harness;
    let account: string;
    let other: Store;

    before(async () => {
      h = await startHarness(dialect, {}, {}, { transport });
      account = (await h.account("a")).id;
      // A second connection to the same database: another process on SQLite, another node on PostgreSQL.
      other = await openStore({ dataDir: h.db.dataDir, database: h.db.database, poolSize: 2, secretKey: Buffer.from(h.db.secretKey, "base64") });
    });
    after(async () => {
      await other?.close();
      await h?.close();
    });

    const status = async (token: string, path = VERIFY) => (await h.call("GET", path, { token })).status;

    it("a token revoked by this process is refused on the next request", async () => {
      const t = await h.token([account], ["Workers CI Read"]);
      assert.equal(await status(t.value), 200);
      assert.equal(await status(t.value), 200);
      await h.store.transaction((repos) => revokeToken(repos, t.id));
      assert.equal(await status(t.value), 401);
      assert.equal(await status(t.value, scripts(account)), 401);
    });

    it("a token revoked through another connection is refused on the next request", async () => {
      const t = await h.token([account], ["Workers CI Read"]);
      assert.equal(await status(t.value, scripts(account)), 200);
      await other.transaction((repos) => revokeToken(repos, t.id));
      assert.equal(await status(t.value, scripts(account)), 401);
    });

    it("a revocation written outside any transaction, as a bare UPDATE, is seen too", async () => {
      const t = await h.token([account], ["Workers CI Read"]);
      assert.equal(await status(t.value), 200);
      await sql`update api_tokens set revoked_on = ${new Date().toISOString()} where id = ${t.id}`.execute(other.db.kysely);
      assert.equal(await status(t.value), 401);
    });

    it("a cached token is refused once it expires, with nothing written", async () => {
      const t = await h.token([account], ["Workers CI Read"], { expiresOn: new Date(Date.now() + 1500).toISOString() });
      assert.equal(await status(t.value), 200);
      assert.equal(await status(t.value), 200);
      await new Promise((r) => setTimeout(r, 1600));
      assert.equal(await status(t.value), 401);
    });

    it("a deleted user's global key is refused, and a removed membership is 403, on the next request", async () => {
      const u = await h.user(`u-${Date.now()}@example.com`, [account]);
      const headers = { "x-auth-email": u.email, "x-auth-key": u.api_key };
      const get = async () => (await h.call("GET", scripts(account), { headers })).status;
      assert.equal(await get(), 200);
      assert.equal(await get(), 200);
      const id = (await other.users.getByEmail(u.email))?.id ?? "";
      await other.db.kysely.deleteFrom("account_members").where("user_id", "=", id).execute();
      assert.equal(await get(), 403);
      await other.db.kysely.deleteFrom("users").where("id", "=", id).execute();
      assert.equal(await get(), 401);
    });

    it("a new token is accepted at once (nothing unknown is cached)", async () => {
      const t = await h.token([account], ["Workers CI Read"]);
      assert.equal(await status(t.value), 200);
    });

    for (const [label, writer] of [
      ["this process", () => h.store],
      ["another connection", () => other],
    ] as const) {
      it(`a revoke by ${label} racing a burst of requests: 0 stale answers after it returned`, async () => {
        const t = await h.token([account], ["Workers CI Read"]);
        const counts = await burst(
          () => status(t.value, scripts(account)),
          () => writer().transaction((repos) => revokeToken(repos, t.id)),
        );
        assert.equal(counts.stale, 0, JSON.stringify(counts));
        assert.ok(counts.before >= 50 && counts.after >= 200);
      });
    }
  });

  describe(`${dialect}: kiln token revoke in another process, against running servers`, () => {
    let db: TestDatabase;
    let account: string;
    const servers: Awaited<ReturnType<typeof startServer>>[] = [];
    const create = async () => {
      const r = await kiln(["token", "create", "--account", account, "--name", "t", "--permission", "Workers CI Read", "--json", ...db.flags]);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as { id: string; value: string };
    };

    before(async () => {
      db = await makeDatabase(dialect);
      const r = await kiln(["account", "create", "--name", "acme", "--json", ...db.flags]);
      assert.equal(r.code, 0, r.stderr);
      account = (JSON.parse(r.stdout) as { id: string }).id;
      await create();
      // Two nodes on PostgreSQL; on SQLite one server (the CLI is the other process).
      for (let i = 0; i < (dialect === "postgres" ? 2 : 1); i++) servers.push(await startServer([...db.flags, "--no-runner"]));
    });
    after(async () => {
      for (const s of servers) {
        s.child.kill("SIGTERM");
        await s.exited;
      }
      await db?.cleanup();
    });

    const get = async (base: string, token: string) => (await fetch(base + scripts(account), { headers: { authorization: `Bearer ${token}` } })).status;

    it("the next request after the command returned is 401 on every server", async () => {
      const t = await create();
      for (const s of servers) {
        assert.equal(await get(s.base, t.value), 200);
        assert.equal(await get(s.base, t.value), 200);
      }
      const r = await kiln(["token", "revoke", t.id, ...db.flags]);
      assert.equal(r.code, 0, r.stderr);
      for (const s of servers) assert.equal(await get(s.base, t.value), 401);
    });

    it("a burst of requests over HTTP while the command runs: 0 stale answers after it exited", async () => {
      const t = await create();
      let i = 0;
      const counts = await burst(
        () => get(servers[i++ % servers.length]?.base ?? "", t.value),
        async () => {
          const r = await kiln(["token", "revoke", t.id, ...db.flags]);
          assert.equal(r.code, 0, r.stderr);
        },
      );
      assert.equal(counts.stale, 0, JSON.stringify(counts));
    });
  });
}

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { accountBuildMinutes, buildMinutesState, monthStart, nextMonthStart, type BuildMinutesSource } from "../../src/domain/limits.ts";
import { dialects } from "../helpers/databases.ts";
import { errorCodes, startHarness, type Harness } from "../helpers/harness.ts";

describe("buildMinutesState (pure)", () => {
  const mid = new Date("2026-09-30T08:15:08.207Z");

  it("unlimited → both null, whatever was used", () => {
    assert.deepEqual(buildMinutesState(null, 0, mid), { build_minutes_refresh_on: null, has_reached_build_minutes_limit: null });
    assert.deepEqual(buildMinutesState(null, 1e9, mid), { build_minutes_refresh_on: null, has_reached_build_minutes_limit: null });
  });

  it("below, at and above the limit", () => {
    assert.deepEqual(buildMinutesState(3000, 2999.5, mid), { build_minutes_refresh_on: "2026-10-01T00:00:00.000Z", has_reached_build_minutes_limit: false });
    assert.deepEqual(buildMinutesState(3000, 3000, mid), { build_minutes_refresh_on: "2026-10-01T00:00:00.000Z", has_reached_build_minutes_limit: true });
    assert.deepEqual(buildMinutesState(3000, 4000, mid), { build_minutes_refresh_on: "2026-10-01T00:00:00.000Z", has_reached_build_minutes_limit: true });
    assert.equal(buildMinutesState(0, 0, mid).has_reached_build_minutes_limit, true, "a zero limit is reached at once");
  });

  it("December rolls over to January of the next year; month edges are UTC", () => {
    assert.equal(buildMinutesState(10, 0, new Date("2026-12-31T23:59:59.999Z")).build_minutes_refresh_on, "2027-01-01T00:00:00.000Z");
    assert.equal(buildMinutesState(10, 0, new Date("2026-12-01T00:00:00.000Z")).build_minutes_refresh_on, "2027-01-01T00:00:00.000Z");
    assert.equal(buildMinutesState(10, 0, new Date("2027-01-01T00:00:00.000Z")).build_minutes_refresh_on, "2027-02-01T00:00:00.000Z");
    assert.equal(buildMinutesState(10, 0, new Date("2028-02-29T12:00:00.000Z")).build_minutes_refresh_on, "2028-03-01T00:00:00.000Z");
    assert.equal(monthStart(new Date("2026-12-31T23:59:59.999Z")).toISOString(), "2026-12-01T00:00:00.000Z");
    assert.equal(nextMonthStart(new Date("2026-11-30T23:59:59.999Z")).toISOString(), "2026-12-01T00:00:00.000Z");
  });

  it("accountBuildMinutes asks the source for this month's minutes only when limited", async () => {
    const asked: [string, string][] = [];
    const source = (used: number): BuildMinutesSource => ({
      async minutesUsed(accountId, since) {
        asked.push([accountId, since]);
        return used;
      },
    });
    const repos = (limit: number | null) => ({
      accounts: { limits: async (id: string) => (id === "acct" ? { build_minutes_limit: limit, concurrency_limit: null } : undefined) },
    }) as unknown as Parameters<typeof accountBuildMinutes>[0];
    const now = new Date("2026-12-15T10:00:00.000Z");
    assert.deepEqual(await accountBuildMinutes(repos(null), source(99), "acct", now), { build_minutes_refresh_on: null, has_reached_build_minutes_limit: null });
    assert.deepEqual(asked, []);
    assert.deepEqual(await accountBuildMinutes(repos(100), source(100), "acct", now), {
      build_minutes_refresh_on: "2027-01-01T00:00:00.000Z",
      has_reached_build_minutes_limit: true,
    });
    assert.deepEqual(await accountBuildMinutes(repos(100), source(99), "acct", now), {
      build_minutes_refresh_on: "2027-01-01T00:00:00.000Z",
      has_reached_build_minutes_limit: false,
    });
    assert.deepEqual(asked, [["acct", "2026-12-01T00:00:00.000Z"], ["acct", "2026-12-01T00:00:00.000Z"]]);
    await assert.rejects(accountBuildMinutes(repos(1), source(0), "missing", now), (e: { code?: number }) => e.code === 12000);
  });
});

for (const dialect of dialects()) {
  describe(`${dialect}: account limits (#1)`, () => {
    let h: Harness;
    let account: string;
    let other: string;
    let write: string;
    let read: string;
    const url = (a = account) => `/client/v4/accounts/${a}/builds/account/limits`;

    before(async () => {
      h = await startHarness(dialect);
      account = (await h.account("a")).id;
      other = (await h.account("b")).id;
      write = (await h.token([account], ["Workers CI Write"])).value;
      read = (await h.token([account], ["Workers CI Read"])).value;
    });
    after(() => h.close());

    it("unlimited by default: both fields null (Read and Write tokens)", async () => {
      for (const token of [read, write]) {
        const r = await h.call("GET", url(), { token });
        assert.equal(r.status, 200);
        assert.deepEqual(r.body, {
          success: true,
          errors: [],
          messages: [],
          result: { build_minutes_refresh_on: null, has_reached_build_minutes_limit: null },
        });
      }
    });

    it("with a limit: refresh on the first instant of next month (UTC); not reached with no builds", async () => {
      await h.store.transaction((r) => r.accounts.setLimits(account, { build_minutes_limit: 3000 }));
      const before = new Date();
      const r = await h.call("GET", url(), { token: read });
      const after = new Date();
      assert.equal(r.status, 200);
      const expected = [before, after].map((d) => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)).toISOString());
      assert.ok(expected.includes(r.body.result.build_minutes_refresh_on), r.body.result.build_minutes_refresh_on);
      assert.equal(r.body.result.has_reached_build_minutes_limit, false);

      await h.store.transaction((r) => r.accounts.setLimits(account, { build_minutes_limit: 0 }));
      assert.equal((await h.call("GET", url(), { token: read })).body.result.has_reached_build_minutes_limit, true, "a zero limit is reached");

      const otherAccount = await h.call("GET", url(other), { token: (await h.token([other], ["Workers CI Read"])).value });
      assert.deepEqual(otherAccount.body.result, { build_minutes_refresh_on: null, has_reached_build_minutes_limit: null }, "limits are per account");
      await h.store.transaction((r) => r.accounts.setLimits(account, { build_minutes_limit: null }));
    });

    it("another account's limits → 403 10000 with a token for this account; no credentials → 400 9106", async () => {
      const r = await h.call("GET", url(other), { token: read });
      assert.equal(r.status, 403);
      assert.deepEqual(errorCodes(r), [10000]);
      assert.deepEqual(errorCodes(await h.call("GET", url())), [9106]);
    });
  });
}

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Build } from "../../src/domain/build-types.ts";
import { pickBuilds } from "../../src/domain/scheduler.ts";

const build = (id: string, account: string, created: number): Build =>
  ({ build_uuid: id, account_id: account, created_on: new Date(1_700_000_000_000 + created).toISOString() }) as Build;

describe("scheduler: which queued builds start", () => {
  it("oldest first within the free slots", () => {
    const q = [build("a1", "A", 1), build("a2", "A", 2), build("a3", "A", 3)];
    assert.deepEqual(pickBuilds(q, new Map(), new Map(), 2).map((b) => b.build_uuid), ["a1", "a2"]);
  });

  it("respects each account's concurrency limit (default 6) counting builds in progress", () => {
    const q = Array.from({ length: 10 }, (_, i) => build(`a${i}`, "A", i));
    assert.equal(pickBuilds(q, new Map(), new Map(), 10).length, 6);
    assert.equal(pickBuilds(q, new Map([["A", 5]]), new Map(), 10).length, 1);
    assert.equal(pickBuilds(q, new Map([["A", 1]]), new Map([["A", 2]]), 10).length, 1);
    assert.equal(pickBuilds(q, new Map(), new Map([["A", 0]]), 10).length, 0);
  });

  it("is fair across accounts: a backlog never starves another account's first build", () => {
    const q = [build("a1", "A", 1), build("a2", "A", 2), build("a3", "A", 3), build("b1", "B", 10), build("c1", "C", 20)];
    assert.deepEqual(pickBuilds(q, new Map(), new Map(), 3).map((b) => b.build_uuid), ["a1", "b1", "c1"]);
    // A already has two builds running: B and C go first.
    assert.deepEqual(pickBuilds(q, new Map([["A", 2]]), new Map(), 2).map((b) => b.build_uuid), ["b1", "c1"]);
  });

  it("no free slot, nothing starts", () => {
    assert.deepEqual(pickBuilds([build("a", "A", 1)], new Map(), new Map(), 0), []);
  });
});

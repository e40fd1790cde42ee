import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { LogLine } from "../../src/domain/build-types.ts";
import { decodeCursor, encodeCursor, pageLogs, pageRange } from "../../src/domain/log-cursor.ts";

const b64 = (s: string) => Buffer.from(s).toString("base64url");

describe("log cursor", () => {
  it("is unpadded URL-safe base64 of {line, timestamp}", () => {
    const c = encodeCursor({ line: 1000, timestamp: 1_700_000_000_123 });
    assert.match(c, /^[\w-]+$/);
    assert.equal(Buffer.from(c, "base64url").toString(), '{"line":1000,"timestamp":1700000000123}');
    // A JSON text whose base64 needs '-'/'_' and padding in standard form.
    const odd = encodeCursor({ line: 62, timestamp: 0.5 });
    assert.doesNotMatch(odd, /[=+/]/);
  });

  it("round-trips", () => {
    for (const c of [{ line: 0, timestamp: 0 }, { line: 5, timestamp: 1.5 }, { line: 2 ** 40, timestamp: Date.now() }, { line: 7, timestamp: -1 }]) {
      assert.deepEqual(decodeCursor(encodeCursor(c)), c);
    }
  });

  it("rejects malformed cursors", () => {
    const bad = [
      "",
      "abc=",
      "a+b/",
      "not base64!",
      "a",
      b64("not json"),
      b64("null"),
      b64("[1,2]"),
      b64('"x"'),
      b64('{"line":1}'),
      b64('{"timestamp":1}'),
      b64('{"line":-1,"timestamp":0}'),
      b64('{"line":1.5,"timestamp":0}'),
      b64('{"line":"1","timestamp":0}'),
      b64('{"line":1,"timestamp":"0"}'),
      b64('{"line":1e300,"timestamp":0}'),
      b64('{"line":1,"timestamp":null}'),
      "A".repeat(10_000),
    ];
    for (const s of bad) assert.equal(decodeCursor(s), undefined, s);
    // Standard (padded) base64 of a valid cursor is not the format.
    const padded = Buffer.from('{"line":1,"timestamp":23}').toString("base64");
    assert.match(padded, /=$/);
    assert.equal(decodeCursor(padded), undefined);
  });

  it("accepts extra keys and keeps only line and timestamp", () => {
    assert.deepEqual(decodeCursor(b64('{"line":3,"timestamp":4,"x":1}')), { line: 3, timestamp: 4 });
  });
});

describe("log pages", () => {
  const lines = (from: number, n: number): LogLine[] => Array.from({ length: n }, (_, k) => [100 + from + k, `l${from + k}`]);

  it("asks for at most a page from the cursor, nothing past the end", () => {
    assert.deepEqual(pageRange(2500, undefined), { from: 0, limit: 1000 });
    assert.deepEqual(pageRange(2500, { line: 2000, timestamp: 1 }), { from: 2000, limit: 500 });
    assert.deepEqual(pageRange(2500, { line: 2500, timestamp: 1 }), { from: 2500, limit: 0 });
    assert.deepEqual(pageRange(2500, { line: 9000, timestamp: 1 }), { from: 9000, limit: 0 });
    assert.deepEqual(pageRange(10, undefined, 3), { from: 0, limit: 3 });
  });

  it("truncated exactly while more lines exist; a reader looping on truncated reads every line once", () => {
    const total = 2345;
    const all = lines(0, total);
    const read: LogLine[] = [];
    let cursor: ReturnType<typeof decodeCursor>;
    let pages = 0;
    for (;;) {
      const { from, limit } = pageRange(total, cursor);
      const page = pageLogs(total, cursor, all.slice(from, from + limit));
      read.push(...page.lines);
      pages++;
      cursor = decodeCursor(page.cursor);
      assert.equal(page.truncated, read.length < total);
      if (!page.truncated) break;
    }
    assert.equal(pages, 3);
    assert.deepEqual(read, all);
    assert.deepEqual(cursor, { line: total, timestamp: 100 + total - 1 });
  });

  it("always returns a cursor; an empty page keeps the position and timestamp", () => {
    const empty = pageLogs(0, undefined, []);
    assert.deepEqual(decodeCursor(empty.cursor), { line: 0, timestamp: 0 });
    assert.equal(empty.truncated, false);
    const caughtUp = pageLogs(10, { line: 10, timestamp: 77 }, []);
    assert.deepEqual(decodeCursor(caughtUp.cursor), { line: 10, timestamp: 77 });
    assert.equal(caughtUp.truncated, false);
    // Exactly one full page and nothing more: not truncated.
    assert.equal(pageLogs(1000, undefined, lines(0, 1000)).truncated, false);
    assert.equal(pageLogs(1001, undefined, lines(0, 1000)).truncated, true);
  });
});

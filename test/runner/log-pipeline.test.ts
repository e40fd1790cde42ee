import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { sql } from "kysely";
import { refuseLogLines } from "../helpers/refusing-trigger.ts";
import type { LogLine } from "../../src/domain/build-types.ts";
import { newUuid } from "../../src/domain/ids.ts";
import { dialects } from "../helpers/databases.ts";
import { seed, storedBuild, triggerBody } from "../helpers/fixtures.ts";
import { startHarness, type Harness } from "../helpers/harness.ts";
import { LogCap, capMarker } from "../../src/runner/log-cap.ts";
import { LineSplitter, LogBatcher, LogPipeline, prefixForBytes } from "../../src/runner/log-lines.ts";
import { SecretMasker } from "../../src/runner/masker.ts";

/** Feeds `chunks` and returns the texts of every line, end() included. */
function run(splitter: LineSplitter, chunks: (Buffer | string)[], stream?: string): string[] {
  const out: LogLine[] = [];
  for (const c of chunks) out.push(...splitter.write(c, stream));
  out.push(...splitter.end());
  return out.map((l) => l[1]);
}

function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const parts: Buffer[] = [];
  let prev = 0;
  for (const c of [...cuts, buf.length]) {
    parts.push(buf.subarray(prev, c));
    prev = c;
  }
  return parts;
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe("LineSplitter: lines", () => {
  const text = "héllo wörld € 𝄞\nsecond line\r\n\nthird";
  const expected = ["héllo wörld € 𝄞", "second line", "", "third"];
  const buf = Buffer.from(text);

  it("splits into the same lines whatever byte the chunks are cut at (two and three pieces)", () => {
    for (let i = 0; i <= buf.length; i++) {
      assert.deepEqual(run(new LineSplitter(), splitAt(buf, [i])), expected, `cut at ${i}`);
      for (let j = i; j <= buf.length; j++) assert.deepEqual(run(new LineSplitter(), splitAt(buf, [i, j])), expected, `cut at ${i},${j}`);
    }
  });

  it("takes one byte at a time, even inside a 4-byte character", () => {
    const bytes = [...buf].map((b) => Buffer.from([b]));
    assert.deepEqual(run(new LineSplitter(), bytes), expected);
  });

  it("handles \\r\\n split between chunks, keeps a lone \\r, adds no line after a final newline", () => {
    assert.deepEqual(run(new LineSplitter(), ["a\r", "\nb\r\n"]), ["a", "b"]);
    assert.deepEqual(run(new LineSplitter(), ["50%\r100%\n"]), ["50%\r100%"]);
    assert.deepEqual(run(new LineSplitter(), ["x\n"]), ["x"]);
    assert.deepEqual(run(new LineSplitter(), ["\n\n"]), ["", ""]);
    assert.deepEqual(run(new LineSplitter(), []), []);
  });

  it("emits a line only once complete, stamped with the clock of the write that completed it", () => {
    let now = 100;
    const s = new LineSplitter({ now: () => now });
    assert.deepEqual(s.write(Buffer.from("par")), []);
    now = 200;
    assert.deepEqual(s.write(Buffer.from("tial\nnext")), [[200, "partial"]]);
    now = 300;
    assert.deepEqual(s.end(), [[300, "next"]]);
    assert.deepEqual(s.end(), []);
    assert.deepEqual(s.write("again\n"), [[300, "again"]], "usable after end()");
  });

  it("keeps streams apart: a half line on stdout does not absorb stderr", () => {
    const s = new LineSplitter();
    const out = [...s.write(Buffer.from("out-"), "stdout"), ...s.write(Buffer.from("err\n"), "stderr"), ...s.write(Buffer.from("put\n"), "stdout")];
    assert.deepEqual(out.map((l) => l[1]), ["err", "out-put"]);
    // A multi-byte character split on one stream is not corrupted by the other.
    const e = Buffer.from("é");
    const lines = [...s.write(e.subarray(0, 1), "stdout"), ...s.write(Buffer.from("x\n"), "stderr"), ...s.write(e.subarray(1), "stdout"), ...s.end()];
    assert.deepEqual(lines.map((l) => l[1]), ["x", "é"]);
  });

  it("turns an incomplete UTF-8 sequence at the end into U+FFFD", () => {
    assert.deepEqual(run(new LineSplitter(), [Buffer.from([0x61, 0xe2, 0x82])]), ["a\ufffd"]);
  });

  it("turns NUL characters into U+FFFD (PostgreSQL text cannot hold them), after masking", () => {
    assert.deepEqual(run(new LineSplitter({ secrets: ["hunter2"] }), [Buffer.from("a\0b\0\nhunter2\0x\n")]), ["a\ufffdb\ufffd", "***\ufffdx"]);
  });

  it("turns lone UTF-16 surrogates into U+FFFD (the databases would store them differently), keeps pairs", () => {
    assert.deepEqual(new LineSplitter().line("a\ud800b \udc00 \ud83d\ude00").map((l) => l[1]), ["a\ufffdb \ufffd \ud83d\ude00"]);
    // Masking a secret that ends in half a pair leaves the other half alone.
    assert.deepEqual(run(new LineSplitter({ secrets: ["abcd\ud83d"] }), ["xabcd\ud83d\ude00\n"]), ["x***\ufffd"]);
  });

  it("line(): runner lines are masked, split at newlines, and come after pending output", () => {
    const s = new LineSplitter({ secrets: ["tok1"] });
    s.write("half");
    assert.deepEqual(s.line("a tok1\nb").map((l) => l[1]), ["half", "a ***", "b"]);
  });
});

describe("LineSplitter: masking", () => {
  const secrets = ["SECRET-1", "s3cr€t", "tok1"];
  const line = "prefix SECRET-1 middle s3cr€t tok1 suffix SECRET-1\n";
  const masked = ["prefix *** middle *** *** suffix ***"];
  const buf = Buffer.from(line);

  it("masks secrets split across two and three writes at every position", () => {
    for (let i = 0; i <= buf.length; i++) {
      assert.deepEqual(run(new LineSplitter({ secrets }), splitAt(buf, [i])), masked, `cut at ${i}`);
      for (let j = i; j <= buf.length; j++) assert.deepEqual(run(new LineSplitter({ secrets }), splitAt(buf, [i, j])), masked, `cut at ${i},${j}`);
    }
  });

  it("masks overlapping secrets and prefixes whole, leaving no fragment", () => {
    const m = new SecretMasker(["abcd", "abcdef"]);
    assert.equal(m.mask("x abcdef y abcd z"), "x *** y *** z");
    assert.equal(new SecretMasker(["abcdef", "defgh"]).mask("abcdefgh!"), "***!", "overlapping runs merge");
    assert.equal(new SecretMasker(["abcd", "cdef"]).mask("1abcdef2"), "1***2");
    assert.equal(new SecretMasker(["aaaa"]).mask("aaaaaaa b"), "*** b");
    assert.equal(new SecretMasker(["abcd"]).mask("abcdabcd"), "******", "adjacent occurrences each masked");
  });

  it("treats secrets as text, not patterns", () => {
    const m = new SecretMasker(["a.b*c(d)[e]$^\\|+?{2}", "x.y"]);
    assert.equal(m.mask("1 a.b*c(d)[e]$^\\|+?{2} 2"), "1 *** 2");
    assert.equal(m.mask("xzy x.y"), "xzy x.y", "shorter than 4: not masked");
    assert.equal(new SecretMasker(["$&$&"]).mask("a $&$& b"), "a *** b");
  });

  it("ignores empty and whitespace-only secrets", () => {
    const m = new SecretMasker(["", "  ", "\n", "kkkk"]);
    assert.deepEqual(m.pieces, ["kkkk"]);
    assert.equal(m.mask("a kkkk b"), "a *** b");
    assert.deepEqual(run(new LineSplitter({ secrets: [""] }), ["nothing hidden\n"]), ["nothing hidden"]);
  });

  it("never masks a value shorter than 4 characters (masking `e` would reveal it: Succ***ss); from 4 on, exactly", () => {
    const m = new SecretMasker(["e", "ab", "xyz", "wxyz"]);
    assert.deepEqual(m.pieces, ["wxyz"]);
    assert.equal(m.mask("Success: e ab xyz wxyz"), "Success: e ab xyz ***");
    assert.deepEqual(run(new LineSplitter({ secrets: ["e"] }), ["Success\n"]), ["Success"]);
  });

  it("masks each line of a multi-line secret", () => {
    const secret = "-----BEGIN KEY-----\r\nMIIBOgIBAAJBAK\n-----END KEY-----";
    const out = run(new LineSplitter({ secrets: [secret] }), [`key:\n${secret.replace(/\r/g, "")}\ndone\n`]);
    assert.deepEqual(out, ["key:", "***", "***", "***", "done"]);
  });

  it("setSecrets applies to lines not emitted yet", () => {
    const s = new LineSplitter();
    s.write("token=abcd");
    s.setSecrets(["abcd"]);
    assert.deepEqual(s.end().map((l) => l[1]), ["token=***"]);
  });
});

describe("LineSplitter: long lines", () => {
  it("cuts a line without newline into pieces of at most maxLineBytes, losing nothing", () => {
    const text = "0123456789".repeat(20_000) + "é𝄞".repeat(5000); // 200 kB ASCII, then multi-byte
    for (const size of [1000, 65_536, 300_000]) {
      const b = Buffer.from(text + "\nnext\n");
      const chunks: Buffer[] = [];
      for (let i = 0; i < b.length; i += size) chunks.push(b.subarray(i, i + size));
      const lines = run(new LineSplitter(), chunks);
      assert.equal(lines.at(-1), "next");
      const pieces = lines.slice(0, -1);
      assert.ok(pieces.length >= 4, `chunk ${size}: ${pieces.length} pieces`);
      for (const p of pieces) assert.ok(Buffer.byteLength(p) <= 65_536, `piece of ${Buffer.byteLength(p)} bytes`);
      assert.equal(pieces.join(""), text, `chunk ${size}`);
    }
  });

  it("bounds memory: the unterminated line never holds much more than maxLineBytes", () => {
    const s = new LineSplitter({ maxLineBytes: 1024 });
    let pieces = 0;
    for (let i = 0; i < 2000; i++) pieces += s.write(Buffer.alloc(100, 0x61)).length;
    assert.ok(pieces >= 190, `${pieces}`);
    const rest = s.end();
    assert.equal(rest.length, 1);
    assert.ok(rest[0]![1].length <= 1024);
  });

  it("masks a secret straddling a cut, at every position, whatever the chunk size", () => {
    const secret = "SECRETVALUE";
    const max = 64;
    for (const chunk of [1, 5, 64, 1000]) {
      for (let p = 0; p <= 300 - secret.length; p++) {
        const text = ".".repeat(p) + secret + ".".repeat(300 - p - secret.length);
        const b = Buffer.from(text);
        const chunks: Buffer[] = [];
        for (let i = 0; i < b.length; i += chunk) chunks.push(b.subarray(i, i + chunk));
        const pieces = run(new LineSplitter({ secrets: [secret], maxLineBytes: max }), chunks);
        for (const piece of pieces) {
          assert.doesNotMatch(piece, /[A-Z]/, `chunk ${chunk}, secret at ${p}: fragment leaked in ${JSON.stringify(pieces)}`);
          assert.ok(Buffer.byteLength(piece) <= max);
        }
        assert.equal(pieces.join("").replace(/(\*\*\*)+/g, "***"), text.replace(secret, "***"), `chunk ${chunk}, secret at ${p}`);
      }
    }
  });

  it("masks a secret straddling a cut in a line that arrived whole", () => {
    const pieces = run(new LineSplitter({ secrets: ["SECRETVALUE"], maxLineBytes: 64 }), [".".repeat(60) + "SECRETVALUE" + ".".repeat(60) + "\n"]);
    for (const piece of pieces) assert.doesNotMatch(piece, /[A-Z]/);
    assert.equal(pieces.join(""), ".".repeat(60) + "***" + ".".repeat(60));
  });

  it("prefixForBytes never splits a character", () => {
    assert.equal(prefixForBytes("aé𝄞b", 1), 1);
    assert.equal(prefixForBytes("aé𝄞b", 2), 1);
    assert.equal(prefixForBytes("aé𝄞b", 3), 2);
    assert.equal(prefixForBytes("aé𝄞b", 6), 2);
    assert.equal(prefixForBytes("aé𝄞b", 7), 4);
    assert.equal(prefixForBytes("aé𝄞b", 8), 5);
  });
});

describe("LogCap", () => {
  const lineOf = (i: number): LogLine => [i, `line ${String(i).padStart(6, "0")}`];
  const size = (l: LogLine) => Buffer.byteLength(l[1]) + 1;
  const sum = (ls: LogLine[]) => ls.reduce((n, l) => n + size(l), 0);
  /** Pushes every line; returns what was written at once and what end() returned. */
  const feed = (cap: LogCap, lines: Iterable<LogLine>) => {
    const written: LogLine[] = [];
    for (const l of lines) cap.push(l, written);
    return { written, rest: cap.end() };
  };
  const isMarker = (l: LogLine) => l[1].startsWith("[kiln] Log cap");

  it("keeps the head, one marker line with exact counts, and the last 1000 lines, all within the cap", () => {
    const cap = new LogCap({ capBytes: 100_000 });
    const total = 50_000;
    const input = Array.from({ length: total }, (_, i) => lineOf(i));
    const { written, rest } = feed(cap, input);
    // The head is the first lines, in order; then the marker; then the last 1000 lines.
    assert.deepEqual(written, input.slice(0, written.length));
    assert.equal(cap.headBytes, sum(written));
    assert.equal(rest.length, 1001);
    const dropped = input.slice(written.length, total - 1000);
    assert.deepEqual(rest[0], [total - 1001, capMarker(100_000, dropped.length, sum(dropped), 1000)]);
    assert.equal(rest[0]![1], `[kiln] Log cap of 100000 bytes reached: ${dropped.length} lines (${sum(dropped)} bytes) dropped here; the last 1000 lines follow.`);
    assert.deepEqual(rest.slice(1), input.slice(total - 1000));
    assert.ok(sum(written) + sum(rest) <= 100_000, `stored ${sum(written) + sum(rest)} bytes`);
    // The head was filled: only the room of the marker and the tail's slack is left unused.
    assert.ok(sum(written) + sum(rest) > 100_000 - 300, `stored ${sum(written) + sum(rest)} bytes`);
  });

  it("stores a log under the cap whole and without a marker, even past the point where the tail starts", () => {
    const cap = new LogCap({ capBytes: 100_000, tailLines: 10 });
    // ~99 KB of lines: far more than head-before-tail (100 000 - marker room - 25 000) and than 10 tail lines.
    const input: LogLine[] = [];
    for (let i = 0, bytes = 0; bytes + 12 < cap.headLimit; i++) {
      input.push(lineOf(i));
      bytes += size(lineOf(i));
    }
    const { written, rest } = feed(cap, input);
    assert.deepEqual([...written, ...rest], input);
    assert.equal(rest.length, 10);
    assert.ok(!rest.some(isMarker));
  });

  it("counts bytes in UTF-8", () => {
    const cap = new LogCap({ capBytes: 2000, tailLines: 0 });
    // Lines of 3 + 1 bytes ("é" is 2 bytes): the head holds exactly headLimit / 4 of them.
    const n = Math.floor(cap.headLimit / 4);
    const { written, rest } = feed(cap, Array.from({ length: n + 5 }, (_, i): LogLine => [i, "éa"]));
    assert.equal(written.length, n);
    assert.deepEqual(rest, [[n + 4, capMarker(2000, 5, 20, 0)]]);
  });

  it("bounds the tail in bytes: long lines never take the stored log past the cap", () => {
    const capBytes = 64 * 1024;
    const cap = new LogCap({ capBytes });
    assert.equal(cap.tailBytes, 16 * 1024);
    let maxHeld = 0;
    const written: LogLine[] = [];
    for (let i = 0; i < 10_000; i++) {
      cap.push([i, `${i} ${"x".repeat(i % 7 === 0 ? 4000 : 30)}`], written);
      maxHeld = Math.max(maxHeld, cap.heldBytes);
    }
    cap.push([10_000, "Failed: error occurred while running build command"], written);
    const rest = cap.end();
    assert.ok(sum(written) + sum(rest) <= capBytes, `stored ${sum(written) + sum(rest)} bytes`);
    assert.ok(maxHeld <= cap.tailBytes + 4100, `held ${maxHeld} bytes`);
    assert.equal(rest.filter(isMarker).length, 1);
    assert.equal(rest.at(-1)![1], "Failed: error occurred while running build command");
    assert.equal(written[0]![1], `0 ${"x".repeat(4000)}`);
  });

  it("holds at most 1000 lines whatever the volume (200 000 lines, small cap)", () => {
    const cap = new LogCap({ capBytes: 4096 });
    let max = 0;
    const written: LogLine[] = [];
    for (let i = 0; i < 200_000; i++) {
      cap.push([i, `output line number ${i} of a chatty build`], written);
      if (cap.held > max) max = cap.held;
    }
    assert.ok(max <= 1000);
    const tail = cap.end();
    assert.equal(written.length + cap.droppedLines + tail.length - 1, 200_000);
    assert.equal(tail.at(-1)![1], "output line number 199999 of a chatty build");
    assert.ok(sum(written) + sum(tail) <= 4096);
  });

  it("whatever the lines and the cap: stored bytes ≤ cap, head a prefix, tail a suffix, the marker's counts exact", () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const alphabet = ["a", "é", "✓", "𝄞", " "];
    for (let round = 0; round < 200; round++) {
      const capBytes = 1024 + Math.floor(random() * 20_000);
      const tailLines = Math.floor(random() * 50);
      const cap = new LogCap({ capBytes, tailLines });
      const input = Array.from({ length: Math.floor(random() * 400) }, (_, i): LogLine => {
        const long = random() < 0.1;
        const n = Math.floor(random() * (long ? Math.min(cap.tailBytes / 4, 2000) : 40));
        let t = "";
        while (Buffer.byteLength(t) < n) t += alphabet[Math.floor(random() * alphabet.length)];
        return [i, t];
      });
      const { written, rest } = feed(cap, input);
      const stored = sum(written) + sum(rest);
      assert.ok(stored <= capBytes, `round ${round}: stored ${stored} > cap ${capBytes}`);
      assert.deepEqual(written, input.slice(0, written.length));
      const markers = rest.filter(isMarker);
      if (markers.length === 0) {
        assert.deepEqual([...written, ...rest], input, `round ${round}: nothing dropped, everything stored`);
        continue;
      }
      assert.equal(markers.length, 1);
      assert.ok(isMarker(rest[0]!));
      const tail = rest.slice(1);
      assert.deepEqual(tail, input.slice(input.length - tail.length));
      const dropped = input.slice(written.length, input.length - tail.length);
      assert.equal(rest[0]![1], capMarker(capBytes, dropped.length, sum(dropped), tail.length), `round ${round}`);
    }
  });
});

describe("LogBatcher", () => {
  const lines = (from: number, n: number): LogLine[] => Array.from({ length: n }, (_, k) => [from + k, `l${from + k}`]);

  it("flushes in order, with contiguous indexes, never two calls at once", async () => {
    const seen: LogLine[] = [];
    const indexes: number[] = [];
    let active = 0;
    let maxActive = 0;
    const b = new LogBatcher(
      async (batch, first) => {
        active++;
        maxActive = Math.max(maxActive, active);
        assert.equal(first, 7 + seen.length);
        indexes.push(first);
        await new Promise((r) => setTimeout(r, Math.random() * 3));
        seen.push(...batch);
        active--;
      },
      { batchLines: 50, batchDelayMs: 1, startIndex: 7 },
    );
    for (let i = 0; i < 2000; i++) {
      await b.push([i, `l${i}`]);
      if (i % 97 === 0) await tick();
    }
    await b.close();
    assert.deepEqual(seen, lines(0, 2000));
    assert.equal(maxActive, 1);
    assert.equal(b.nextIndex, 2007);
    assert.ok(indexes.length > 1);
  });

  it("flushes a full batch at once, a partial one after the delay", async () => {
    const calls: number[] = [];
    const b = new LogBatcher(
      async (batch) => {
        calls.push(batch.length);
      },
      { batchLines: 10, batchDelayMs: 40 },
    );
    await b.pushAll(lines(0, 10));
    assert.deepEqual(calls, [10], "size trigger: flushed without waiting");
    await b.pushAll(lines(10, 3));
    await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(calls, [10], "partial batch waits");
    await new Promise((r) => setTimeout(r, 60));
    assert.deepEqual(calls, [10, 3], "time trigger");
    await b.close();
    assert.deepEqual(calls, [10, 3]);
  });

  it("applies backpressure: push waits while more than highWaterMark lines are pending", async () => {
    let release!: () => void;
    let calls = 0;
    const b = new LogBatcher(
      async () => {
        calls++;
        if (calls === 1) await new Promise<void>((r) => (release = r));
      },
      { batchLines: 5, batchDelayMs: 1000, highWaterMark: 20 },
    );
    await b.pushAll(lines(0, 5)); // first flush starts, blocked
    await b.pushAll(lines(5, 20)); // 20 pending: still fine
    let done = false;
    const p = b.push([25, "l25"]).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(done, false, "push over the high-water mark waits");
    assert.equal(b.pendingLines, 21);
    release();
    await p;
    assert.ok(b.pendingLines <= 20);
    await b.close();
    assert.equal(b.nextIndex, 26);
  });

  it("surfaces a sink failure: rejects waiting and later pushes and close()", async () => {
    const boom = new Error("disk full");
    let calls = 0;
    const b = new LogBatcher(
      async () => {
        if (++calls === 2) throw boom;
      },
      { batchLines: 2, batchDelayMs: 1000, highWaterMark: 2 },
    );
    await b.pushAll(lines(0, 2));
    await assert.rejects(b.pushAll(lines(2, 5)), boom);
    assert.equal(b.error, boom);
    await assert.rejects(b.push([9, "x"]), boom);
    await assert.rejects(b.close(), boom);
  });

  it("close() rejects when the last flush fails, and resolves at once when empty", async () => {
    await new LogBatcher(async () => {}).close();
    const b = new LogBatcher(async () => Promise.reject(new Error("nope")), { batchDelayMs: 10_000 });
    await b.push([0, "a"]);
    await assert.rejects(b.close(), /nope/);
  });
});

describe("LogPipeline", () => {
  it("splits, masks, caps and stores contiguous lines", async () => {
    const stored: LogLine[] = [];
    const p = new LogPipeline({
      secrets: ["hunter2"],
      capBytes: 20_000,
      tailLines: 100,
      batchLines: 64,
      startIndex: 3,
      now: () => 42,
      flush: async (batch, first) => {
        assert.equal(first, 3 + stored.length);
        stored.push(...batch);
      },
    });
    await p.line("Initializing build environment...");
    const out = Array.from({ length: 10_000 }, (_, i) => `step ${i} password=hunter2`).join("\n") + "\n";
    const b = Buffer.from(out);
    for (let i = 0; i < b.length; i += 333) await p.write(b.subarray(i, i + 333), i % 2 ? "stdout" : "stdout");
    await p.line("Success: Build command completed");
    await p.end();
    const texts = stored.map((l) => l[1]);
    assert.ok(texts.every((t) => !t.includes("hunter2")));
    assert.equal(texts[0], "Initializing build environment...");
    const markers = texts.filter((t) => t.startsWith("[kiln] Log cap of 20000 bytes reached:"));
    assert.equal(markers.length, 1);
    assert.equal(texts.at(-1), "Success: Build command completed");
    assert.equal(texts.at(-2), "step 9999 password=***");
    // The last 100 lines, or fewer when they do not fit in what the head left of the cap: as many as the marker says.
    const tail = texts.length - texts.indexOf(markers[0]!) - 1;
    assert.ok(tail > 80 && tail <= 100, `${tail} tail lines`);
    assert.match(markers[0]!, new RegExp(`the last ${tail} lines follow`));
    const droppedLines = Number(/: (\d+) lines/.exec(markers[0]!)?.[1]);
    assert.equal(texts.length - 1 + droppedLines, 10_002);
    assert.ok(texts.reduce((n, t) => n + Buffer.byteLength(t) + 1, 0) <= 20_000);
    assert.equal(p.batcher.nextIndex, 3 + stored.length);
  });
});

/**
 * The pipeline writing into the real store, whose database refuses some lines (an operator's
 * trigger refusing lines that start with "!"): each refused line, or run of them, is stored as a
 * notice far longer than the line, and the stored log must still stay within the cap, keep its
 * head, marker and tail shape, and the marker's counts must be exactly the lines left out.
 */
for (const dialect of dialects()) {
  describe(`${dialect}: LogPipeline into a store refusing lines`, () => {
    let h: Harness;
    let newBuild: () => Promise<string>;
    before(async () => {
      h = await startHarness(dialect);
      await refuseLogLines(h, "refuse_bang", "!%");
      const account = await h.account("log-refusals");
      const write = (await h.token([account.id], ["Workers CI Write"])).value;
      const sd = await seed(h, account.id, `w-${newUuid().slice(0, 8)}`);
      const t = await h.call("POST", `/client/v4/accounts/${account.id}/builds/triggers`, { token: write, body: triggerBody(sd) });
      assert.equal(t.status, 200);
      newBuild = async () => {
        const now = new Date().toISOString();
        const b = { ...storedBuild(sd, account.id, t.body.result.trigger_uuid as string, { createdOn: now, status: "running" }), initializing_on: now, running_on: now };
        await h.store.transaction((r) => r.builds.insert(b));
        return b.build_uuid;
      };
    });
    after(() => h.close());

    const NOTICE = /^\[kiln\] (?:A line|(\d+) lines) of this build's output could not be stored: refused by the operator's trigger$/;
    const bytes = (ts: string[]) => ts.reduce((n, t) => n + Buffer.byteLength(t) + 1, 0);

    /** Runs `input` through a pipeline into a new build's log; returns the stored texts. */
    async function store(input: string[], capBytes: number, tailLines?: number, batchLines = 64): Promise<string[]> {
      const uuid = await newBuild();
      const p = new LogPipeline({
        capBytes,
        tailLines,
        batchLines,
        batchDelayMs: 1,
        flush: (lines, first, limits) => h.store.transaction((r) => r.builds.appendLogs(uuid, first, lines, limits)),
      });
      for (let i = 0; i < input.length; i += 37) await p.write(input.slice(i, i + 37).map((t) => t + "\n").join(""));
      await p.end();
      const build = await h.store.builds.getByUuid(uuid);
      const rows = await h.store.builds.readLogs(uuid, 0, 1_000_000);
      assert.equal(rows.length, build?.log_lines, "rows numbered contiguously, as many as log_lines says");
      assert.equal(p.batcher.nextIndex, rows.length);
      return rows.map((l) => l[1]);
    }

    /**
     * Maps stored rows back to the input lines they stand for, from input[at]; returns where they
     * end. (A run split between two batches is two notices.)
     */
    function matches(rows: string[], input: string[], at: number, label: string): number {
      for (const row of rows) {
        const m = NOTICE.exec(row);
        if (!m) {
          assert.equal(row, input[at], `${label}: row for input line ${at}`);
          at++;
          continue;
        }
        const n = Number(m[1] ?? 1);
        for (let k = 0; k < n; k++) assert.ok(input[at + k]?.startsWith("!"), `${label}: a notice stands for refused line ${at + k}`);
        at += n;
      }
      return at;
    }

    it("many short refused lines, alone and in runs, random caps: stored ≤ cap, head a prefix, tail a suffix, the marker's counts exact", async () => {
      let seed = 11;
      const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
      for (let round = 0; round < 16; round++) {
        const capBytes = 1024 + Math.floor(random() * 6000);
        const share = random();
        const input = Array.from({ length: 200 + Math.floor(random() * 600) }, (_, i) => (random() < share ? "!" : `line ${i}${"x".repeat(Math.floor(random() * 30))}`));
        const tailLines = Math.floor(random() * 60);
        const rows = await store(input, capBytes, tailLines);
        const label = `round ${round} (cap ${capBytes}, ${input.length} lines, ${Math.round(share * 100)}% refused)`;
        assert.ok(bytes(rows) <= capBytes, `${label}: stored ${bytes(rows)} bytes`);
        const markers = rows.filter((t) => t.startsWith("[kiln] Log cap of"));
        if (markers.length === 0) {
          assert.equal(matches(rows, input, 0, label), input.length, `${label}: nothing dropped, every line stored`);
          continue;
        }
        assert.equal(markers.length, 1, label);
        const at = rows.indexOf(markers[0] as string);
        const headEnd = matches(rows.slice(0, at), input, 0, label);
        const m = /: (\d+) lines \((\d+) bytes\) dropped here; the last (\d+) lines follow\.$/.exec(markers[0] as string);
        assert.ok(m, markers[0]);
        const tailStart = headEnd + Number(m[1]);
        assert.equal(Number(m[2]), bytes(input.slice(headEnd, tailStart)), `${label}: dropped bytes`);
        assert.equal(matches(rows.slice(at + 1), input, tailStart, label), input.length, `${label}: the tail is the end`);
        assert.equal(Number(m[3]), input.length - tailStart, `${label}: the marker counts the tail's lines`);
      }
    });

    it("a log of nothing but refused lines (4 KiB cap, 6000 bytes of them): a few notices stand for all of them, nothing dropped", async () => {
      // Counted as lines, 3000 of 2 bytes are past the cap; as stored, a notice per batch of 500.
      const input = Array.from({ length: 3000 }, () => "!");
      const rows = await store(input, 4096, undefined, 500);
      assert.ok(bytes(rows) <= 4096, `stored ${bytes(rows)} bytes`);
      assert.ok(rows.length <= 3000 / 64, `${rows.length} rows`);
      assert.equal(matches(rows, input, 0, "all refused"), 3000);
    });

    it("refused lines alternating with others under a 4 KiB cap: the notices count, the end is kept", async () => {
      const input = Array.from({ length: 4000 }, (_, i) => (i % 2 === 0 ? "!" : `k ${i}`));
      input.push("Success: Build command completed");
      const rows = await store(input, 4096);
      assert.ok(bytes(rows) <= 4096, `stored ${bytes(rows)} bytes`);
      assert.equal(rows.filter((t) => t.startsWith("[kiln] Log cap of 4096 bytes reached: ")).length, 1);
      assert.equal(rows.at(-1), "Success: Build command completed");
      assert.ok(rows.slice(0, 10).some((t) => NOTICE.test(t)), "the head holds notices");
    });
  });
}

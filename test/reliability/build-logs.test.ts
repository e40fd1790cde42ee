/**
 * What a build prints is stored, within the log cap, on either database: real
 * builds through the real runner and sandbox.
 * - a line the database refuses (an operator's trigger on both databases; on PostgreSQL, a
 *   LATIN1 database given a character LATIN1 cannot hold) is stored as a notice under its own
 *   line number, and every line after it, the final outcome line included, is kept;
 * - the stored log (sum of each line's UTF-8 bytes plus its newline, marker included) never
 *   exceeds --log-cap, with long and short lines and with a 50 MB line with no newline; head,
 *   marker, tail and the final line are there; also when the database refuses many short lines,
 *   each stored as a notice longer than the line (consecutive refused lines share one notice,
 *   and the notices count against the cap).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { sql } from "kysely";
import { refuseLogLines } from "../helpers/refusing-trigger.ts";
import { allLogs, setupTrigger, startBuild, waitForStatus } from "../helpers/builds.ts";
import { dialects } from "../helpers/databases.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";
import { startHarness, type Harness } from "../helpers/harness.ts";

const texts = (lines: [number, string][]) => lines.map(([, t]) => t);
const storedBytes = (t: string[]) => t.reduce((n, x) => n + Buffer.byteLength(x) + 1, 0);
const NOTICE = "[kiln] A line of this build's output could not be stored: ";
const CAP = 65_536;
const isMarker = (x: string) => x.startsWith(`[kiln] Log cap of ${CAP} bytes reached: `);
/** How many lines a stored row stands for: a notice says how many refused lines it replaces. */
const linesOf = (x: string) => {
  const m = /^\[kiln\] (?:A line|(\d+) lines) of this build's output could not be stored: /.exec(x);
  return m ? Number(m[1] ?? 1) : 1;
};

/**
 * A build printed `pairs` times a refused line `refused` then `k <i>`, and its log was capped:
 * checks the cap, the shape (head, one marker, tail, final line) and that the marker's counts are
 * exactly the lines missing between head and tail.
 */
function assertCappedRefusals(t: string[], refused: string, pairs: number, notice: RegExp): void {
  const output = (i: number) => (i % 2 === 0 ? refused : `k ${(i - 1) / 2}`);
  assert.ok(storedBytes(t) <= CAP, `stored ${storedBytes(t)} bytes, cap ${CAP}`);
  assert.equal(t[0], "Initializing build environment...");
  const first = t.findIndex((x) => notice.test(x));
  assert.ok(first > 0, "the head holds notices");
  assert.equal(t[first + 1], "k 0");
  const markers = t.filter(isMarker);
  assert.equal(markers.length, 1, "the cap was reached: one marker");
  const at = t.indexOf(markers[0] as string);
  const last = t.indexOf(`k ${pairs - 1}`);
  assert.ok(last > at, "the end of the output is kept");
  assert.deepEqual(t.slice(last + 1), ["Success: Build command completed"]);
  // Head and tail: the output in order, each refused line as a notice (alone: no two are consecutive).
  const head = t.slice(first, at);
  const tail = t.slice(at + 1, last + 1);
  head.forEach((x, i) => (i % 2 === 0 ? assert.match(x, notice) : assert.equal(x, output(i))));
  const m = /: (\d+) lines \((\d+) bytes\) dropped here; the last (\d+) lines follow\.$/.exec(markers[0] as string);
  assert.ok(m, markers[0]);
  assert.equal(Number(m[3]), t.length - at - 1, "the marker counts the rows after it");
  const tailStart = 2 * pairs - tail.length;
  tail.forEach((x, i) => (output(tailStart + i) === refused ? assert.match(x, notice) : assert.equal(x, output(tailStart + i))));
  const dropped = Array.from({ length: tailStart - head.length }, (_, i) => output(head.length + i));
  assert.equal(Number(m[1]), dropped.length, "dropped lines: exactly those between head and tail");
  assert.equal(Number(m[2]), storedBytes(dropped), "dropped bytes: exactly theirs");
  assert.ok(!t.some((x) => x.includes(refused) && !notice.test(x)));
}

/** A trigger of the operator's that refuses any log line holding POISON-LINE. */
const refusePoison = (h: Harness): Promise<void> => refuseLogLines(h, "refuse_poison", "%POISON-LINE%");

for (const dialect of dialects()) {
  describe(`${dialect}: build logs`, () => {
    let h: Harness;
    let repo: TestRepo;

    before(async () => {
      repo = makeRepo({ name: `logs-${dialect}`, files: { "README.md": "hello\n" } });
      h = await startHarness(dialect, {}, { runner: true, gitUrlTemplate: repo.template, slots: 2, buildTimeout: 120, logCap: CAP });
      await refusePoison(h);
    });
    after(async () => {
      await h.close();
      repo.cleanup();
    });

    it("a line the database refuses becomes a notice; the lines after it, in the same batch and later, and the outcome line are stored", async () => {
      // The poison is assembled by the shell: the command line, logged by the runner, must not hold it.
      const build = 'P=POISON; echo before; seq 1 1500 | sed "s/^/a /"; echo "$P-LINE one"; seq 1 1500 | sed "s/^/b /"; sleep 0.2; echo "$P-LINE two"; echo last; exit 3';
      const s = await setupTrigger(h, repo, { build }, "refused");
      const uuid = await startBuild(h, s);
      const b = await waitForStatus(h, s, uuid, "stopped", 60_000);
      const t = texts((await allLogs(h, s, uuid)).lines);
      assert.equal(b.build_outcome, "fail", t.slice(-5).join("\n"));
      const at = t.indexOf("before");
      assert.ok(at > 0);
      const expected = ["before", ...Array.from({ length: 1500 }, (_, i) => `a ${i + 1}`), "NOTICE", ...Array.from({ length: 1500 }, (_, i) => `b ${i + 1}`), "NOTICE", "last"];
      const got = t.slice(at, at + expected.length).map((x) => (x.startsWith(NOTICE) ? "NOTICE" : x));
      assert.deepEqual(got, expected);
      assert.match(t[at + 1501] ?? "", /refused by the operator's trigger/);
      assert.equal(t.at(-1), "Failed: error occurred while running build command");
      assert.ok(!t.some((x) => x.includes("POISON-LINE")));
    });

    it("consecutive refused lines share one notice saying how many lines it stands for", async () => {
      const build = 'P=POISON; echo before; yes "$P-LINE" | head -n 5000; echo after';
      const s = await setupTrigger(h, repo, { build }, "refused-run");
      const uuid = await startBuild(h, s);
      const b = await waitForStatus(h, s, uuid, "stopped", 60_000);
      const t = texts((await allLogs(h, s, uuid)).lines);
      assert.equal(b.build_outcome, "success", t.slice(-5).join("\n"));
      const run = t.slice(t.indexOf("before") + 1, t.indexOf("after"));
      assert.ok(run.length >= 1 && run.length <= 50, `${run.length} notices for 5000 lines`);
      for (const x of run) assert.match(x, /^\[kiln\] (A line|\d+ lines) of this build's output could not be stored: refused by the operator's trigger/);
      assert.equal(run.reduce((n, x) => n + linesOf(x), 0), 5000);
      assert.equal(t.at(-1), "Success: Build command completed");
      assert.ok(!t.some(isMarker));
    });

    it(`many short refused lines, each stored as a longer notice: at most --log-cap (${CAP}) bytes, head, honest marker, tail`, async () => {
      // 20,000 refused lines of 12 bytes, each followed by an accepted one: a notice each, ~95 bytes.
      const build = `P=POISON; awk -v p="$P-LINE" 'BEGIN { for (i = 0; i < 20000; i++) { print p; print "k " i } }'`;
      const s = await setupTrigger(h, repo, { build }, "refused-many");
      const uuid = await startBuild(h, s);
      const b = await waitForStatus(h, s, uuid, "stopped", 60_000);
      const t = texts((await allLogs(h, s, uuid)).lines);
      assert.equal(b.build_outcome, "success", t.slice(-5).join("\n"));
      assertCappedRefusals(t, "POISON-LINE", 20_000, /^\[kiln\] A line of this build's output could not be stored: refused by the operator's trigger/);
    });

    it(`stores at most --log-cap (${CAP}) bytes, marker included, with long and short lines: head, marker, tail, final line`, async () => {
      // 4 MB of output: short lines, and every 50th line 3000 bytes long; no newline at the very end.
      const build = `awk 'BEGIN { pad = sprintf("%3000s", ""); for (i = 0; i < 40000; i++) { if (i % 50 == 0) print "long " i pad; else print "short line " i } printf "END-OF-OUTPUT" }'`;
      const s = await setupTrigger(h, repo, { build }, "capped");
      const uuid = await startBuild(h, s);
      const b = await waitForStatus(h, s, uuid, "stopped", 60_000);
      const t = texts((await allLogs(h, s, uuid)).lines);
      assert.equal(b.build_outcome, "success", t.slice(-5).join("\n"));
      assert.ok(storedBytes(t) <= CAP, `stored ${storedBytes(t)} bytes`);
      assert.ok(storedBytes(t) > CAP * 0.9, `the cap is used: ${storedBytes(t)} bytes`);
      assert.equal(t[0], "Initializing build environment...");
      assert.ok(t.includes("long 0" + " ".repeat(3000)), "the head holds the first lines of the output");
      const markers = t.filter((x) => x.startsWith(`[kiln] Log cap of ${CAP} bytes reached: `));
      assert.equal(markers.length, 1);
      const tail = t.length - t.indexOf(markers[0] as string) - 1;
      assert.match(markers[0] as string, new RegExp(`the last ${tail} lines follow`));
      assert.deepEqual(t.slice(-3), ["short line 39999", "END-OF-OUTPUT", "Success: Build command completed"]);
    });

    it("a 50 MB line with no newline: stored within the cap, its start and end kept", async () => {
      const build = "printf start; head -c 50000000 /dev/zero | tr '\\0' a; echo end; echo after";
      const s = await setupTrigger(h, repo, { build }, "one-line");
      const uuid = await startBuild(h, s);
      const b = await waitForStatus(h, s, uuid, "stopped", 120_000);
      const t = texts((await allLogs(h, s, uuid)).lines);
      assert.equal(b.build_outcome, "success", t.slice(-3).map((x) => x.slice(0, 200)).join("\n"));
      assert.ok(storedBytes(t) <= CAP, `stored ${storedBytes(t)} bytes`);
      const first = t.findIndex((x) => x.startsWith("start"));
      assert.ok(first > 0 && /^starta+$/.test(t[first] as string));
      assert.equal(t.filter((x) => x.startsWith("[kiln] Log cap")).length, 1);
      assert.match(t.at(-3) as string, /^a+end$/);
      assert.deepEqual(t.slice(-2), ["after", "Success: Build command completed"]);
    });
  });
}

if (dialects().includes("postgres")) {
  describe("postgres: a LATIN1 database", () => {
    let h: Harness;
    let repo: TestRepo;

    before(async () => {
      repo = makeRepo({ name: "logs-latin1", files: { "README.md": "hello\n" } });
      h = await startHarness("postgres", {}, { runner: true, gitUrlTemplate: repo.template, slots: 1, buildTimeout: 60, logCap: CAP }, { database: { encoding: "LATIN1" } });
    });
    after(async () => {
      await h.close();
      repo.cleanup();
    });

    it("a character the database's encoding cannot hold: that line becomes a notice, the others are stored", async () => {
      const build = "echo before; printf 'caf\\303\\251\\n'; printf '\\342\\234\\223 done\\n'; echo after";
      const s = await setupTrigger(h, repo, { build }, "latin1");
      const uuid = await startBuild(h, s);
      const b = await waitForStatus(h, s, uuid, "stopped", 60_000);
      const t = texts((await allLogs(h, s, uuid)).lines);
      assert.equal(b.build_outcome, "success", t.join("\n"));
      const at = t.indexOf("before");
      assert.deepEqual(t.slice(at, at + 2), ["before", "café"]);
      assert.match(t[at + 2] as string, /^\[kiln\] A line of this build's output could not be stored: character with byte sequence 0xe2 0x9c 0x93 in encoding "UTF8" has no equivalent in encoding "LATIN1"/);
      assert.equal(t[at + 3], "after");
      assert.equal(t.at(-1), "Success: Build command completed");
    });

    it("a build printing only ✓ lines (4 bytes each, LATIN1 cannot hold them): a few notices stand for all of them, within the cap", async () => {
      const build = "echo before; yes \"$(printf '\\342\\234\\223')\" | head -n 10000; echo after";
      const s = await setupTrigger(h, repo, { build }, "latin1-only-checks");
      const uuid = await startBuild(h, s);
      const b = await waitForStatus(h, s, uuid, "stopped", 60_000);
      const t = texts((await allLogs(h, s, uuid)).lines);
      assert.equal(b.build_outcome, "success", t.slice(-5).join("\n"));
      assert.ok(storedBytes(t) <= CAP, `stored ${storedBytes(t)} bytes, cap ${CAP}`);
      const run = t.slice(t.indexOf("before") + 1, t.indexOf("after"));
      for (const x of run) assert.match(x, /^\[kiln\] (A line|\d+ lines) of this build's output could not be stored: character with byte sequence 0xe2 0x9c 0x93/);
      assert.equal(run.reduce((n, x) => n + linesOf(x), 0), 10_000, "the notices stand for every line");
      assert.ok(!t.some(isMarker), "nothing dropped");
      assert.equal(t.at(-1), "Success: Build command completed");
    });

    it(`✓ lines alternating with others (no two refused lines in a row): at most --log-cap (${CAP}) bytes, head, honest marker, tail`, async () => {
      const build = "printf '\\342\\234\\223\\nk %d\\n' $(seq 0 19999)";
      const s = await setupTrigger(h, repo, { build }, "latin1-many");
      const uuid = await startBuild(h, s);
      const b = await waitForStatus(h, s, uuid, "stopped", 60_000);
      const t = texts((await allLogs(h, s, uuid)).lines);
      assert.equal(b.build_outcome, "success", t.slice(-5).join("\n"));
      assertCappedRefusals(t, "✓", 20_000, /^\[kiln\] A line of this build's output could not be stored: character with byte sequence 0xe2 0x9c 0x93/);
    });
  });
}

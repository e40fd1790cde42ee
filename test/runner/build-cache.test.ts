/**
 * The build cache on real directories: miss → save → hit, generations, half-written and corrupt
 * entries, eviction by age and size, purge, ownership and symlinks.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { cacheDirFor, cacheRoot, enforceLimits, purge, restore, save } from "../../src/runner/build-cache.ts";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-cache-"));
  dirs.push(d);
  return d;
}

const T = "0f3c3c1e-5f0e-4c8e-9a57-3b1d2a9e0b11";
const DAY = 24 * 60 * 60 * 1000;
const t0 = new Date("2026-01-01T00:00:00.000Z");
const at = (days: number) => new Date(t0.getTime() + days * DAY);

/** A fake npm cache: nested files, an empty dir, a relative symlink. */
function fillCache(dir: string, extra = ""): void {
  fs.mkdirSync(path.join(dir, "_cacache", "content-v2", "sha512", "ab"), { recursive: true });
  fs.mkdirSync(path.join(dir, "_cacache", "tmp"), { recursive: true });
  fs.writeFileSync(path.join(dir, "_cacache", "content-v2", "sha512", "ab", "cd"), "tarball bytes" + extra);
  fs.writeFileSync(path.join(dir, "_cacache", "index"), "index" + extra, { mode: 0o600 });
  fs.symlinkSync("_cacache/index", path.join(dir, "index-link"));
}

/** Every path under dir with its type and content (files) or link target (symlinks). */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    const full = path.join(dir, rel);
    const st = fs.lstatSync(full);
    if (st.isSymbolicLink()) out[rel] = `link:${fs.readlinkSync(full)}`;
    else if (st.isDirectory()) {
      out[rel] = "dir";
      for (const name of fs.readdirSync(full)) walk(path.join(rel, name));
    } else out[rel] = `file:${(st.mode & 0o777).toString(8)}:${fs.readFileSync(full, "utf8")}`;
  };
  walk(".");
  return out;
}

/** A pid that is certainly not running (a child that has exited and been reaped). */
function deadPid(): number {
  const r = spawnSync("/bin/sh", ["-c", "echo $$"], { encoding: "utf8" });
  return Number(r.stdout.trim());
}

function entries(root: string): string[] {
  return fs.existsSync(path.join(root, T)) ? fs.readdirSync(path.join(root, T)).sort() : [];
}

describe("build cache", () => {
  it("cacheDirFor: the manager's dir inside HOME and the env that points the manager at it", () => {
    assert.deepEqual(cacheDirFor("npm", "/h"), { dir: "/h/.npm", env: { npm_config_cache: "/h/.npm" } });
    const pnpm = cacheDirFor("pnpm", "/h");
    assert.equal(pnpm.dir, "/h/.local/share/pnpm/store");
    assert.equal(pnpm.env.npm_config_store_dir, pnpm.dir);
    assert.equal(cacheDirFor("yarn", "/h").env.YARN_CACHE_FOLDER, "/h/.cache/yarn");
    assert.deepEqual(cacheDirFor("bun", "/h"), { dir: "/h/.bun/install/cache", env: { BUN_INSTALL_CACHE_DIR: "/h/.bun/install/cache" } });
    assert.equal(cacheRoot("/data"), "/data/cache");
  });

  it("miss → save → hit with identical content; last_read recorded", async () => {
    const root = path.join(tmp(), "cache");
    const home1 = tmp();
    const target1 = cacheDirFor("npm", home1).dir;
    assert.equal(await restore({ root, triggerUuid: T, generation: 0, target: target1 }), "miss");
    fillCache(target1);
    const saved = await save({ root, triggerUuid: T, generation: 0, source: target1, now: t0 });
    assert.equal(saved.status, "saved");
    assert.equal(saved.status === "saved" && saved.sizeBytes, "tarball bytes".length + "index".length + "_cacache/index".length);
    assert.deepEqual(entries(root), ["g0-deps"]);

    const home2 = tmp();
    const target2 = cacheDirFor("npm", home2).dir;
    assert.equal(await restore({ root, triggerUuid: T, generation: 0, target: target2, now: at(1) }), "hit");
    assert.deepEqual(snapshot(target2), snapshot(target1));
    const manifest = JSON.parse(fs.readFileSync(path.join(root, T, "g0-deps", "manifest.json"), "utf8"));
    assert.equal(manifest.generation, 0);
    assert.equal(manifest.saved_on, t0.toISOString());
    assert.equal(manifest.last_read, at(1).toISOString());
    // another trigger sees nothing
    assert.equal(await restore({ root, triggerUuid: "other-trigger", generation: 0, target: path.join(tmp(), "x") }), "miss");
  });

  it("a second save replaces the entry", async () => {
    const root = tmp();
    const a = tmp();
    fillCache(a, "-one");
    await save({ root, triggerUuid: T, generation: 3, source: a });
    const b = tmp();
    fillCache(b, "-two");
    fs.writeFileSync(path.join(b, "new"), "n");
    assert.equal((await save({ root, triggerUuid: T, generation: 3, source: b })).status, "saved");
    assert.deepEqual(entries(root), ["g3-deps"]);
    const out = path.join(tmp(), "out");
    assert.equal(await restore({ root, triggerUuid: T, generation: 3, target: out }), "hit");
    assert.deepEqual(snapshot(out), snapshot(b));
  });

  it("an older generation is a miss and is deleted (purge bumped the generation)", async () => {
    const root = tmp();
    const src = tmp();
    fillCache(src);
    await save({ root, triggerUuid: T, generation: 1, source: src });
    assert.deepEqual(entries(root), ["g1-deps"]);
    const out = path.join(tmp(), "out");
    assert.equal(await restore({ root, triggerUuid: T, generation: 2, target: out }), "miss");
    assert.equal(fs.existsSync(out), false);
    assert.deepEqual(entries(root), []);
    // and a save of the new generation drops older ones too
    await save({ root, triggerUuid: T, generation: 1, source: src });
    await save({ root, triggerUuid: T, generation: 2, source: src });
    assert.deepEqual(entries(root), ["g2-deps"]);
  });

  it("a half-written save (temp dir of a dead process) is discarded and deleted", async () => {
    const root = tmp();
    const half = path.join(root, T, `.tmp-g0-deps-${deadPid()}-abcdef`);
    fs.mkdirSync(path.join(half, "data", "_cacache"), { recursive: true });
    fs.writeFileSync(path.join(half, "data", "_cacache", "part"), "half");
    const out = path.join(tmp(), "out");
    assert.equal(await restore({ root, triggerUuid: T, generation: 0, target: out }), "discarded");
    assert.equal(fs.existsSync(half), false);
    assert.equal(fs.existsSync(out), false);
    assert.equal(await restore({ root, triggerUuid: T, generation: 0, target: out }), "miss");
  });

  it("a save in progress (temp dir of a live process, fresh) is left alone", async () => {
    const root = tmp();
    const busy = path.join(root, T, `.tmp-g0-deps-${process.pid}-abcdef`);
    fs.mkdirSync(busy, { recursive: true });
    assert.equal(await restore({ root, triggerUuid: T, generation: 0, target: path.join(tmp(), "o") }), "miss");
    assert.equal(fs.existsSync(busy), true);
    await enforceLimits(root);
    assert.equal(fs.existsSync(busy), true);
    // but old enough, it is debris even for a live pid
    await enforceLimits(root, { now: new Date(Date.now() + 7 * 60 * 60 * 1000) });
    assert.equal(fs.existsSync(busy), false);
  });

  it("corrupt entries (bad manifest, no manifest, wrong generation inside, no data) are discarded, never thrown", async () => {
    const corrupt: [string, (entry: string) => void][] = [
      ["manifest not JSON", (e) => fs.writeFileSync(path.join(e, "manifest.json"), "{trunc")],
      ["manifest missing", (e) => fs.rmSync(path.join(e, "manifest.json"))],
      ["manifest a directory", (e) => (fs.rmSync(path.join(e, "manifest.json")), fs.mkdirSync(path.join(e, "manifest.json")))],
      ["manifest of another generation", (e) => {
        const m = JSON.parse(fs.readFileSync(path.join(e, "manifest.json"), "utf8"));
        fs.writeFileSync(path.join(e, "manifest.json"), JSON.stringify({ ...m, generation: 9 }));
      }],
      ["data missing", (e) => fs.rmSync(path.join(e, "data"), { recursive: true })],
    ];
    for (const [what, damage] of corrupt) {
      const root = tmp();
      const src = tmp();
      fillCache(src);
      await save({ root, triggerUuid: T, generation: 0, source: src });
      damage(path.join(root, T, "g0-deps"));
      const out = path.join(tmp(), "out");
      assert.equal(await restore({ root, triggerUuid: T, generation: 0, target: out }), "discarded", what);
      assert.deepEqual(entries(root), [], what);
      assert.equal(await restore({ root, triggerUuid: T, generation: 0, target: out }), "miss", what);
    }
  });

  it("an unreadable entry (the trigger dir is a file) is a miss, not an error", async () => {
    const root = tmp();
    fs.writeFileSync(path.join(root, T), "not a dir");
    assert.equal(await restore({ root, triggerUuid: T, generation: 0, target: path.join(tmp(), "o") }), "miss");
    const src = tmp();
    fillCache(src);
    const r = await save({ root, triggerUuid: T, generation: 0, source: src });
    assert.equal(r.status, "failed");
    assert.deepEqual(await enforceLimits(root), { deleted: [], bytesFreed: 0 });
  });

  it("save: nothing to save, a symlinked source, a source resolving outside `within`, over maxBytes", async () => {
    const root = tmp();
    const home = tmp();
    assert.deepEqual(await save({ root, triggerUuid: T, generation: 0, source: path.join(home, ".npm") }), { status: "skipped", reason: "nothing to save" });
    const secret = tmp();
    fs.writeFileSync(path.join(secret, "key"), "secret");
    fs.symlinkSync(secret, path.join(home, ".npm"));
    assert.equal((await save({ root, triggerUuid: T, generation: 0, source: path.join(home, ".npm") })).status, "skipped");
    // HOME itself swapped for a symlink out of the build's work dir
    const work = tmp();
    fs.symlinkSync(secret, path.join(work, "home"));
    assert.equal((await save({ root, triggerUuid: T, generation: 0, source: path.join(work, "home"), within: work })).status, "skipped");
    fs.mkdirSync(path.join(work, "real", ".npm"), { recursive: true });
    fs.writeFileSync(path.join(work, "real", ".npm", "f"), "x");
    assert.equal((await save({ root, triggerUuid: T, generation: 0, source: path.join(work, "real", ".npm"), within: work })).status, "saved");
    // too large: not kept, the previous entry stays
    const big = tmp();
    fs.writeFileSync(path.join(big, "blob"), Buffer.alloc(2048));
    assert.equal((await save({ root, triggerUuid: T, generation: 0, source: big, maxBytes: 1024 })).status, "skipped");
    assert.deepEqual(entries(root), ["g0-deps"]);
    assert.ok(!fs.readdirSync(path.join(root, T)).some((n) => n.startsWith(".tmp-")));
  });

  it("FIFOs are skipped, symlinks copied as links (never followed)", async () => {
    const root = tmp();
    const src = tmp();
    fillCache(src);
    fs.symlinkSync("/etc/hostname", path.join(src, "abs-link"));
    execFileSync("mkfifo", [path.join(src, "pipe")]);
    assert.equal((await save({ root, triggerUuid: T, generation: 0, source: src })).status, "saved");
    const out = path.join(tmp(), "out");
    assert.equal(await restore({ root, triggerUuid: T, generation: 0, target: out }), "hit");
    assert.equal(fs.readlinkSync(path.join(out, "abs-link")), "/etc/hostname");
    assert.equal(fs.existsSync(path.join(out, "pipe")), false);
  });

  it("7-day expiry by last read (or saved_on when never read)", async () => {
    const root = tmp();
    const src = tmp();
    fillCache(src);
    await save({ root, triggerUuid: T, generation: 0, source: src, now: t0 });
    await save({ root, triggerUuid: "never-read", generation: 0, source: src, now: t0 });
    assert.deepEqual((await enforceLimits(root, { now: at(6) })).deleted, []);
    // read on day 6: kept on day 12, gone after day 13
    assert.equal(await restore({ root, triggerUuid: T, generation: 0, target: path.join(tmp(), "o"), now: at(6) }), "hit");
    const day8 = await enforceLimits(root, { now: at(8) });
    assert.deepEqual(day8.deleted, [path.join(root, "never-read", "g0-deps"), path.join(root, "never-read")]);
    assert.ok(day8.bytesFreed > 0);
    assert.deepEqual(entries(root), ["g0-deps"]);
    await enforceLimits(root, { now: at(12.9) });
    assert.deepEqual(entries(root), ["g0-deps"]);
    await enforceLimits(root, { now: at(13.1) });
    assert.equal(fs.existsSync(path.join(root, T)), false);
    // maxAgeDays is an option
    await save({ root, triggerUuid: T, generation: 0, source: src, now: t0 });
    await enforceLimits(root, { now: at(2), maxAgeDays: 1 });
    assert.equal(fs.existsSync(path.join(root, T)), false);
  });

  it("size cap: least recently read entry goes first; a single entry over the cap goes", async () => {
    const root = tmp();
    const a = tmp();
    fs.writeFileSync(path.join(a, "f"), Buffer.alloc(600));
    const b = tmp();
    fs.writeFileSync(path.join(b, "f"), Buffer.alloc(500));
    await save({ root, triggerUuid: T, generation: 0, source: a, name: "deps", now: t0 });
    await save({ root, triggerUuid: T, generation: 0, source: b, name: "build-output", now: at(1) });
    // deps read later than build-output: build-output is the LRU
    await restore({ root, triggerUuid: T, generation: 0, target: path.join(tmp(), "o"), name: "deps", now: at(2) });
    assert.deepEqual((await enforceLimits(root, { maxBytesPerTrigger: 1100, now: at(3) })).deleted, []);
    const r = await enforceLimits(root, { maxBytesPerTrigger: 1000, now: at(3) });
    assert.deepEqual(r, { deleted: [path.join(root, T, "g0-build-output")], bytesFreed: 500 });
    assert.deepEqual(entries(root), ["g0-deps"]);
    await enforceLimits(root, { maxBytesPerTrigger: 599, now: at(3) });
    assert.equal(fs.existsSync(path.join(root, T)), false);
  });

  it("purge deletes every generation and name of the trigger, and only that trigger", async () => {
    const root = tmp();
    const src = tmp();
    fillCache(src);
    await save({ root, triggerUuid: T, generation: 4, source: src });
    await save({ root, triggerUuid: T, generation: 4, source: src, name: "build-output" });
    await save({ root, triggerUuid: "keep-me", generation: 0, source: src });
    await purge(root, T);
    assert.equal(fs.existsSync(path.join(root, T)), false);
    assert.deepEqual(fs.readdirSync(root), ["keep-me"]);
    assert.equal(await restore({ root, triggerUuid: T, generation: 4, target: path.join(tmp(), "o") }), "miss");
    await purge(root, "never-existed"); // no error
  });

  it("arguments that are not plain path segments are refused", async () => {
    await assert.rejects(restore({ root: tmp(), triggerUuid: "../x", generation: 0, target: "/tmp/x" }), TypeError);
    await assert.rejects(save({ root: tmp(), triggerUuid: T, generation: -1, source: "/tmp" }), TypeError);
    await assert.rejects(purge(tmp(), ""), TypeError);
  });

  const isRoot = process.getuid?.() === 0;
  it("restored trees are given to the build user, symlinks not followed", { skip: isRoot ? false : "needs root to chown" }, async () => {
    const root = tmp();
    const src = tmp();
    fillCache(src);
    const outside = path.join(tmp(), "outside");
    fs.writeFileSync(outside, "root's");
    fs.symlinkSync(outside, path.join(src, "escape"));
    await save({ root, triggerUuid: T, generation: 0, source: src });
    const home = tmp();
    const target = cacheDirFor("pnpm", home).dir; // parents .local/share/pnpm created by restore
    const owner = { uid: 65534, gid: 65534 };
    assert.equal(await restore({ root, triggerUuid: T, generation: 0, target, owner }), "hit");
    for (const p of [path.join(home, ".local"), path.join(home, ".local", "share", "pnpm"), target, path.join(target, "_cacache", "index"), path.join(target, "escape")]) {
      const st = fs.lstatSync(p);
      assert.deepEqual([st.uid, st.gid], [65534, 65534], p);
    }
    assert.equal(fs.statSync(outside).uid, 0);
    assert.equal(fs.statSync(home).uid, 0); // an existing parent is left alone
  });
  describe("what the build left in its cache dir (saved and restored as root)", () => {
    const MB = 1024 * 1024;
    /** `work` answering within `ms` with the RSS grown by less than 32 MB; returns its answer and time. */
    async function quickly<T>(work: () => Promise<T>, ms = 2000): Promise<{ value: T; elapsedMs: number; rssDeltaMb: number }> {
      const rss = process.memoryUsage().rss;
      const started = performance.now();
      const value = await work();
      const elapsedMs = performance.now() - started;
      const rssDeltaMb = (process.memoryUsage().rss - rss) / MB;
      assert.ok(elapsedMs < ms, `took ${elapsedMs.toFixed(0)} ms`);
      assert.ok(rssDeltaMb < 32, `RSS grew by ${rssDeltaMb.toFixed(1)} MB`);
      return { value, elapsedMs, rssDeltaMb };
    }
    function rootOnly(text: string): string {
      const d = tmp();
      fs.chmodSync(d, 0o700);
      fs.writeFileSync(path.join(d, "shadow"), text, { mode: 0o600 });
      return path.join(d, "shadow");
    }
    /** Every byte under dir (regular files), to show no secret was copied. */
    function allBytes(dir: string): string {
      let out = "";
      const walk = (p: string) => {
        const st = fs.lstatSync(p);
        if (st.isDirectory()) for (const n of fs.readdirSync(p)) walk(path.join(p, n));
        else if (st.isFile()) out += fs.readFileSync(p, "latin1");
      };
      walk(dir);
      return out;
    }

    it("save: a FIFO skipped, /dev/zero and root-only symlinks kept as links (never read), at once", async () => {
      const root = tmp();
      const work = tmp();
      const src = path.join(work, "home", ".npm");
      fs.mkdirSync(src, { recursive: true });
      fillCache(src);
      execFileSync("mkfifo", [path.join(src, "fifo")]);
      fs.symlinkSync("/dev/zero", path.join(src, "zero"));
      const secret = rootOnly("root:$6$secret-hash\n");
      fs.symlinkSync(secret, path.join(src, "_cacache", "shadow"));
      const { value } = await quickly(() => save({ root, triggerUuid: T, generation: 0, source: src, within: work }));
      assert.equal(value.status, "saved");
      const data = path.join(root, T, "g0-deps", "data");
      assert.equal(fs.existsSync(path.join(data, "fifo")), false);
      assert.equal(fs.readlinkSync(path.join(data, "zero")), "/dev/zero");
      assert.equal(fs.readlinkSync(path.join(data, "_cacache", "shadow")), secret);
      assert.doesNotMatch(allBytes(data), /secret-hash/);
      // Restored the same way: links as links, nothing followed.
      const home = path.join(tmp(), "home");
      fs.mkdirSync(home);
      const { value: restored } = await quickly(() => restore({ root, triggerUuid: T, generation: 0, target: path.join(home, ".npm"), within: home }));
      assert.equal(restored, "hit");
      assert.equal(fs.readlinkSync(path.join(home, ".npm", "zero")), "/dev/zero");
      assert.doesNotMatch(allBytes(home), /secret-hash/);
    });

    it("save: a 10 GiB sparse file is refused by its apparent size before any of it is copied", async () => {
      const root = tmp();
      const src = tmp();
      fillCache(src);
      execFileSync("truncate", ["-s", "10G", path.join(src, "_cacache", "huge")]);
      const { value, elapsedMs } = await quickly(() => save({ root, triggerUuid: T, generation: 0, source: src, maxBytes: 1024 ** 3 }));
      assert.equal(value.status, "skipped");
      assert.match(value.status === "skipped" ? value.reason : "", /over the limit of 1073741824/);
      assert.deepEqual(entries(root), []);
      console.log(`10 GiB sparse cache file: save skipped in ${elapsedMs.toFixed(0)} ms, nothing written`);
    });

    it("save: a hard link to a root-owned file is skipped when the build user is known", { skip: isRoot ? false : "needs root" }, async () => {
      const root = tmp();
      const d = tmp();
      const secret = path.join(d, "secret");
      fs.writeFileSync(secret, "root's secret", { mode: 0o600 });
      const src = path.join(d, "npm");
      fs.mkdirSync(src);
      fs.linkSync(secret, path.join(src, "linked"));
      fs.writeFileSync(path.join(src, "own"), "x");
      fs.chownSync(path.join(src, "own"), 65534, 65534);
      fs.linkSync(path.join(src, "own"), path.join(src, "own-2"));
      assert.equal((await save({ root, triggerUuid: T, generation: 0, source: src, owner: { uid: 65534, gid: 65534 } })).status, "saved");
      const data = path.join(root, T, "g0-deps", "data");
      assert.deepEqual(fs.readdirSync(data).sort(), ["own", "own-2"]);
    });

    it("save: a cache dir reached through a symlinked parent inside the work dir is not saved", async () => {
      const root = tmp();
      const work = tmp();
      const elsewhere = path.join(work, "tmp", "npm-home");
      fs.mkdirSync(path.join(elsewhere, ".npm"), { recursive: true });
      fs.writeFileSync(path.join(elsewhere, ".npm", "f"), "x");
      fs.symlinkSync(elsewhere, path.join(work, "home"));
      const r = await save({ root, triggerUuid: T, generation: 0, source: path.join(work, "home", ".npm"), within: work });
      assert.equal(r.status, "skipped");
    });

    it("restore: a target (or a parent of it) the build made a symlink writes nothing outside", async () => {
      const root = tmp();
      const src = tmp();
      fillCache(src);
      assert.equal((await save({ root, triggerUuid: T, generation: 0, source: src })).status, "saved");
      const outside = tmp();
      // HOME/.npm → outside
      const home = tmp();
      fs.symlinkSync(outside, path.join(home, ".npm"));
      assert.equal(await restore({ root, triggerUuid: T, generation: 0, target: path.join(home, ".npm"), within: home }), "miss");
      // HOME/.local → outside (pnpm's store is HOME/.local/share/pnpm/store)
      const home2 = tmp();
      fs.symlinkSync(outside, path.join(home2, ".local"));
      const pnpm = cacheDirFor("pnpm", home2).dir;
      assert.equal(await restore({ root, triggerUuid: T, generation: 0, target: pnpm, within: home2 }), "miss");
      assert.deepEqual(fs.readdirSync(outside), []);
      // The entry is still there for the next build.
      assert.deepEqual(entries(root), ["g0-deps"]);
    });

    it("restore: symlinks inside an existing target (a directory, a file's place, a saved link) are never written through", async () => {
      const root = tmp();
      const src = tmp();
      fillCache(src);
      // A saved link that climbs out (`..`), then a directory and file of the same names restored after it.
      fs.symlinkSync("../../outside", path.join(src, "climb"));
      assert.equal((await save({ root, triggerUuid: T, generation: 0, source: src })).status, "saved");
      const outside = tmp();
      fs.writeFileSync(path.join(outside, "index"), "outside's own");
      const home = tmp();
      const target = path.join(home, ".npm");
      fs.mkdirSync(target);
      // The directory the tree descends into is a link out; a file's place is a link out.
      fs.symlinkSync(outside, path.join(target, "_cacache"));
      const restored = await restore({ root, triggerUuid: T, generation: 0, target, within: home });
      assert.notEqual(restored, "hit");
      assert.deepEqual(fs.readdirSync(outside), ["index"]);
      assert.equal(fs.readFileSync(path.join(outside, "index"), "utf8"), "outside's own");

      const home2 = tmp();
      const target2 = path.join(home2, ".npm");
      fs.mkdirSync(target2);
      fs.symlinkSync(path.join(outside, "index"), path.join(target2, "index-link"));
      fs.symlinkSync(path.join(outside, "index"), path.join(target2, "climb"));
      fs.mkdirSync(path.join(target2, "_cacache"));
      fs.symlinkSync(path.join(outside, "index"), path.join(target2, "_cacache", "index"));
      assert.equal((await save({ root, triggerUuid: T, generation: 0, source: src })).status, "saved");
      assert.equal(await restore({ root, triggerUuid: T, generation: 0, target: target2, within: home2 }), "hit");
      // The links in the way were replaced (unlinked), not followed; the saved links came back as links.
      assert.equal(fs.readlinkSync(path.join(target2, "index-link")), "_cacache/index");
      assert.equal(fs.readlinkSync(path.join(target2, "climb")), "../../outside");
      assert.equal(fs.readFileSync(path.join(target2, "_cacache", "index"), "utf8"), "index");
      assert.equal(fs.lstatSync(path.join(target2, "_cacache", "index")).isFile(), true);
      assert.equal(fs.readFileSync(path.join(outside, "index"), "utf8"), "outside's own");
      assert.deepEqual(fs.readdirSync(outside), ["index"]);
    });

    it("restore: a hostile entry (manifest a FIFO; data holding a FIFO, a device link, a 10 GiB sparse file) ends promptly", async () => {
      const root = tmp();
      const src = tmp();
      fillCache(src);
      fs.symlinkSync("/dev/zero", path.join(src, "zero"));
      assert.equal((await save({ root, triggerUuid: T, generation: 0, source: src })).status, "saved");
      const entry = path.join(root, T, "g0-deps");
      // Only root could have put a FIFO there (save skips them); a restore must still not hang on it.
      execFileSync("mkfifo", [path.join(entry, "data", "fifo")]);
      const hit = await quickly(() => restore({ root, triggerUuid: T, generation: 0, target: path.join(tmp(), "o") }));
      assert.equal(hit.value, "hit");
      // More bytes than the manifest says were saved: the copy stops there and the entry goes.
      execFileSync("truncate", ["-s", "10G", path.join(entry, "data", "huge")]);
      const target = path.join(tmp(), "o");
      const big = await quickly(() => restore({ root, triggerUuid: T, generation: 0, target }));
      assert.equal(big.value, "discarded");
      assert.equal(fs.existsSync(target), false);
      console.log(`restore of an entry holding a 10 GiB sparse file it did not record: discarded in ${big.elapsedMs.toFixed(0)} ms`);
      assert.equal((await save({ root, triggerUuid: T, generation: 0, source: src })).status, "saved");
      fs.rmSync(path.join(entry, "manifest.json"));
      execFileSync("mkfifo", [path.join(entry, "manifest.json")]);
      const { value, elapsedMs } = await quickly(() => restore({ root, triggerUuid: T, generation: 0, target: path.join(tmp(), "o") }));
      assert.equal(value, "discarded");
      console.log(`restore of an entry whose manifest is a FIFO: discarded in ${elapsedMs.toFixed(0)} ms`);
    });

    it("restore and save stop at the next entry once the build is stopped", async () => {
      const root = tmp();
      const src = tmp();
      for (let i = 0; i < 2000; i++) fs.writeFileSync(path.join(src, `f${i}`), "x");
      const stopped = new AbortController();
      stopped.abort("cancelled");
      assert.equal((await save({ root, triggerUuid: T, generation: 0, source: src, signal: stopped.signal })).status, "failed");
      assert.deepEqual(entries(root), []);
      assert.equal((await save({ root, triggerUuid: T, generation: 0, source: src })).status, "saved");
      const target = path.join(tmp(), "o");
      assert.equal(await restore({ root, triggerUuid: T, generation: 0, target, signal: stopped.signal }), "miss");
      assert.ok(!fs.existsSync(target) || fs.readdirSync(target).length === 0);
      assert.deepEqual(entries(root), ["g0-deps"]);
    });
  });
});

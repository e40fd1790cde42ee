/**
 * tenant-file.ts on real files: what a build can leave where Kiln expects a small regular file
 * — a FIFO with no writer, a symlink to /dev/zero, a symlink to a root-only file, a 10 GiB
 * sparse file, a symlinked directory on the way, a hard link to someone else's file — each read
 * ends at once with a refusal that says why, and the server's memory does not grow.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { readTenantFile, TenantDir } from "../../src/runner/tenant-file.ts";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-tenant-"));
  dirs.push(d);
  return d;
}

const isRoot = process.getuid?.() === 0;
const MB = 1024 * 1024;
const LIMIT = { maxBytes: 4 * MB };

/** A root-only file (0600, in a 0700 dir of its own) holding `text`. */
function rootOnlyFile(text: string): string {
  const d = tmp();
  fs.chmodSync(d, 0o700);
  const file = path.join(d, "secret");
  fs.writeFileSync(file, text, { mode: 0o600 });
  return file;
}

/** Runs `read`, asserting it answers within `ms` and the RSS grows by less than 32 MB. */
async function quickly<T>(read: () => Promise<T>, ms = 1000): Promise<{ value: T; elapsedMs: number; rssDeltaMb: number }> {
  const rss = process.memoryUsage().rss;
  const started = performance.now();
  const value = await read();
  const elapsedMs = performance.now() - started;
  const rssDeltaMb = (process.memoryUsage().rss - rss) / MB;
  assert.ok(elapsedMs < ms, `took ${elapsedMs.toFixed(0)} ms`);
  assert.ok(rssDeltaMb < 32, `RSS grew by ${rssDeltaMb.toFixed(1)} MB`);
  return { value, elapsedMs, rssDeltaMb };
}

describe("readTenantFile", () => {
  it("reads a regular file, a nested one, one of exactly maxBytes; absent is quiet", async () => {
    const root = tmp();
    fs.writeFileSync(path.join(root, "package.json"), '{"name":"x"}');
    fs.mkdirSync(path.join(root, "apps", "web"), { recursive: true });
    fs.writeFileSync(path.join(root, "apps", "web", ".nvmrc"), "22\n");
    fs.writeFileSync(path.join(root, "exact"), Buffer.alloc(1000, 97));
    const read = await readTenantFile(root, "package.json", LIMIT);
    assert.ok(read.ok);
    assert.equal(read.data.toString(), '{"name":"x"}');
    const nested = await readTenantFile(root, "apps/web/.nvmrc", LIMIT);
    assert.ok(nested.ok && nested.data.toString() === "22\n");
    const exact = await readTenantFile(root, "exact", { maxBytes: 1000 });
    assert.ok(exact.ok && exact.data.length === 1000);
    const over = await readTenantFile(root, "exact", { maxBytes: 999 });
    assert.equal(!over.ok && over.reason, "too-large");
    const absent = await readTenantFile(root, "nope/package.json", LIMIT);
    assert.equal(!absent.ok && absent.reason, "absent");
    const gone = await readTenantFile(path.join(root, "no-such-root"), "package.json", LIMIT);
    assert.equal(!gone.ok && gone.reason, "absent");
  });

  it("a FIFO with no writer: refused at once (opened non-blocking, fstat says FIFO)", async () => {
    const root = tmp();
    execFileSync("mkfifo", [path.join(root, ".wrangler-output.ndjson")]);
    const { value, elapsedMs } = await quickly(() => readTenantFile(root, ".wrangler-output.ndjson", LIMIT));
    assert.equal(!value.ok && value.reason, "not-regular");
    assert.match(!value.ok ? value.detail : "", /FIFO/);
    console.log(`FIFO refused in ${elapsedMs.toFixed(1)} ms`);
  });

  it("a symlink to /dev/zero: refused, nothing read", async () => {
    const root = tmp();
    fs.symlinkSync("/dev/zero", path.join(root, "out"));
    const { value, elapsedMs, rssDeltaMb } = await quickly(() => readTenantFile(root, "out", LIMIT));
    assert.equal(!value.ok && value.reason, "symlink");
    console.log(`/dev/zero symlink refused in ${elapsedMs.toFixed(1)} ms, RSS +${rssDeltaMb.toFixed(1)} MB`);
  });

  it("/dev/zero itself (a device where a file was expected, e.g. a bind): refused by fstat", async () => {
    const { value } = await quickly(() => readTenantFile("/dev", "zero", LIMIT));
    assert.equal(!value.ok && value.reason, "not-regular");
  });

  it("a symlink to a root-only file: refused, its contents never returned", async () => {
    const secret = rootOnlyFile('{"type":"deploy","version_id":"11111111-2222-3333-4444-555555555555"}\n');
    const root = tmp();
    fs.symlinkSync(secret, path.join(root, ".nvmrc"));
    const { value } = await quickly(() => readTenantFile(root, ".nvmrc", LIMIT));
    assert.equal(!value.ok && value.reason, "symlink");
    assert.doesNotMatch(JSON.stringify(value), /11111111/);
  });

  it("a 10 GiB sparse file: refused by its size before a byte is read", async () => {
    const root = tmp();
    execFileSync("truncate", ["-s", "10G", path.join(root, "package-lock.json")]);
    const { value, elapsedMs, rssDeltaMb } = await quickly(() => readTenantFile(root, "package-lock.json", LIMIT));
    assert.equal(!value.ok && value.reason, "too-large");
    assert.match(!value.ok ? value.detail : "", /10737418240 bytes/);
    console.log(`10 GiB sparse file refused in ${elapsedMs.toFixed(1)} ms, RSS +${rssDeltaMb.toFixed(1)} MB`);
  });

  it("a directory on the way that is a symlink (root directory out of the checkout): refused", async () => {
    const outside = tmp();
    fs.writeFileSync(path.join(outside, "package.json"), '{"name":"outside"}');
    const root = tmp();
    fs.symlinkSync(outside, path.join(root, "app"));
    const { value } = await quickly(() => readTenantFile(root, "app/package.json", LIMIT));
    assert.equal(!value.ok && value.reason, "symlink");
    // The walk itself refuses it too (what detection and the cache use).
    await assert.rejects(TenantDir.open(root, "app"), /symlink/);
    // A relative symlink inside the root is refused as well: none is resolved.
    fs.mkdirSync(path.join(root, "real"));
    fs.writeFileSync(path.join(root, "real", "f"), "x");
    fs.symlinkSync("real", path.join(root, "alias"));
    const alias = await readTenantFile(root, "alias/f", LIMIT);
    assert.equal(!alias.ok && alias.reason, "symlink");
  });

  it("`..` and NUL never leave the root", async () => {
    const root = tmp();
    for (const bad of ["../etc/passwd", "a/../../x", "a\0b"]) {
      const r = await readTenantFile(root, bad, LIMIT);
      assert.equal(!r.ok && r.reason, "outside", bad);
    }
  });

  it("a directory where a file is expected: refused", async () => {
    const root = tmp();
    fs.mkdirSync(path.join(root, "package.json"));
    const r = await readTenantFile(root, "package.json", LIMIT);
    assert.equal(!r.ok && r.reason, "not-regular");
  });

  it("a hard link to a file of someone else (root): refused when the build's uid is known", { skip: isRoot ? false : "needs root to own the linked file" }, async () => {
    const d = tmp();
    const secret = path.join(d, "secret");
    fs.writeFileSync(secret, "root's\n", { mode: 0o600 });
    const root = path.join(d, "home");
    fs.mkdirSync(root);
    fs.linkSync(secret, path.join(root, "out"));
    const refused = await readTenantFile(root, "out", { ...LIMIT, ownerUid: 65534 });
    assert.equal(!refused.ok && refused.reason, "hard-link");
    // The build's own hard-linked file is fine (pnpm's store links its own files).
    fs.chownSync(secret, 65534, 65534);
    assert.ok((await readTenantFile(root, "out", { ...LIMIT, ownerUid: 65534 })).ok);
  });

  it("what Kiln relies on: with fs.protected_hardlinks=1 an unprivileged user cannot link a root-only file", { skip: !isRoot ? "needs root" : fs.readFileSync("/proc/sys/fs/protected_hardlinks", "utf8").trim() !== "1" ? "fs.protected_hardlinks is not 1 on this machine" : false }, () => {
    // Reachable (the directory is searchable), not readable: only the link itself is in question.
    const open = tmp();
    fs.chmodSync(open, 0o755);
    const secret = path.join(open, "secret");
    fs.writeFileSync(secret, "root's\n", { mode: 0o600 });
    const d = tmp();
    fs.chmodSync(d, 0o755);
    fs.chownSync(d, 65534, 65534);
    const r = spawnSync("setpriv", ["--reuid", "65534", "--regid", "65534", "--clear-groups", "ln", secret, path.join(d, "link")], { encoding: "utf8" });
    assert.notEqual(r.status, 0, "the link was made");
    assert.match(r.stderr, /Operation not permitted/);
    assert.equal(fs.existsSync(path.join(d, "link")), false);
  });

  it("an aborted signal answers at once", async () => {
    const root = tmp();
    fs.writeFileSync(path.join(root, "f"), "x");
    const controller = new AbortController();
    controller.abort("cancelled");
    const r = await readTenantFile(root, "f", { ...LIMIT, signal: controller.signal });
    assert.equal(!r.ok && r.reason, "aborted");
  });

  it("many hostile reads at once do not hold libuv's thread pool (a plain fs call still answers)", async () => {
    const root = tmp();
    for (let i = 0; i < 16; i++) execFileSync("mkfifo", [path.join(root, `fifo-${i}`)]);
    const reads = Array.from({ length: 16 }, (_, i) => readTenantFile(root, `fifo-${i}`, LIMIT));
    const { elapsedMs } = await quickly(() => fs.promises.stat(root));
    const results = await Promise.all(reads);
    assert.ok(results.every((r) => !r.ok && r.reason === "not-regular"));
    console.log(`fs.stat beside 16 FIFO reads: ${elapsedMs.toFixed(1)} ms`);
  });
});

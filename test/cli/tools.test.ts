/** `kiln tools list|install|prune` against an npm registry on loopback (test/helpers/npm-registry.ts). */
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, describe, it } from "node:test";
import { packageOf } from "../../src/runner/toolchain.ts";
import { kiln } from "../helpers/cli.ts";
import { tempDir } from "../helpers/databases.ts";
import { fakeBinFiles, fakeNodeFiles, startNpmRegistry, type NpmRegistry } from "../helpers/npm-registry.ts";

const NODE = packageOf("node").name;

describe("kiln tools", () => {
  let reg: NpmRegistry;
  let dataDir: string;
  before(async () => {
    reg = await startNpmRegistry();
    for (const v of ["22.98.0", "22.99.0"]) reg.publish(NODE, v, fakeNodeFiles(v));
    reg.publish("pnpm", "10.99.1", fakeBinFiles("bin/pnpm.cjs", "10.99.1"));
    dataDir = tempDir("kiln-test-tools-cli-");
  });
  after(async () => {
    await reg?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("install resolves partial versions and pre-warms the cache once; list shows it; prune --all empties it", async () => {
    const common = ["--data-dir", dataDir, "--npm-registry", reg.url];
    const first = await kiln(["tools", "install", "node@22", "pnpm@10", ...common]);
    assert.equal(first.code, 0, first.stderr);
    const lines = first.stdout.trim().split("\n");
    assert.match(lines[0] ?? "", /^Downloaded nodejs 22\.99\.0 \(\d+ B in \d+\.\d\ds\)$/);
    assert.match(lines[1] ?? "", /^Downloaded pnpm 10\.99\.1 /);
    const again = await kiln(["tools", "install", "node@22.99.0", ...common]);
    assert.equal(again.stdout.trim(), "nodejs 22.99.0 is already in the tool cache");
    assert.equal(reg.tarballGets(NODE, "22.99.0"), 1);
    const list = await kiln(["tools", "list", "--json", ...common]);
    const tools = (JSON.parse(list.stdout) as { tools: { tool: string; version: string; in_use: boolean }[] }).tools;
    assert.deepEqual(tools.map((t) => `${t.tool}@${t.version}:${t.in_use}`), ["node@22.99.0:false", "pnpm@10.99.1:false"]);
    const missing = await kiln(["tools", "install", "node@21", ...common]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^kiln: nodejs 21 does not exist/);
    const usage = await kiln(["tools", "install", "python@3", ...common]);
    assert.equal(usage.code, 2, usage.stderr);
    const pruned = await kiln(["tools", "prune", "--all", ...common]);
    assert.equal(pruned.code, 0, pruned.stderr);
    // Least recently used first: node was used again by the second install.
    assert.match(pruned.stdout, /^removed pnpm 10\.99\.1 \([\d.]+ k?B\)\nremoved nodejs 22\.99\.0 \([\d.]+ k?B\)\n$/);
    assert.equal((await kiln(["tools", "list", ...common])).stdout.trim(), "(none)");
  });

  it("three processes installing one version at once over one data dir: one download, the others find it", async () => {
    // Each tarball is sent 1.5 s after it is asked for: every process has resolved the version (asked
    // for the packument) before the first download ends, so only the cross-process lock keeps them to one.
    const slow = await startNpmRegistry({ tarballDelayMs: 1500 });
    const dir = tempDir("kiln-test-tools-cli-");
    try {
      slow.publish(NODE, "22.99.0", fakeNodeFiles("22.99.0"));
      const common = ["--data-dir", dir, "--npm-registry", slow.url];
      const runs = await Promise.all([0, 1, 2].map(() => kiln(["tools", "install", "node@22", ...common])));
      for (const r of runs) assert.equal(r.code, 0, r.stderr);
      const said = runs.map((r) => r.stdout.trim()).sort();
      assert.match(said[0] ?? "", /^Downloaded nodejs 22\.99\.0 /);
      assert.deepEqual(said.slice(1), ["nodejs 22.99.0 is already in the tool cache", "nodejs 22.99.0 is already in the tool cache"]);
      assert.equal(slow.tarballGets(NODE, "22.99.0"), 1);
      const events = slow.events();
      const sent = events.indexOf(`tarball ${NODE}@22.99.0`);
      // Three resolves, then the one installer's manifest (the other two wait on the lock): all before the tarball.
      assert.equal(events.slice(0, sent).filter((e) => e === `packument ${NODE}`).length, 4, `all three resolved before the download ended: ${events.join(", ")}`);
      assert.deepEqual(fs.readdirSync(`${dir}/tools`).filter((n) => n.startsWith(".tmp")), []);
    } finally {
      await slow.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

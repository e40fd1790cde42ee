/**
 * Build tools from the npm registry (src/runner/toolchain.ts), against a real registry on
 * loopback (test/helpers/npm-registry.ts): version resolution as Cloudflare's image does it, one
 * download per version across caches sharing a directory, integrity, missing versions, a
 * registry that is down or silent, and eviction.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { pickVersion, prepareTools, toolRequests, ToolCache, ToolError, packageOf } from "../../src/runner/toolchain.ts";
import { CLOUDFLARE_DEFAULT_TOOLS, parseToolList } from "../../src/domain/build-image.ts";
import type { ProjectTools } from "../../src/runner/tools.ts";
import { loadConfig, runnerOptions } from "../../src/config.ts";
import { tempDir } from "../helpers/databases.ts";
import { fakeBinFiles, fakeNodeFiles, refusedUrl, startNpmRegistry, startSilentServer, type NpmRegistry } from "../helpers/npm-registry.ts";

const DAY = 24 * 3600 * 1000;
const NODE = packageOf("node").name;

describe("version resolution", () => {
  const versions = ["18.20.8", "20.19.2", "22.15.0", "22.16.0", "23.11.1", "24.1.0", "24.2.0-rc.1", "25.0.0"];
  const now = Date.parse("2026-01-01T00:00:00Z");
  const times: Record<string, string> = {
    "18.20.8": "2025-03-27T00:00:00Z",
    "20.19.2": "2025-05-14T00:00:00Z",
    "22.15.0": "2025-04-23T00:00:00Z",
    "22.16.0": "2025-05-21T00:00:00Z",
    "23.11.1": "2025-05-14T00:00:00Z",
    "24.1.0": "2025-05-08T00:00:00Z",
    "25.0.0": "2025-10-15T00:00:00Z",
  };
  it("partial versions pick the newest matching release; exact ones must exist", () => {
    assert.equal(pickVersion("node", "22", versions), "22.16.0");
    assert.equal(pickVersion("node", "v22.15", versions), "22.15.0");
    assert.equal(pickVersion("node", "22.x", versions), "22.16.0");
    assert.equal(pickVersion("node", ">=20 <23", versions), "22.16.0");
    assert.equal(pickVersion("node", "22.16.0", versions), "22.16.0");
    assert.equal(pickVersion("node", "22.17.0", versions), null);
    assert.equal(pickVersion("node", "21", versions), null);
    assert.equal(pickVersion("node", "node", versions), "25.0.0");
    assert.equal(pickVersion("node", "banana", versions), null);
  });
  it("lts/* is the newest even line first released at least ~6 months ago; codenames are Node's", () => {
    // 24.1.0 is the first 24.x here, from May 2025: LTS by January 2026. 25 is odd.
    assert.equal(pickVersion("node", "lts/*", versions, { ...times, "24.1.0": "2025-05-08T00:00:00Z" }, now), "24.1.0");
    // A 24 line first released 2 months ago is not LTS yet: 22 is.
    assert.equal(pickVersion("node", "lts/*", versions, { ...times, "24.1.0": new Date(now - 60 * DAY).toISOString() }, now), "22.16.0");
    assert.equal(pickVersion("node", "lts/jod", versions, times, now), "22.16.0");
    assert.equal(pickVersion("node", "lts/iron", versions, times, now), "20.19.2");
    assert.equal(pickVersion("node", "lts/unknownname", versions, times, now), null);
  });
  it("requests: variables beat packageManager, which beats the defaults; npm and node always", () => {
    const project = (over: Partial<ProjectTools>): ProjectTools => ({
      rootDir: "/x",
      hasPackageJson: true,
      packageManager: "npm",
      packageManagerVersion: null,
      packageManagerSource: "default",
      lockfile: null,
      lockfiles: [],
      nodeVersion: null,
      nodeVersionSource: null,
      ...over,
    });
    const d = CLOUDFLARE_DEFAULT_TOOLS;
    assert.deepEqual(toolRequests(project({}), {}, d), [
      { tool: "node", spec: "22.16.0", source: "default" },
      { tool: "npm", spec: "10.9.2", source: "default" },
    ]);
    assert.deepEqual(toolRequests(project({ packageManager: "npm", packageManagerVersion: "11.19.1", packageManagerSource: "packageManager", nodeVersion: "20", nodeVersionSource: ".nvmrc" }), {}, d), [
      { tool: "node", spec: "20", source: ".nvmrc" },
      { tool: "npm", spec: "11.19.1", source: "packageManager" },
    ]);
    const pnpm = project({ packageManager: "pnpm", packageManagerVersion: "9.1.0", packageManagerSource: "packageManager" });
    assert.deepEqual(toolRequests(pnpm, {}, d)[2], { tool: "pnpm", spec: "9.1.0", source: "packageManager" });
    assert.deepEqual(toolRequests(pnpm, { PNPM_VERSION: "8" }, d)[2], { tool: "pnpm", spec: "8", source: "PNPM_VERSION" });
    assert.deepEqual(toolRequests(project({ packageManager: "bun", packageManagerSource: "lockfile" }), {}, d)[2], { tool: "bun", spec: "1.2.15", source: "default" });
    const yarn = project({ packageManager: "yarn", packageManagerVersion: "4.9.1", packageManagerSource: "packageManager" });
    assert.deepEqual(toolRequests(yarn, { YARN_VERSION: " v1.22 " }, d)[2], { tool: "yarn", spec: "1.22", source: "YARN_VERSION" });
    const bun = project({ packageManager: "bun", packageManagerVersion: "1.2.15", packageManagerSource: "packageManager" });
    assert.deepEqual(toolRequests(bun, { BUN_VERSION: "1.1" }, d)[2], { tool: "bun", spec: "1.1", source: "BUN_VERSION" });
    // A variable of another manager than the project's brings that one too (Cloudflare's image has them all).
    assert.deepEqual(toolRequests(project({ nodeVersion: "22", nodeVersionSource: "NODE_VERSION" }), { BUN_VERSION: "1.2", PNPM_VERSION: "" }, d), [
      { tool: "node", spec: "22", source: "NODE_VERSION" },
      { tool: "npm", spec: "10.9.2", source: "default" },
      { tool: "bun", spec: "1.2", source: "BUN_VERSION" },
    ]);
    assert.deepEqual(toolRequests(pnpm, { PNPM_VERSION: "8", YARN_VERSION: "1" }, d).slice(2), [
      { tool: "pnpm", spec: "8", source: "PNPM_VERSION" },
      { tool: "yarn", spec: "1", source: "YARN_VERSION" },
    ]);
    assert.equal(toolRequests(project({ hasPackageJson: false }), { PNPM_VERSION: "10" }, d).at(-1)?.tool, "pnpm");
    assert.deepEqual(parseToolList("node@22.16.0, pnpm@10.11.1,nodejs@v20"), { node: "20", pnpm: "10.11.1" });
    assert.throws(() => parseToolList("python@3"), /TOOL@VERSION/);
  });
  it("options: --build-tools, --default-tools over Cloudflare's defaults, --npm-registry, --tool-cache-limit", () => {
    const d = loadConfig({}, {}, runnerOptions);
    assert.equal(d.buildTools, "registry");
    assert.deepEqual(d.defaultTools, CLOUDFLARE_DEFAULT_TOOLS);
    assert.equal(d.toolCacheLimit, 4 * 1024 ** 3);
    const c = loadConfig({ defaultTools: "node@20,pnpm@9.1.0" }, { KILN_BUILD_TOOLS: "host", KILN_NPM_REGISTRY: "https://npm.example.com/r", KILN_TOOL_CACHE_LIMIT: "1000" }, runnerOptions);
    assert.deepEqual(c.defaultTools, { ...CLOUDFLARE_DEFAULT_TOOLS, node: "20", pnpm: "9.1.0" });
    assert.equal(c.buildTools, "host");
    assert.equal(c.npmRegistry, "https://npm.example.com/r/");
    assert.throws(() => loadConfig({ buildTools: "docker" }, {}, runnerOptions), /invalid --build-tools \(or KILN_BUILD_TOOLS\): must be registry or host/);
    assert.throws(() => loadConfig({ defaultTools: "python@3" }, {}, runnerOptions), /invalid --default-tools \(or KILN_DEFAULT_TOOLS\): "python@3" is not TOOL@VERSION/);
  });
  it("yarn 1 comes from `yarn`, Yarn 2+ from @yarnpkg/cli-dist", () => {
    assert.equal(packageOf("yarn", "1.22.22").name, "yarn");
    assert.equal(packageOf("yarn", "4.9.1").name, "@yarnpkg/cli-dist");
  });
});

describe("tool cache against a registry on loopback", () => {
  let reg: NpmRegistry;
  const dirs: string[] = [];
  const cacheAt = (dir: string, over: Partial<ConstructorParameters<typeof ToolCache>[0]> = {}) => new ToolCache({ dir, registry: reg.url, auth: {}, ...over });
  const fresh = () => {
    const d = tempDir("kiln-test-tools-");
    dirs.push(d);
    return path.join(d, "tools");
  };
  before(async () => {
    reg = await startNpmRegistry();
    for (const v of ["22.98.0", "22.99.0", "23.1.0"]) reg.publish(NODE, v, fakeNodeFiles(v));
    reg.publish("pnpm", "10.99.1", { ...fakeBinFiles("bin/pnpm.cjs", "10.99.1"), ...fakeBinFiles("bin/pnpx.cjs", "10.99.1") });
    reg.publish("pnpm", "10.99.2", fakeBinFiles("bin/pnpm.cjs", "10.99.2"), { corrupt: true });
  });
  after(async () => {
    await reg?.close();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it("resolves 22 to the newest 22.x, installs it once, and its node runs", async () => {
    const cache = cacheAt(fresh());
    const version = await cache.resolve("node", "22");
    assert.equal(version, "22.99.0");
    const first = await cache.ensure("node", version);
    assert.ok(first.downloaded && first.downloaded.bytes > 0, "downloaded");
    const out = execFileSync(path.join(first.dir, "bin", "node"), ["--version"], { encoding: "utf8" });
    assert.equal(out.trim(), "v22.99.0");
    const again = await cache.ensure("node", version);
    assert.equal(again.downloaded, undefined, "restored from the cache");
    assert.equal(reg.tarballGets(NODE, "22.99.0"), 1);
    // Readable by the build uids, writable by no one else.
    for (const p of [cache.dir, path.dirname(first.dir), first.dir, path.join(first.dir, "pkg", "bin", "node")]) assert.equal(fs.statSync(p).mode & 0o777, 0o755, p);
    // Nothing else is kept: no temporary directory, no pacote cache growing with every packument fetched.
    assert.deepEqual(fs.readdirSync(cache.dir), ["node"]);
    // An exact version already installed needs no registry at all.
    const offline = new ToolCache({ dir: cache.dir, registry: await refusedUrl(), auth: {} });
    assert.equal(await offline.resolve("node", "22.99.0"), "22.99.0");
    await first.release();
    await again.release();
  });

  it("two caches over one directory (two runners) installing one version at once download it once", async () => {
    const dir = fresh();
    const before = reg.tarballGets("pnpm", "10.99.1");
    const [a, b, c] = await Promise.all([cacheAt(dir).ensure("pnpm", "10.99.1"), cacheAt(dir).ensure("pnpm", "10.99.1"), cacheAt(dir).ensure("pnpm", "10.99.1")]);
    assert.equal(reg.tarballGets("pnpm", "10.99.1") - before, 1, "one tarball GET");
    assert.equal([a, b, c].filter((x) => x.downloaded).length, 1);
    assert.equal(execFileSync(path.join(a.dir, "bin", "pnpm"), ["--version"], { encoding: "utf8" }).trim(), "10.99.1");
    await Promise.all([a, b, c].map((x) => x.release()));
  });

  it("a tarball that does not match dist.integrity is refused and leaves nothing", async () => {
    const cache = cacheAt(fresh());
    await assert.rejects(cache.ensure("pnpm", "10.99.2"), (e: unknown) => e instanceof ToolError && e.kind === "integrity" && /dist\.integrity/.test(e.message));
    assert.equal(fs.existsSync(path.join(cache.dir, "pnpm", "10.99.2")), false);
    assert.deepEqual(fs.readdirSync(cache.dir).filter((n) => n.startsWith(".tmp")), []);
  });

  it("a version that does not exist is named", async () => {
    const cache = cacheAt(fresh());
    await assert.rejects(cache.resolve("node", "21"), (e: unknown) => e instanceof ToolError && e.kind === "not-found" && e.message.startsWith("nodejs 21 does not exist"));
    await assert.rejects(cache.resolve("bun", "1.2.15"), (e: unknown) => e instanceof ToolError && e.kind === "not-found" && /was not found in the npm registry/.test(e.message));
  });

  it("a registry that refuses connections, or accepts and never answers, fails within the timeout; a cancel ends the wait at once", async () => {
    const refused = cacheAt(fresh(), { registry: await refusedUrl() });
    await assert.rejects(refused.resolve("node", "22"), (e: unknown) => e instanceof ToolError && e.kind === "unreachable" && /could not be reached \(ECONNREFUSED\)/.test(e.message));
    const silent = await startSilentServer();
    try {
      const cache = cacheAt(fresh(), { registry: silent.url, metadataTimeoutMs: 500 });
      const t0 = Date.now();
      await assert.rejects(cache.resolve("node", "22"), (e: unknown) => {
        assert.ok(e instanceof ToolError && e.kind === "unreachable", String(e));
        assert.equal(e.message, `nodejs 22 (${NODE}): the npm registry ${silent.url} did not answer within 0.5 s`);
        return true;
      });
      const waited = Date.now() - t0;
      assert.ok(waited >= 450 && waited < 5000, `bounded: ${waited} ms`);
      const controller = new AbortController();
      const t1 = Date.now();
      const pending = cacheAt(fresh(), { registry: silent.url }).resolve("node", "22", controller.signal);
      setTimeout(() => controller.abort("cancelled"), 100);
      await assert.rejects(pending);
      assert.ok(Date.now() - t1 < 2000, "the cancel ended it");
      assert.ok(silent.connections() >= 2);
    } finally {
      await silent.close();
    }
  });

  it("a registry's credentials come from npm's config (with --npm-registry too), are sent, and are in no message", async () => {
    const token = `npm_${"s3cr3t".repeat(6)}`;
    const priv = await startNpmRegistry({ token });
    const home = tempDir("kiln-test-npmrc-");
    dirs.push(home);
    const npmrc = path.join(home, ".npmrc");
    const saved = process.env.npm_config_userconfig;
    try {
      priv.publish(NODE, "22.99.0", fakeNodeFiles("22.99.0"));
      const hostPort = new URL(priv.url).host;
      fs.writeFileSync(npmrc, `//${hostPort}/:_authToken=${token}\n`);
      process.env.npm_config_userconfig = npmrc;
      // Only the registry is given, as `--npm-registry` does: its credentials are npm's.
      const cache = new ToolCache({ dir: fresh(), registry: priv.url });
      const got = await cache.ensure("node", await cache.resolve("node", "22"));
      assert.ok(got.downloaded);
      await got.release();
      assert.ok(priv.authorizations().length >= 2);
      assert.deepEqual([...new Set(priv.authorizations())], [`Bearer ${token}`]);
      // Without them: refused, said so, and the message shows no credential.
      fs.writeFileSync(npmrc, `//${hostPort}/:_authToken=wrong-${token}\n`);
      const denied = new ToolCache({ dir: fresh(), registry: priv.url });
      await assert.rejects(denied.resolve("node", "22"), (e: unknown) => {
        assert.ok(e instanceof ToolError && e.kind === "denied", String(e));
        assert.equal(e.message, `nodejs 22 (${NODE}): the npm registry ${priv.url} refused access (E401); its credentials come from npm's config (.npmrc)`);
        return true;
      });
    } finally {
      if (saved === undefined) delete process.env.npm_config_userconfig;
      else process.env.npm_config_userconfig = saved;
      await priv.close();
    }
  });

  it("Installing … only for a version other than the default, a partial default (--default-tools node@22) too", async () => {
    const cache = cacheAt(fresh());
    const defaults = { ...CLOUDFLARE_DEFAULT_TOOLS, node: "22" };
    const lines = async (spec: string, source: string) => {
      const said: string[] = [];
      const got = await prepareTools(cache, [{ tool: "node", spec, source }], defaults, (l) => said.push(l), new AbortController().signal);
      await got.release();
      return said;
    };
    const first = await lines("22", "default");
    assert.equal(first.length, 1, first.join("\n"));
    assert.match(first[0] ?? "", /^Downloaded nodejs 22\.99\.0 \(\d+ B in \d+\.\d\ds\)$/);
    // What the default resolves to, asked for by the project: no Installing line, as on Cloudflare.
    assert.deepEqual(await lines("22", ".nvmrc"), []);
    assert.deepEqual(await lines("v22.99", "NODE_VERSION"), []);
    const other = await lines("23", ".nvmrc");
    assert.equal(other[0], "Installing nodejs 23.1.0");
    assert.match(other[1] ?? "", /^Downloaded nodejs 23\.1\.0 /);
    assert.deepEqual(await lines("23", ".nvmrc"), ["Installing nodejs 23.1.0", "Restored nodejs 23.1.0 from the tool cache"]);
  });

  it("a Node.js other than the default gets the default npm when npm's engines take it, else the newest npm that does", async () => {
    reg.publish("npm", "9.98.0", fakeBinFiles("bin/npm-cli.js", "9.98.0"), { engines: { node: "^14.17.0 || ^16.13.0 || >=18.0.0" } });
    reg.publish("npm", "9.99.0", fakeBinFiles("bin/npm-cli.js", "9.99.0"), { engines: { node: "^14.17.0 || ^16.13.0 || >=18.0.0" } });
    reg.publish("npm", "10.99.0", fakeBinFiles("bin/npm-cli.js", "10.99.0"), { engines: { node: "^18.17.0 || >=20.5.0" } });
    reg.publish("npm", "11.0.0-pre.1", fakeBinFiles("bin/npm-cli.js", "11.0.0-pre.1"), { engines: { node: ">=14" } });
    const cache = cacheAt(fresh());
    assert.equal(await cache.npmFor("22.99.0", "10.99.0"), "10.99.0");
    assert.equal(await cache.npmFor("16.20.2", "10.99.0"), "9.99.0");
    assert.equal(await cache.npmFor("12.22.12", "10.99.0"), "10.99.0", "none takes it: the default");
    const down = cacheAt(fresh(), { registry: await refusedUrl() });
    assert.equal(await down.npmFor("16.20.2", "10.99.0"), "10.99.0", "the registry cannot say: the default");
  });

  it("past the size cap the least recently used versions go, never one in use", async () => {
    const cache = cacheAt(fresh());
    const held = await cache.ensure("node", "22.98.0");
    const other = await cache.ensure("node", "23.1.0");
    await other.release();
    const p = await cache.ensure("pnpm", "10.99.1");
    await p.release();
    const removed = await cache.prune(1);
    const left = (await cache.list()).map((v) => `${v.tool}@${v.version}`);
    assert.deepEqual(left, ["node@22.98.0"], "only the version in use stays");
    assert.deepEqual(removed.map((v) => `${v.tool}@${v.version}`).sort(), ["node@23.1.0", "pnpm@10.99.1"]);
    await held.release();
    await cache.prune(1);
    assert.deepEqual(await cache.list(), []);
  });
});

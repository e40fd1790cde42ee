/**
 * Tool detection and the install step, on real directories, and `--version` probes with real
 * processes (node and npm of this machine).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import {
  checkNodeVersion,
  detectedToolsLine,
  detectProject,
  installCommand,
  installLine,
  managerVersionWarning,
  missingToolLine,
  nodeSatisfies,
  nodeVersionWarning,
  parsePackageManagerField,
  skipDependencyInstall,
  probeTimeoutLine,
  toolVersions,
} from "../../src/runner/tools.ts";

const roots: string[] = [];
after(() => {
  for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
});

/** A project dir with these files (content "" unless given). */
function project(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-tools-"));
  roots.push(dir);
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
  return dir;
}

const PKG = JSON.stringify({ name: "app", version: "1.0.0" });
const pkgWith = (pm: unknown) => JSON.stringify({ name: "app", packageManager: pm });

describe("detectProject: package manager", () => {
  const lockCases: [string, string, string][] = [
    ["package-lock.json", "npm", "npm clean-install --progress=false"],
    ["npm-shrinkwrap.json", "npm", "npm clean-install --progress=false"],
    ["pnpm-lock.yaml", "pnpm", "pnpm install --frozen-lockfile"],
    ["yarn.lock", "yarn", "yarn install --frozen-lockfile"],
    ["bun.lock", "bun", "bun install --frozen-lockfile"],
    ["bun.lockb", "bun", "bun install --frozen-lockfile"],
  ];
  for (const [lock, manager, command] of lockCases) {
    it(`${lock} → ${manager}, "${command}"`, async () => {
      const t = await detectProject(project({ "package.json": PKG, [lock]: "" }));
      assert.equal(t.packageManager, manager);
      assert.equal(t.packageManagerSource, "lockfile");
      assert.equal(t.lockfile, lock);
      assert.equal(t.packageManagerVersion, null);
      assert.equal(t.hasPackageJson, true);
      assert.equal(installCommand(t), command);
    });
  }

  it("no lockfile → npm install (not clean-install)", async () => {
    const t = await detectProject(project({ "package.json": PKG }));
    assert.equal(t.packageManager, "npm");
    assert.equal(t.packageManagerSource, "default");
    assert.equal(t.lockfile, null);
    assert.equal(installCommand(t), "npm install --progress=false");
  });

  it("packageManager field wins over lockfiles, with its pinned version (hash stripped)", async () => {
    const t = await detectProject(project({ "package.json": pkgWith("pnpm@9.1.0+sha512.abcdef"), "package-lock.json": "", "pnpm-lock.yaml": "" }));
    assert.equal(t.packageManager, "pnpm");
    assert.equal(t.packageManagerVersion, "9.1.0");
    assert.equal(t.packageManagerSource, "packageManager");
    assert.equal(t.lockfile, "pnpm-lock.yaml");
    assert.deepEqual(t.lockfiles, ["package-lock.json", "pnpm-lock.yaml"]);
    assert.equal(installCommand(t), "pnpm install --frozen-lockfile");
  });

  for (const [field, manager, version] of [
    ["npm@11.19.1", "npm", "11.19.1"],
    ["yarn@1.22.22", "yarn", "1.22.22"],
    ["bun@1.2.15", "bun", "1.2.15"],
    ["pnpm", "pnpm", null],
  ] as const) {
    it(`packageManager "${field}" → ${manager} ${version}`, async () => {
      const t = await detectProject(project({ "package.json": pkgWith(field), "package-lock.json": "" }));
      assert.equal(t.packageManager, manager);
      assert.equal(t.packageManagerVersion, version);
    });
  }

  it("packageManager pins pnpm without its lockfile → plain install (frozen would fail)", async () => {
    const t = await detectProject(project({ "package.json": pkgWith("pnpm@9.1.0"), "package-lock.json": "" }));
    assert.equal(t.lockfile, null);
    assert.equal(installCommand(t), "pnpm install");
  });

  it("an unknown or non-string packageManager falls back to lockfiles", async () => {
    for (const pm of ["deno@2.0.0", 42, { name: "pnpm" }, ""]) {
      const t = await detectProject(project({ "package.json": pkgWith(pm), "yarn.lock": "" }));
      assert.equal(t.packageManager, "yarn", JSON.stringify(pm));
      assert.equal(t.packageManagerSource, "lockfile");
    }
  });

  it("lockfile precedence: npm, then pnpm, then yarn, then bun", async () => {
    assert.equal((await detectProject(project({ "package.json": PKG, "yarn.lock": "", "package-lock.json": "", "bun.lock": "" }))).packageManager, "npm");
    assert.equal((await detectProject(project({ "package.json": PKG, "yarn.lock": "", "pnpm-lock.yaml": "" }))).packageManager, "pnpm");
    assert.equal((await detectProject(project({ "package.json": PKG, "yarn.lock": "", "bun.lockb": "" }))).packageManager, "yarn");
  });

  it("a lockfile that is a directory does not count", async () => {
    const dir = project({ "package.json": PKG });
    fs.mkdirSync(path.join(dir, "pnpm-lock.yaml"));
    assert.equal((await detectProject(dir)).packageManager, "npm");
  });

  it("malformed package.json is treated as none and never throws", async () => {
    for (const bad of ["{not json", "[1,2]", "null", '"string"', ""]) {
      const t = await detectProject(project({ "package.json": bad, "pnpm-lock.yaml": "" }));
      assert.equal(t.hasPackageJson, false, bad);
      assert.equal(t.packageManager, "pnpm");
      assert.equal(installCommand(t), null);
    }
  });

  it("no package.json → no install; a missing root dir does not throw", async () => {
    const t = await detectProject(project({ "package-lock.json": "" }));
    assert.equal(t.hasPackageJson, false);
    assert.equal(installCommand(t), null);
    const gone = await detectProject(path.join(os.tmpdir(), "kiln-does-not-exist-" + process.pid));
    assert.equal(gone.hasPackageJson, false);
    assert.equal(gone.packageManager, "npm");
  });
});

describe("install command", () => {
  it("SKIP_DEPENDENCY_INSTALL: 1/true (any case, trimmed) skip; other values do not", async () => {
    const t = await detectProject(project({ "package.json": PKG, "package-lock.json": "" }));
    for (const v of ["1", "true", "TRUE", " True "]) {
      assert.equal(skipDependencyInstall({ SKIP_DEPENDENCY_INSTALL: v }), true, v);
      assert.equal(installCommand(t, { SKIP_DEPENDENCY_INSTALL: v }), null, v);
    }
    for (const v of ["0", "false", "", "yes", "2"]) {
      assert.equal(skipDependencyInstall({ SKIP_DEPENDENCY_INSTALL: v }), false, v);
      assert.equal(installCommand(t, { SKIP_DEPENDENCY_INSTALL: v }), "npm clean-install --progress=false", v);
    }
    assert.equal(installCommand(t, {}), "npm clean-install --progress=false");
  });

  it("yarn: --frozen-lockfile for Yarn 1 or unknown, --immutable for Yarn 2+", async () => {
    const t = await detectProject(project({ "package.json": PKG, "yarn.lock": "" }));
    assert.equal(installCommand(t, {}, "1.22.22"), "yarn install --frozen-lockfile");
    assert.equal(installCommand(t, {}, null), "yarn install --frozen-lockfile");
    assert.equal(installCommand(t, {}, "4.9.1"), "yarn install --immutable");
    const pinned = await detectProject(project({ "package.json": pkgWith("yarn@4.9.1"), "yarn.lock": "" }));
    assert.equal(installCommand(pinned), "yarn install --immutable");
    // the machine's real version beats the pin
    assert.equal(installCommand(pinned, {}, "1.22.22"), "yarn install --frozen-lockfile");
  });

  it("log line", () => {
    assert.equal(installLine("npm clean-install --progress=false"), "Installing project dependencies: npm clean-install --progress=false");
  });

  it("parsePackageManagerField", () => {
    assert.deepEqual(parsePackageManagerField("yarn@4.9.1+sha224.x"), { manager: "yarn", version: "4.9.1" });
    assert.equal(parsePackageManagerField("npmx@1"), null);
    assert.equal(parsePackageManagerField(undefined), null);
  });
});

describe("Node version", () => {
  it("NODE_VERSION beats .nvmrc beats .node-version; trimmed, leading v stripped", async () => {
    const dir = project({ "package.json": PKG, ".nvmrc": "  v20.11.1\n", ".node-version": "18\n" });
    let t = await detectProject(dir, { NODE_VERSION: " v22.16.0 " });
    assert.equal(t.nodeVersion, "22.16.0");
    assert.equal(t.nodeVersionSource, "NODE_VERSION");
    t = await detectProject(dir, { NODE_VERSION: "" });
    assert.equal(t.nodeVersion, "20.11.1");
    assert.equal(t.nodeVersionSource, ".nvmrc");
    fs.rmSync(path.join(dir, ".nvmrc"));
    t = await detectProject(dir);
    assert.equal(t.nodeVersion, "18");
    assert.equal(t.nodeVersionSource, ".node-version");
    fs.rmSync(path.join(dir, ".node-version"));
    t = await detectProject(dir);
    assert.equal(t.nodeVersion, null);
    assert.equal(t.nodeVersionSource, null);
  });

  it("package.json engines is ignored, as on Cloudflare: no Node.js version and no manager version from it", async () => {
    const t = await detectProject(project({ "package.json": JSON.stringify({ name: "app", engines: { node: ">=24", npm: "11.1.0", pnpm: "9" } }), "pnpm-lock.yaml": "" }));
    assert.equal(t.nodeVersion, null);
    assert.equal(t.nodeVersionSource, null);
    assert.equal(t.packageManager, "pnpm");
    assert.equal(t.packageManagerVersion, null);
    assert.equal(t.packageManagerSource, "lockfile");
  });

  it("an empty .nvmrc falls through to .node-version; comments are ignored", async () => {
    const t = await detectProject(project({ ".nvmrc": "\n  \n", ".node-version": "# pinned\nlts/iron\n" }));
    assert.equal(t.nodeVersion, "lts/iron");
    assert.equal(t.nodeVersionSource, ".node-version");
  });

  it("nodeSatisfies", () => {
    const yes: [string, string][] = [
      ["22", "v22.16.0"],
      ["22.16", "22.16.0"],
      ["22.16.0", "v22.16.0"],
      ["v22", "22.16.0"],
      ["22.x", "22.1.0"],
      [">=20", "22.16.0"],
      [">=22.16.0", "22.16.0"],
      [">21", "22.0.0"],
      ["<23", "22.16.0"],
      ["<=22", "22.16.0"],
      ["^22.1", "22.16.0"],
      ["~22.16", "22.16.3"],
      ["lts/*", "22.16.0"],
      ["node", "22.16.0"],
    ];
    for (const [w, a] of yes) assert.equal(nodeSatisfies(w, a), true, `${w} vs ${a}`);
    const no: [string, string][] = [
      ["20", "22.16.0"],
      ["22.15", "22.16.0"],
      ["22.16.1", "22.16.0"],
      ["2", "22.16.0"],
      [">=23", "22.16.0"],
      [">22", "22.16.0"],
      ["<22", "22.16.0"],
      ["^20", "22.16.0"],
      ["~22.15", "22.16.0"],
      ["banana", "22.16.0"],
    ];
    for (const [w, a] of no) assert.equal(nodeSatisfies(w, a), false, `${w} vs ${a}`);
    assert.match(checkNodeVersion("lts/*", "22.16.0").note ?? "", /alias/);
    assert.match(checkNodeVersion("banana", "22.16.0").note ?? "", /unrecognised/);
  });

  it("warning line only when not satisfied", async () => {
    const t = await detectProject(project({ ".nvmrc": "20\n" }));
    assert.equal(nodeVersionWarning(t, "22.16.0"), "Warning: this project asks for Node.js 20 (.nvmrc) but this build machine has Node.js 22.16.0; installing other Node.js versions is not supported, continuing with 22.16.0");
    assert.equal(nodeVersionWarning(t, "20.11.0"), null);
    assert.equal(nodeVersionWarning(await detectProject(project({})), "22.16.0"), null);
  });
});

describe("tools on this machine", () => {
  const PATH = process.env.PATH ?? "/usr/bin:/bin";

  it("finds node and npm (real processes) and null for a missing tool", async () => {
    const { versions: v, timedOut } = await toolVersions(["node", "npm", "kiln-no-such-tool"], { PATH });
    assert.deepEqual(timedOut, []);
    assert.equal(v.node, process.version.slice(1));
    assert.match(v.npm ?? "", /^\d+\.\d+\.\d+/);
    assert.equal(v["kiln-no-such-tool"], null);
  });

  it("uses only the PATH given (an empty PATH finds nothing); names that are not plain words are refused", async () => {
    const { versions: v } = await toolVersions(["node", "../node", "node --eval"], { PATH: "/nonexistent" });
    assert.deepEqual(v, { node: null, "../node": null, "node --eval": null });
  });

  it("a tool that fails is null", async () => {
    const bin = project({});
    fs.writeFileSync(path.join(bin, "pnpm"), "#!/bin/sh\necho broken >&2\nexit 3\n", { mode: 0o755 });
    fs.writeFileSync(path.join(bin, "yarn"), "#!/bin/sh\necho 1.22.22\n", { mode: 0o755 });
    const v = await toolVersions(["pnpm", "yarn"], { PATH: bin });
    assert.deepEqual(v, { versions: { pnpm: null, yarn: "1.22.22" }, timedOut: [] });
  });

  it("a tool that hangs is null after the timeout, and said to have timed out", async () => {
    const bin = project({});
    fs.writeFileSync(path.join(bin, "bun"), "#!/bin/sh\nexec sleep 30\n", { mode: 0o755 });
    const started = Date.now();
    const v = await toolVersions(["bun", "node"], { PATH: `${bin}:/usr/bin:/bin` }, 300);
    assert.equal(v.versions.bun, null);
    assert.deepEqual(v.timedOut, ["bun"]);
    assert.ok(Date.now() - started < 5000);
    assert.equal(
      probeTimeoutLine("bun", 15_000),
      "Failed: `bun --version` did not answer within 15 s on this build machine (it is overloaded, or the tool hangs)",
    );
  });

  it("the Detected… line: package manager first, then nodejs without v", async () => {
    assert.equal(detectedToolsLine("npm", { node: "v22.16.0", npm: "10.9.2" }), "Detected the following tools from environment: npm@10.9.2, nodejs@22.16.0");
    assert.equal(detectedToolsLine("pnpm", { pnpm: "10.11.1", node: "22.16.0" }), "Detected the following tools from environment: pnpm@10.11.1, nodejs@22.16.0");
    const real = (await toolVersions(["node", "npm"], { PATH })).versions;
    assert.match(detectedToolsLine("npm", real), /^Detected the following tools from environment: npm@\d+\.\d+\.\d+\S*, nodejs@\d+\.\d+\.\d+$/);
  });

  it("missing package manager line names why it is required", async () => {
    assert.equal(
      missingToolLine(await detectProject(project({ "package.json": PKG, "pnpm-lock.yaml": "" }))),
      "Failed: pnpm is required by this project (pnpm-lock.yaml) but is not installed on this build machine",
    );
    assert.equal(
      missingToolLine(await detectProject(project({ "package.json": pkgWith("bun@1.2.15") }))),
      'Failed: bun is required by this project (package.json "packageManager": "bun@1.2.15") but is not installed on this build machine',
    );
  });

  it("pinned manager version warning", async () => {
    const t = await detectProject(project({ "package.json": pkgWith("npm@11.19.1") }));
    assert.equal(managerVersionWarning(t, "11.19.1"), null);
    assert.equal(managerVersionWarning(t, "10.9.2"), "Warning: package.json pins npm@11.19.1 but this build machine has npm@10.9.2; continuing with 10.9.2");
  });
});

describe("detectProject: files the build chose (read as root)", () => {
  const isRoot = process.getuid?.() === 0;
  /** Asserts detection answered within a second and the RSS grew by less than 32 MB. */
  async function detectQuickly(dir: string, opts: Parameters<typeof detectProject>[2] = {}) {
    const rss = process.memoryUsage().rss;
    const started = performance.now();
    const tools = await detectProject(dir, {}, opts);
    const ms = performance.now() - started;
    assert.ok(ms < 1000, `took ${ms.toFixed(0)} ms`);
    assert.ok(process.memoryUsage().rss - rss < 32 * 1024 * 1024, "RSS grew by 32 MB or more");
    return tools;
  }

  it("package.json and .nvmrc as FIFOs with no writer: absent, at once", async () => {
    const dir = project({});
    execFileSync("mkfifo", [path.join(dir, "package.json"), path.join(dir, ".nvmrc"), path.join(dir, "pnpm-lock.yaml")]);
    const t = await detectQuickly(dir);
    assert.equal(t.hasPackageJson, false);
    assert.equal(t.nodeVersion, null);
    assert.deepEqual(t.lockfiles, []);
  });

  it("symlinks to /dev/zero: absent, nothing read", async () => {
    const dir = project({});
    for (const name of ["package.json", ".nvmrc", ".node-version", "package-lock.json"]) fs.symlinkSync("/dev/zero", path.join(dir, name));
    const t = await detectQuickly(dir);
    assert.equal(t.hasPackageJson, false);
    assert.equal(t.nodeVersion, null);
    assert.deepEqual(t.lockfiles, []);
  });

  it(".nvmrc as a symlink to a root-only file: its first line never reaches the warning (the log)", async () => {
    const secretDir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-tools-secret-"));
    roots.push(secretDir);
    fs.chmodSync(secretDir, 0o700);
    fs.writeFileSync(path.join(secretDir, "shadow"), "root:$6$secret-hash:20000:0:99999:7:::\n", { mode: 0o600 });
    const dir = project({ "package.json": PKG });
    fs.symlinkSync(path.join(secretDir, "shadow"), path.join(dir, ".nvmrc"));
    const t = await detectQuickly(dir);
    assert.equal(t.nodeVersion, null);
    assert.equal(nodeVersionWarning(t, "22.0.0"), null);
  });

  it("10 GiB sparse package.json, lockfile and .nvmrc: package.json and .nvmrc absent (over 4 MiB), the lockfile present (not read)", async () => {
    const dir = project({});
    for (const name of ["package.json", ".nvmrc", "yarn.lock"]) execFileSync("truncate", ["-s", "10G", path.join(dir, name)]);
    const t = await detectQuickly(dir);
    assert.equal(t.hasPackageJson, false);
    assert.equal(t.nodeVersion, null);
    assert.deepEqual(t.lockfiles, ["yarn.lock"]);
  });

  it("a root directory that is a symlink out of the checkout: nothing is read there", async () => {
    const outside = project({ "package.json": pkgWith("pnpm@9.0.0"), ".nvmrc": "18" });
    const checkout = project({});
    fs.symlinkSync(outside, path.join(checkout, "app"));
    const t = await detectQuickly(path.join(checkout, "app"), { within: checkout });
    assert.equal(t.hasPackageJson, false);
    assert.equal(t.nodeVersion, null);
    // The same directory as a real one is read.
    fs.rmSync(path.join(checkout, "app"));
    fs.cpSync(outside, path.join(checkout, "app"), { recursive: true });
    const real = await detectProject(path.join(checkout, "app"), {}, { within: checkout });
    assert.equal(real.packageManager, "pnpm");
    assert.equal(real.nodeVersion, "18");
  });

  it("a hard link to a root-owned file, the build's uid known: absent", { skip: isRoot ? false : "needs root" }, async () => {
    const dir = project({});
    const other = project({ "package.json": pkgWith("yarn@1.22.0") });
    fs.linkSync(path.join(other, "package.json"), path.join(dir, "package.json"));
    assert.equal((await detectQuickly(dir, { ownerUid: 65534 })).hasPackageJson, false);
    assert.equal((await detectQuickly(dir)).hasPackageJson, true);
  });
});

describe("toolVersions: stopped with the build", () => {
  it("an abort kills a probe that hangs and answers null at once", async () => {
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-tools-bin-"));
    roots.push(bin);
    fs.writeFileSync(path.join(bin, "hangs"), "#!/bin/sh\nexec sleep 30\n", { mode: 0o755 });
    const controller = new AbortController();
    setTimeout(() => controller.abort("cancelled"), 100);
    const started = performance.now();
    const v = await toolVersions(["hangs"], { PATH: bin }, 10_000, controller.signal);
    assert.deepEqual(v, { versions: { hangs: null }, timedOut: [] });
    assert.ok(performance.now() - started < 1000);
  });
});

/**
 * Build tools through real builds (API, runner, sandbox), installed by Kiln from an npm registry
 * on loopback (test/helpers/npm-registry.ts): Cloudflare's log lines, the installed `node` and
 * package manager first on the build's PATH, one download however many builds ask at once, a
 * missing version and a registry that is down failing the build with a line saying so.
 *
 * Real pnpm, yarn and bun from the public registry: package-managers.test.ts (npm run test:long).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { detectSandbox } from "../../src/runner/sandbox.ts";
import { packageOf } from "../../src/runner/toolchain.ts";
import { bwrapArgs, INSIDE_TOOLS, TOOLS_STAGE } from "../../src/runner/bwrap-args.ts";
import { allLogs, setupTrigger, startBuild, waitForStatus, type BuildSetup } from "../helpers/builds.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";
import { startHarness, type Harness } from "../helpers/harness.ts";
import { fakeBinFiles, fakeNodeFiles, hostNpmDir, refusedUrl, startNpmRegistry, startSilentServer, type NpmRegistry } from "../helpers/npm-registry.ts";

const NODE = packageOf("node").name;
const detected = await detectSandbox();
const npmVersion = (JSON.parse(fs.readFileSync(path.join(hostNpmDir(), "package.json"), "utf8")) as { version: string }).version;

async function run(h: Harness, s: BuildSetup, timeoutMs = 120_000) {
  const uuid = await startBuild(h, s);
  const b = await waitForStatus(h, s, uuid, "stopped", timeoutMs);
  return { uuid, b, t: (await allLogs(h, s, uuid)).lines.map(([, text]) => text) };
}

/** The log's lines from `first` to the first line matching `last`, inclusive. */
function between(t: string[], first: RegExp, last: RegExp): string[] {
  const i = t.findIndex((l) => first.test(l));
  assert.ok(i >= 0, `no ${first} in:\n${t.join("\n")}`);
  const j = t.findIndex((l, k) => k >= i && last.test(l));
  assert.ok(j >= 0, `no ${last} after ${first} in:\n${t.join("\n")}`);
  return t.slice(i, j + 1);
}

const DOWNLOADED = (tool: string, version: string) => new RegExp(`^Downloaded ${tool} ${version.replaceAll(".", "\\.")} \\(\\d+(\\.\\d)? (B|kB|MB|GB) in \\d+\\.\\d\\ds\\)$`);

describe(`build tools from a registry on loopback (${detected.mode})`, () => {
  let h: Harness;
  let reg: NpmRegistry;
  let repo: TestRepo;
  let npmRepo: TestRepo;
  let monoRepo: TestRepo;
  before(async () => {
    reg = await startNpmRegistry();
    for (const v of ["22.98.0", "22.99.0", "23.1.0", "23.2.0"]) reg.publish(NODE, v, fakeNodeFiles(v));
    reg.publish(packageOf("bun").name, "1.99.3", { ...fakeBinFiles("bin/bun", "1.99.3") });
    reg.publish("npm", npmVersion, { "": { copy: hostNpmDir() } });
    reg.publish("pnpm", "10.99.1", { ...fakeBinFiles("bin/pnpm.cjs", "10.99.1"), ...fakeBinFiles("bin/pnpx.cjs", "10.99.1") });
    reg.publish("pnpm", "10.99.2", fakeBinFiles("bin/pnpm.cjs", "10.99.2"), { corrupt: true });
    repo = makeRepo({
      name: "tools-app",
      files: {
        ".nvmrc": "22\n",
        "package.json": JSON.stringify({ name: "tools-app", private: true, packageManager: "pnpm@10.99.1" }),
        "pnpm-lock.yaml": "lockfileVersion: '9.0'\n",
      },
    });
    // Beside it (the same URL template): an npm project.
    npmRepo = makeRepo({ name: "npm-app", dir: repo.dir, files: { "package.json": JSON.stringify({ name: "npm-app", private: true }) } });
    monoRepo = makeRepo({
      name: "mono-app",
      dir: repo.dir,
      files: { ".nvmrc": "23\n", "package.json": JSON.stringify({ name: "mono", private: true }), "site/.node-version": "v22.99\n", "site/package.json": JSON.stringify({ name: "site", private: true }) },
    });
    h = await startHarness("sqlite", {}, {
      runner: true,
      gitUrlTemplate: repo.template,
      slots: 4,
      buildTools: "registry",
      npmRegistry: reg.url,
      defaultTools: `node@22.98.0,npm@${npmVersion}`,
    });
  });
  after(async () => {
    await h?.close();
    await reg?.close();
    npmRepo?.cleanup();
    monoRepo?.cleanup();
    repo?.cleanup();
  });

  it("installs what .nvmrc and packageManager ask for, says so as Cloudflare does, and puts it first on PATH; the next build restores it", async () => {
    const s = await setupTrigger(h, repo, { build: 'node --version && pnpm --version && npm --version && echo "PATH=$PATH"' }, "nvmrc");
    const { b, t } = await run(h, s);
    assert.equal(b.build_outcome, "success", t.join("\n"));
    const tools = between(t, /^Installing nodejs/, /^Detected the following tools/);
    assert.equal(tools.length, 6, tools.join("\n"));
    assert.equal(tools[0], "Installing nodejs 22.99.0");
    assert.match(tools[1] ?? "", DOWNLOADED("nodejs", "22.99.0"));
    // npm is the default's: downloaded without an "Installing" line (Cloudflare's image has it already).
    assert.match(tools[2] ?? "", DOWNLOADED("npm", npmVersion));
    assert.equal(tools[3], "Installing pnpm 10.99.1");
    assert.match(tools[4] ?? "", DOWNLOADED("pnpm", "10.99.1"));
    assert.equal(tools[5], "Detected the following tools from environment: pnpm@10.99.1, nodejs@22.99.0");
    assert.ok(t.includes("Installing project dependencies: pnpm install --frozen-lockfile"), t.join("\n"));
    assert.ok(t.includes("fake install --frozen-lockfile"), "the installed pnpm ran the install step");
    const built = t.slice(t.findIndex((l) => l.startsWith("Executing user build command: ")));
    for (const line of ["v22.99.0", "10.99.1", npmVersion]) assert.ok(built.includes(line), `${line} in:\n${t.join("\n")}`);
    const pathLine = t.find((l) => l.startsWith("PATH=")) ?? "";
    const tools0 = detected.mode === "bubblewrap" ? "/opt/kiln/tools" : path.join(h.db.dataDir, "tools");
    assert.ok(pathLine.startsWith(`PATH=${tools0}/node/22.99.0/bin:${tools0}/npm/${npmVersion}/bin:${tools0}/pnpm/10.99.1/bin:`), pathLine);

    const again = await run(h, s);
    assert.equal(again.b.build_outcome, "success", again.t.join("\n"));
    assert.deepEqual(between(again.t, /^Installing nodejs/, /^Detected the following tools/), [
      "Installing nodejs 22.99.0",
      "Restored nodejs 22.99.0 from the tool cache",
      "Installing pnpm 10.99.1",
      "Restored pnpm 10.99.1 from the tool cache",
      "Detected the following tools from environment: pnpm@10.99.1, nodejs@22.99.0",
    ]);
    assert.equal(reg.tarballGets(NODE, "22.99.0"), 1);
    assert.equal(reg.tarballGets("pnpm", "10.99.1"), 1);
  });

  it("BUN_VERSION in an npm project brings bun too, first on PATH after Node.js and npm", async () => {
    const s = await setupTrigger(h, npmRepo, { build: 'bun --version && echo "PATH=$PATH"', env: { BUN_VERSION: { is_secret: false, value: "v1.99" } } }, "extra-bun");
    const { b, t } = await run(h, s);
    assert.equal(b.build_outcome, "success", t.join("\n"));
    const tools = between(t, /^Installing bun/, /^Detected the following tools/);
    assert.equal(tools[0], "Installing bun 1.99.3");
    assert.match(tools[1] ?? "", DOWNLOADED("bun", "1.99.3"));
    assert.match(tools[2] ?? "", /^Detected the following tools from environment: npm@[\d.]+, nodejs@22\.98\.0$/);
    assert.ok(t.includes("Installing project dependencies: npm install --progress=false"), t.join("\n"));
    assert.ok(t.includes("1.99.3"), t.join("\n"));
    const view = detected.mode === "bubblewrap" ? "/opt/kiln/tools" : path.join(h.db.dataDir, "tools");
    const pathLine = t.find((l) => l.startsWith("PATH=")) ?? "";
    assert.ok(pathLine.startsWith(`PATH=${view}/node/22.98.0/bin:${view}/npm/${npmVersion}/bin:${view}/bun/1.99.3/bin:`), pathLine);
  });

  it(".node-version is read in the trigger's root directory, not the repository's top", async () => {
    const s = await setupTrigger(h, monoRepo, { build: "node --version" }, "mono");
    const patched = await h.call("PATCH", `/client/v4/accounts/${s.accountId}/builds/triggers/${s.triggerUuid}`, { token: s.write, body: { root_directory: "/site" } });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    const { b, t } = await run(h, s);
    assert.equal(b.build_outcome, "success", t.join("\n"));
    assert.ok(t.includes("Installing nodejs 22.99.0"), t.join("\n"));
    assert.ok(!t.some((l) => /nodejs 23\./.test(l)), t.join("\n"));
    assert.ok(t.includes("v22.99.0"), t.join("\n"));
    assert.ok(t.includes(`Detected the following tools from environment: npm@${npmVersion}, nodejs@22.99.0`), t.join("\n"));
  });

  it("the build cannot change the tool cache", { skip: detected.mode === "bubblewrap" ? false : "bubblewrap is not available here" }, async () => {
    const s = await setupTrigger(h, repo, { build: 'for f in "$(command -v node)" /opt/kiln/tools/node/22.99.0/bin/node; do if echo x >> "$f"; then echo "CHANGED $f"; else echo "REFUSED $f"; fi; done; touch /opt/kiln/tools/node/22.99.0/x && echo CHANGED dir || echo REFUSED dir' }, "tamper");
    const { b, t } = await run(h, s);
    assert.equal(b.build_outcome, "success", t.join("\n"));
    assert.equal(t.filter((l) => l.startsWith("CHANGED")).length, 0, t.join("\n"));
    assert.equal(t.filter((l) => l.startsWith("REFUSED")).length, 3, t.join("\n"));
    assert.equal(fs.existsSync(path.join(h.db.dataDir, "tools", "node", "22.99.0", "x")), false);
    assert.equal(fs.readFileSync(path.join(h.db.dataDir, "tools", "node", "22.99.0", "pkg", "bin", "node"), "utf8"), fakeNodeFiles("22.99.0")["bin/node"]?.text);
  });

  it("two builds asking for one version at once download it once", async () => {
    const a = await setupTrigger(h, repo, { build: "node --version", env: { NODE_VERSION: { is_secret: false, value: "23" } } }, "twin-a");
    const b = await setupTrigger(h, repo, { build: "node --version", env: { NODE_VERSION: { is_secret: false, value: "v23.2" } } }, "twin-b");
    const [ra, rb] = await Promise.all([run(h, a), run(h, b)]);
    for (const r of [ra, rb]) {
      assert.equal(r.b.build_outcome, "success", r.t.join("\n"));
      assert.ok(r.t.includes("Installing nodejs 23.2.0"), r.t.join("\n"));
      assert.ok(r.t.includes("v23.2.0"), r.t.join("\n"));
    }
    assert.equal(reg.tarballGets(NODE, "23.2.0"), 1, "one tarball GET for two builds");
    const said = [ra, rb].map((r) => r.t.find((l) => /^(Downloaded|Restored) nodejs 23\.2\.0/.test(l)) ?? "");
    assert.equal(said.filter((l) => l.startsWith("Downloaded")).length, 1, said.join("\n"));
    assert.equal(said.filter((l) => l === "Restored nodejs 23.2.0 from the tool cache").length, 1, said.join("\n"));
  });

  it("a tarball that does not match dist.integrity fails the build with a line saying so", async () => {
    const s = await setupTrigger(h, repo, { build: "echo SHOULD-NOT-RUN", env: { PNPM_VERSION: { is_secret: false, value: "10.99.2" } } }, "corrupt");
    const { b, t } = await run(h, s);
    assert.equal(b.build_outcome, "fail");
    assert.deepEqual(t.slice(-2), ["Installing pnpm 10.99.2", `Failed: error occurred while installing tools: pnpm 10.99.2 (pnpm@10.99.2): the downloaded tarball does not match its dist.integrity (${reg.url})`]);
    assert.equal(fs.existsSync(path.join(h.db.dataDir, "tools", "pnpm", "10.99.2")), false);
  });

  it("a version that does not exist fails the build with a line naming it", async () => {
    const s = await setupTrigger(h, repo, { build: "echo SHOULD-NOT-RUN", env: { NODE_VERSION: { is_secret: false, value: "21" } } }, "missing");
    const { b, t } = await run(h, s);
    assert.equal(b.build_outcome, "fail");
    assert.equal(t.at(-1), `Failed: error occurred while installing tools: nodejs 21 does not exist (no version of ${NODE} in ${reg.url} matches it)`);
    assert.ok(!t.includes("SHOULD-NOT-RUN"));
  });
});

describe("build tools from a registry that needs credentials", () => {
  const token = `npm_${"priv4te".repeat(6)}`;
  const saved = process.env.npm_config_userconfig;
  const logs: string[] = [];
  let h: Harness;
  let reg: NpmRegistry;
  let repo: TestRepo;
  let home: string;
  before(async () => {
    reg = await startNpmRegistry({ token });
    reg.publish(NODE, "22.98.0", fakeNodeFiles("22.98.0"));
    reg.publish("npm", npmVersion, { "": { copy: hostNpmDir() } });
    // npm's own config holds the credentials, per registry, as `npm login` writes them.
    home = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-test-npmrc-"));
    fs.writeFileSync(path.join(home, ".npmrc"), `//${new URL(reg.url).host}/:_authToken=${token}\n`);
    process.env.npm_config_userconfig = path.join(home, ".npmrc");
    repo = makeRepo({ name: "private-app", files: { "package.json": JSON.stringify({ name: "private-app", private: true }) } });
    h = await startHarness("sqlite", {}, { runner: true, gitUrlTemplate: repo.template, buildTools: "registry", npmRegistry: reg.url, defaultTools: `node@22.98.0,npm@${npmVersion}` }, { logs });
  });
  after(async () => {
    await h?.close();
    await reg?.close();
    repo?.cleanup();
    if (saved === undefined) delete process.env.npm_config_userconfig;
    else process.env.npm_config_userconfig = saved;
    if (home) fs.rmSync(home, { recursive: true, force: true });
  });

  it("--npm-registry with npm's credentials for it: installed, and the token is in no log and not in the build's environment", async () => {
    const s = await setupTrigger(h, repo, { build: "env | sort; if [ -e ~/.npmrc ]; then cat ~/.npmrc; else echo NO-NPMRC; fi; node --version" }, "private");
    const { b, t } = await run(h, s);
    assert.equal(b.build_outcome, "success", t.join("\n"));
    assert.match(t.find((l) => l.startsWith("Downloaded nodejs")) ?? "", DOWNLOADED("nodejs", "22.98.0"));
    assert.ok(!t.some((l) => l.startsWith("Installing nodejs")), "the default version: no Installing line");
    assert.ok(t.includes("v22.98.0"), t.join("\n"));
    assert.ok(t.includes("NO-NPMRC"), "the runner's npm config stays out of the build");
    assert.deepEqual([...new Set(reg.authorizations())], [`Bearer ${token}`], "every request carried npm's token");
    assert.ok(logs.length > 0);
    for (const line of [...t, ...logs]) assert.ok(!line.includes(token), `the token in: ${line}`);
  });

  it("credentials the registry refuses: the build fails with a line saying so, without them", async () => {
    fs.writeFileSync(path.join(home, ".npmrc"), `//${new URL(reg.url).host}/:_authToken=stale-${token}\n`);
    // A new runner reads npm's config afresh (the server above read it once, at its first build).
    const other = await startHarness("sqlite", {}, { runner: true, gitUrlTemplate: repo.template, buildTools: "registry", npmRegistry: reg.url, defaultTools: "node@22" }, { logs });
    try {
      const s = await setupTrigger(other, repo, { build: "echo SHOULD-NOT-RUN" }, "refused");
      const { b, t } = await run(other, s);
      assert.equal(b.build_outcome, "fail");
      assert.equal(t.at(-1), `Failed: error occurred while installing tools: nodejs 22 (${NODE}): the npm registry ${reg.url} refused access (E401); its credentials come from npm's config (.npmrc)`);
      for (const line of [...t, ...logs]) assert.ok(!line.includes(token), `the token in: ${line}`);
    } finally {
      await other.close();
    }
  });
});

describe("bwrap arguments of build tools", () => {
  it("each tool directory is bound read-only from the staged cache at /opt/kiln/tools", () => {
    const args = bwrapArgs(
      {
        root: "/",
        stage: { repo: "/s/repo", home: "/s/home", tmp: "/s/tmp" },
        files: { passwd: 8, group: 9, hosts: 10 },
        statusFd: 4,
        env: {},
        cwd: "/opt/buildhome/repo",
        hostname: "h",
        shareNet: false,
        shmBytes: 1,
        tools: [{ from: `${TOOLS_STAGE}/node/22.16.0`, to: `${INSIDE_TOOLS}/node/22.16.0` }],
      },
      { files: [], dirs: [] },
    );
    const i = args.indexOf(`${TOOLS_STAGE}/node/22.16.0`);
    assert.deepEqual(args.slice(i - 1, i + 2), ["--ro-bind", "/run/kiln-tools/node/22.16.0", "/opt/kiln/tools/node/22.16.0"]);
    // After the repository's bind, so nothing the build can write covers it.
    assert.ok(i > args.indexOf("/opt/buildhome/repo"));
  });
});

describe("build tools when the registry is down", () => {
  let repo: TestRepo;
  before(() => {
    repo = makeRepo({ name: "down-app", files: { "package.json": JSON.stringify({ name: "down-app", private: true }) } });
  });
  after(() => repo?.cleanup());

  it("connection refused: the build fails with a line saying so", async () => {
    const url = await refusedUrl();
    const h = await startHarness("sqlite", {}, { runner: true, gitUrlTemplate: repo.template, buildTools: "registry", npmRegistry: url, defaultTools: "node@22" });
    try {
      const s = await setupTrigger(h, repo, { build: "echo SHOULD-NOT-RUN" }, "refused");
      const { b, t } = await run(h, s);
      assert.equal(b.build_outcome, "fail");
      assert.equal(t.at(-1), `Failed: error occurred while installing tools: nodejs 22 (${NODE}): the npm registry ${url} could not be reached (ECONNREFUSED)`);
    } finally {
      await h.close();
    }
  });

  it("a registry that never answers: the cancel ends the build at once", async () => {
    const silent = await startSilentServer();
    const h = await startHarness("sqlite", {}, { runner: true, gitUrlTemplate: repo.template, buildTools: "registry", npmRegistry: silent.url, defaultTools: "node@22", cancelGrace: 1 });
    try {
      const s = await setupTrigger(h, repo, { build: "echo SHOULD-NOT-RUN" }, "silent");
      const uuid = await startBuild(h, s);
      for (let i = 0; i < 400 && silent.connections() === 0; i++) await new Promise((r) => setTimeout(r, 25));
      assert.ok(silent.connections() > 0, "the runner asked the registry");
      const t0 = Date.now();
      const cancel = await h.call("PUT", `/client/v4/accounts/${s.accountId}/builds/builds/${uuid}/cancel`, { token: s.write });
      assert.equal(cancel.status, 200, JSON.stringify(cancel.body));
      const b = await waitForStatus(h, s, uuid, "stopped", 10_000);
      assert.equal(b.build_outcome, "cancelled");
      assert.ok(Date.now() - t0 < 5000, `stopped ${Date.now() - t0} ms after the cancel`);
    } finally {
      await h.close();
      await silent.close();
    }
  });
});

/**
 * pnpm, Yarn Berry, Yarn 1 and bun end to end, with the public npm registry (npm run test:long
 * only): Kiln installs the package manager into its tool cache, the install step runs it for real
 * in the sandbox against a committed lockfile, the build requires the installed dependency, and
 * the build cache saves and restores the manager's cache directory (build-cache.ts cacheDirFor).
 *
 * Each lockfile is made by the same package manager from Kiln's tool cache, on the host, before
 * the repository is committed (a lockfile is the manager's own format).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { CLOUDFLARE_DEFAULT_TOOLS, type ToolName } from "../../src/domain/build-image.ts";
import { ToolCache, toolsDir } from "../../src/runner/toolchain.ts";
import { allLogs, setupTrigger, startBuild, waitForStatus, type BuildSetup } from "../helpers/builds.ts";
import { tempDir } from "../helpers/databases.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";
import { startHarness, type Harness } from "../helpers/harness.ts";

const LONG = process.env.KILN_TEST_LONG === "1";
const SKIP = LONG ? false : "runs in npm run test:long (needs the npm registry)";
/** The machine's extra CA certificates (a TLS-inspecting proxy), for the managers on the host and in the build. */
const CA: Record<string, string> = process.env.NODE_EXTRA_CA_CERTS ? { NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS } : {};

interface Case {
  name: string;
  tool: Exclude<ToolName, "node" | "npm">;
  version: string;
  /** Files besides package.json. */
  files: Record<string, string>;
  packageManager?: string;
  /** Makes the lockfile, run on the host in the project directory. */
  lock: string[];
  lockfile: string;
  install: string;
}

const CASES: Case[] = [
  { name: "pnpm", tool: "pnpm", version: CLOUDFLARE_DEFAULT_TOOLS.pnpm, files: {}, lock: ["install", "--lockfile-only"], lockfile: "pnpm-lock.yaml", install: "pnpm install --frozen-lockfile" },
  {
    name: "yarn-berry",
    tool: "yarn",
    version: CLOUDFLARE_DEFAULT_TOOLS.yarn,
    files: { ".yarnrc.yml": "nodeLinker: node-modules\n" },
    lock: ["install", "--mode=update-lockfile"],
    lockfile: "yarn.lock",
    install: "yarn install --immutable",
  },
  { name: "yarn-classic", tool: "yarn", version: "1.22.22", packageManager: "yarn@1.22.22", files: {}, lock: ["install", "--ignore-scripts"], lockfile: "yarn.lock", install: "yarn install --frozen-lockfile" },
  { name: "bun", tool: "bun", version: CLOUDFLARE_DEFAULT_TOOLS.bun, files: {}, lock: ["install", "--lockfile-only"], lockfile: "bun.lock", install: "bun install --frozen-lockfile" },
];

describe("package managers end to end (public npm registry)", { skip: SKIP }, () => {
  let h: Harness;
  let repoDir: string;
  const repos: TestRepo[] = [];
  before(async () => {
    repoDir = tempDir("kiln-test-pm-repos-");
    h = await startHarness("sqlite", {}, { runner: true, gitUrlTemplate: `file://${repoDir}/{repo_name}.git`, buildTools: "registry", buildTimeout: 600 });
  });
  after(async () => {
    await h?.close();
    for (const r of repos) r.cleanup();
    fs.rmSync(repoDir, { recursive: true, force: true });
  });

  for (const c of CASES) {
    it(`${c.name}: ${c.install} with ${c.tool}@${c.version} from the tool cache; the build cache restores its store`, { skip: SKIP, timeout: 900_000 }, async () => {
      const pkg = { name: `kiln-${c.name}`, private: true, version: "1.0.0", dependencies: { "is-number": "7.0.0" }, ...(c.packageManager ? { packageManager: c.packageManager } : {}) };
      // The lockfile, by the same manager (Kiln's copy, in the data dir's tool cache), in a scratch dir.
      const cache = new ToolCache({ dir: toolsDir(h.db.dataDir) });
      const node = await cache.ensure("node", await cache.resolve("node", CLOUDFLARE_DEFAULT_TOOLS.node));
      const pm = await cache.ensure(c.tool, await cache.resolve(c.tool, c.version));
      const work = tempDir("kiln-test-pm-lock-");
      try {
        fs.writeFileSync(path.join(work, "package.json"), JSON.stringify(pkg));
        for (const [name, text] of Object.entries(c.files)) fs.writeFileSync(path.join(work, name), text);
        // An empty lockfile marks the directory as a project of its own for Yarn 2+ (whatever lies above it).
        if (c.tool === "yarn") fs.writeFileSync(path.join(work, "yarn.lock"), "");
        const env = { PATH: `${path.join(node.dir, "bin")}:${path.join(pm.dir, "bin")}:/usr/bin:/bin`, HOME: work, YARN_ENABLE_IMMUTABLE_INSTALLS: "false", ...CA };
        execFileSync(path.join(pm.dir, "bin", c.tool), c.lock, { cwd: work, env, stdio: ["ignore", "pipe", "pipe"], timeout: 300_000 });
        assert.ok(fs.existsSync(path.join(work, c.lockfile)), `${c.lockfile} made`);
        const repo = makeRepo({ name: c.name, dir: repoDir, files: { "package.json": JSON.stringify(pkg, null, 2), ...c.files, [c.lockfile]: fs.readFileSync(path.join(work, c.lockfile), "utf8") } });
        repos.push(repo);
      } finally {
        await node.release();
        await pm.release();
        fs.rmSync(work, { recursive: true, force: true });
      }
      const s: BuildSetup = await setupTrigger(h, repos.at(-1) as TestRepo, {
        build: `node -e "console.log('IS-NUMBER', require('is-number')(5))" && ${c.tool} --version`,
        env: Object.fromEntries(Object.entries(CA).map(([k, v]) => [k, { is_secret: false, value: v }])),
      }, c.name);
      const patched = await h.call("PATCH", `/client/v4/accounts/${s.accountId}/builds/triggers/${s.triggerUuid}`, { token: s.write, body: { build_caching_enabled: true } });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      const texts = async (uuid: string) => (await allLogs(h, s, uuid)).lines.map(([, t]) => t);

      const first = await startBuild(h, s);
      const b1 = await waitForStatus(h, s, first, "stopped", 600_000);
      const t1 = await texts(first);
      assert.equal(b1.build_outcome, "success", t1.join("\n"));
      assert.ok(t1.includes(`Detected the following tools from environment: ${c.tool}@${c.version}, nodejs@${CLOUDFLARE_DEFAULT_TOOLS.node}`), t1.join("\n"));
      assert.ok(t1.includes(`Installing project dependencies: ${c.install}`), t1.join("\n"));
      assert.ok(t1.includes("IS-NUMBER true"), t1.join("\n"));
      // @yarnpkg/cli-dist 4.9.1 calls itself "4.9.1-git.20250411.hash-1908ee79f".
      assert.ok(t1.some((l) => l === c.version || l.startsWith(`${c.version}-git.`)), `${c.tool} --version prints ${c.version}:\n${t1.join("\n")}`);
      assert.ok(t1.includes("Success: Dependencies cache saved."), t1.join("\n"));

      const second = await startBuild(h, s);
      const b2 = await waitForStatus(h, s, second, "stopped", 600_000);
      const t2 = await texts(second);
      assert.equal(b2.build_outcome, "success", t2.join("\n"));
      assert.ok(t2.includes("Success: Dependencies restored from build cache."), t2.join("\n"));
      assert.ok(t2.includes("IS-NUMBER true"), t2.join("\n"));
    });
  }
});

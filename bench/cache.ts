/**
 * The build cache: second-build time of an npm project with and without `build_caching_enabled`,
 * measured in the same run. Dependencies come from local tarballs (no network): three packages
 * of ~270 KB each, installed by the automatic `npm clean-install` step.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { setupTrigger, startBuild, waitForStatus } from "../test/helpers/builds.ts";
import { makeRepo, type FileChanges } from "../test/helpers/git-repos.ts";
import { startHarness } from "../test/helpers/harness.ts";

const ROUNDS = Number(process.env.BENCH_CACHE_ROUNDS ?? 5);

export function npmProject(): FileChanges {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-cache-bench-"));
  const files: FileChanges = {};
  const deps: Record<string, string> = {};
  for (const name of ["alpha", "beta", "gamma"]) {
    const src = path.join(dir, name);
    fs.mkdirSync(src, { recursive: true });
    fs.writeFileSync(path.join(src, "package.json"), JSON.stringify({ name, version: "1.0.0", main: "index.js" }));
    fs.writeFileSync(path.join(src, "index.js"), `module.exports = ${JSON.stringify(name)};\n`);
    fs.writeFileSync(path.join(src, "data.txt"), Buffer.alloc(270_000, name));
    execFileSync("npm", ["pack", "--silent", "--pack-destination", dir], { cwd: src, stdio: "ignore" });
    const tgz = `${name}-1.0.0.tgz`;
    files[`vendor/${tgz}`] = fs.readFileSync(path.join(dir, tgz));
    deps[name] = `file:vendor/${tgz}`;
  }
  const app = path.join(dir, "app");
  fs.mkdirSync(path.join(app, "vendor"), { recursive: true });
  for (const [file, content] of Object.entries(files)) fs.writeFileSync(path.join(app, file), content as Buffer);
  const pkg = JSON.stringify({ name: "app", version: "1.0.0", scripts: { build: "node -e \"require('alpha')\"" }, dependencies: deps }, null, 2);
  fs.writeFileSync(path.join(app, "package.json"), pkg);
  execFileSync("npm", ["install", "--package-lock-only", "--offline", "--no-audit", "--no-fund"], { cwd: app, stdio: "ignore" });
  files["package.json"] = pkg;
  files["package-lock.json"] = fs.readFileSync(path.join(app, "package-lock.json"), "utf8");
  fs.rmSync(dir, { recursive: true, force: true });
  return files;
}

export async function benchCache(): Promise<Record<string, unknown>> {
  const repo = makeRepo({ name: "cache-bench", files: npmProject() });
  const h = await startHarness("sqlite", {}, { runner: true, gitUrlTemplate: repo.template, logLevel: "warn" });
  const results: Record<string, unknown> = {};
  try {
    for (const caching of [false, true]) {
      const s = await setupTrigger(h, repo, { build: "npm run build", deploy: "true" }, caching ? "cached" : "uncached");
      await h.call("PATCH", `/client/v4/accounts/${s.accountId}/builds/triggers/${s.triggerUuid}`, { token: s.write, body: { build_caching_enabled: caching } });
      const first = await waitForStatus(h, s, await startBuild(h, s), "stopped", 120_000);
      if (first.build_outcome !== "success") throw new Error(`first build: ${first.build_outcome}`);
      const times: number[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        const b = await waitForStatus(h, s, await startBuild(h, s), "stopped", 120_000);
        if (b.build_outcome !== "success") throw new Error(`build: ${b.build_outcome}`);
        times.push(Date.parse(b.stopped_on) - Date.parse(b.running_on));
      }
      times.sort((a, b) => a - b);
      const median = times[Math.floor(times.length / 2)] ?? 0;
      results[caching ? "with_cache_ms" : "without_cache_ms"] = { rounds: ROUNDS, median, min: times[0] };
      console.log(`second build ${caching ? "with" : "without"} cache: median ${median} ms over ${ROUNDS} (min ${times[0]} ms)`);
    }
  } finally {
    await h.close();
    repo.cleanup();
  }
  return results;
}

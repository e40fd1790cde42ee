import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { detectConfig, detectPackageManager, normalizeRootDirectory, parseWranglerConfig, workerNames } from "../../src/domain/autofill.ts";
import { dialects } from "../helpers/databases.ts";
import { seedConnection } from "../helpers/fixtures.ts";
import { makeRepo, runGit } from "../helpers/git-repos.ts";
import { errorCodes, startHarness, type Harness } from "../helpers/harness.ts";

const TOML = `name = "toml-worker"
main = "src/index.ts"
compatibility_date = "2025-01-01"

[env.staging]
vars = { A = "1" }

[env.production]
name = "toml-worker-prod"
`;

const JSONC = `// Wrangler config
{
  "name": "jsonc-worker", /* inline */
  "main": "src/index.ts",
  "env": {
    "staging": {},
    "production": { "name": "jsonc-prod", },
  },
}
`;

const pkg = (extra: Record<string, unknown> = {}) => JSON.stringify({ name: "x", scripts: { build: "tsc", deploy: "wrangler deploy" }, ...extra });

describe("autofill detection (pure)", () => {
  it("normalizes root directories and refuses escapes", () => {
    assert.equal(normalizeRootDirectory(undefined), "");
    assert.equal(normalizeRootDirectory("/"), "");
    assert.equal(normalizeRootDirectory(""), "");
    assert.equal(normalizeRootDirectory("./apps/web/"), "apps/web");
    assert.equal(normalizeRootDirectory("/apps//x/../web"), "apps/web");
    assert.equal(normalizeRootDirectory(".."), undefined);
    assert.equal(normalizeRootDirectory("apps/../../etc"), undefined);
    assert.equal(normalizeRootDirectory("a\0b"), undefined);
  });

  it("package manager: packageManager first, then lockfiles, npm by default", () => {
    const files = (...names: string[]) => new Set(names);
    assert.equal(detectPackageManager({ packageManager: "pnpm@9.1.0+sha512.abc" }, files("yarn.lock")), "pnpm");
    assert.equal(detectPackageManager({ packageManager: "cargo@1" }, files("yarn.lock")), "yarn");
    assert.equal(detectPackageManager(undefined, files("bun.lockb", "package-lock.json")), "bun");
    assert.equal(detectPackageManager(undefined, files("uv.lock")), "uv");
    assert.equal(detectPackageManager(undefined, files()), "npm");
  });

  it("worker names: env name, else <name>-<env>; null without envs", () => {
    assert.deepEqual(workerNames(parseWranglerConfig("wrangler.toml", TOML)), {
      default_worker_name: "toml-worker",
      env_worker_names: { staging: "toml-worker-staging", production: "toml-worker-prod" },
    });
    assert.deepEqual(workerNames({ name: "w" }), { default_worker_name: "w", env_worker_names: null });
    assert.deepEqual(workerNames({ env: { a: {}, b: { name: "bee" } } }), { default_worker_name: null, env_worker_names: { b: "bee" } });
    assert.deepEqual(workerNames({ name: 3, env: "nope" }), { default_worker_name: null, env_worker_names: null });
  });

  it("malformed files are absent fields", async () => {
    const answer = await detectConfig({
      files: new Set(["wrangler.json", "package.json"]),
      read: async (name) => (name === "package.json" ? "{ nope" : '{"name": "x",, }'),
    });
    assert.deepEqual(answer, { config_file: "wrangler.json", default_worker_name: null, env_worker_names: null, package_manager: "npm", scripts: null });
  });
});

for (const dialect of dialects()) {
  describe(`${dialect}: config autofill (#9)`, () => {
    let h: Harness;
    let account: string;
    let read: string;
    let reposDir: string;
    const url = (repo: string, query: string, provider = "github") =>
      `/client/v4/accounts/${account}/builds/repos/${provider}/315958746/${repo}/config_autofill${query}`;
    const autofill = (repo: string, query = "?branch=main", token = read) => h.call("GET", url(repo, query), { token });
    const repo = (name: string, files: Record<string, string>, branch = "main") => makeRepo({ dir: reposDir, name, files, branch });

    before(async () => {
      reposDir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-autofill-repos-"));
      h = await startHarness(dialect, {}, { gitUrlTemplate: `file://${reposDir}/{repo_name}.git` });
      account = (await h.account("a")).id;
      read = (await h.token([account], ["Workers CI Read"])).value;

      repo("toml-app", { "wrangler.toml": TOML, "package.json": pkg(), "pnpm-lock.yaml": "lockfileVersion: 9" });
      repo("json-app", { "wrangler.json": JSON.stringify({ name: "json-worker", env: { dev: { name: "json-dev" }, qa: {} } }), "package.json": pkg(), "yarn.lock": "" });
      repo("jsonc-app", { "wrangler.jsonc": JSONC, "wrangler.toml": 'name = "loses"', "package.json": pkg(), "bun.lock": "{}" });
      repo("mono", {
        "package.json": pkg({ packageManager: "pnpm@9.0.0" }),
        "pnpm-lock.yaml": "",
        "apps/web/wrangler.toml": 'name = "web"\n',
        "apps/web/package.json": JSON.stringify({ scripts: { dev: "vite" } }),
        "apps/api/wrangler.jsonc": '{ "name": "api", "env": { "prod": {} } }',
        "apps/api/package.json": JSON.stringify({ scripts: { deploy: "wrangler deploy" }, packageManager: "yarn@4.1.0" }),
        "apps/api/uv.lock": "",
      });
      repo("bare-worker", { "wrangler.toml": 'name = "plain"\n', "src/index.js": "export default {}" });
      repo("broken", { "wrangler.toml": 'name = "unterminated\n[env.x', "package.json": "{ this is not json", "package-lock.json": "{}" });
      repo("trunk-only", { "wrangler.toml": 'name = "t"' }, "trunk");
      for (const lockfile of ["bun.lock", "bun.lockb", "pnpm-lock.yaml", "yarn.lock", "package-lock.json", "uv.lock"]) {
        repo(`lock-${lockfile.replace(/\./g, "-")}`, { "package.json": "{}", [lockfile]: "" });
      }
    });
    after(async () => {
      await h.close();
      fs.rmSync(reposDir, { recursive: true, force: true });
    });

    it("wrangler.toml with environments", async () => {
      const answer = await autofill("toml-app");
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.deepEqual(answer.body.result, {
        config_file: "wrangler.toml",
        default_worker_name: "toml-worker",
        env_worker_names: { staging: "toml-worker-staging", production: "toml-worker-prod" },
        package_manager: "pnpm",
        scripts: { build: "tsc", deploy: "wrangler deploy" },
      });
    });

    it("wrangler.json", async () => {
      const answer = await autofill("json-app");
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.body.result, {
        config_file: "wrangler.json",
        default_worker_name: "json-worker",
        env_worker_names: { dev: "json-dev", qa: "json-worker-qa" },
        package_manager: "yarn",
        scripts: { build: "tsc", deploy: "wrangler deploy" },
      });
    });

    it("wrangler.jsonc with comments and trailing commas, preferred over wrangler.toml", async () => {
      const answer = await autofill("jsonc-app");
      assert.equal(answer.status, 200);
      assert.equal(answer.body.result.config_file, "wrangler.jsonc");
      assert.equal(answer.body.result.default_worker_name, "jsonc-worker");
      assert.deepEqual(answer.body.result.env_worker_names, { staging: "jsonc-worker-staging", production: "jsonc-prod" });
      assert.equal(answer.body.result.package_manager, "bun");
    });

    it("root_directory: each app of a monorepo on its own", async () => {
      const web = await autofill("mono", "?branch=main&root_directory=apps/web");
      assert.equal(web.status, 200);
      assert.deepEqual(web.body.result, {
        config_file: "wrangler.toml",
        default_worker_name: "web",
        env_worker_names: null,
        package_manager: "npm",
        scripts: { dev: "vite" },
      });
      const api = await autofill("mono", `?branch=main&root_directory=${encodeURIComponent("/apps/api/")}`);
      assert.equal(api.status, 200);
      assert.deepEqual(api.body.result, {
        config_file: "wrangler.jsonc",
        default_worker_name: "api",
        env_worker_names: { prod: "api-prod" },
        package_manager: "yarn",
        scripts: { deploy: "wrangler deploy" },
      });
      const top = await autofill("mono", "?branch=main&root_directory=/");
      assert.equal(top.body.result.config_file, null);
      assert.equal(top.body.result.package_manager, "pnpm");
    });

    it("package manager from each lockfile", async () => {
      for (const [lockfile, expected] of [
        ["bun.lock", "bun"],
        ["bun.lockb", "bun"],
        ["pnpm-lock.yaml", "pnpm"],
        ["yarn.lock", "yarn"],
        ["package-lock.json", "npm"],
        ["uv.lock", "uv"],
      ] as const) {
        const answer = await autofill(`lock-${lockfile.replace(/\./g, "-")}`);
        assert.equal(answer.status, 200);
        assert.equal(answer.body.result.package_manager, expected, lockfile);
        assert.deepEqual(answer.body.result.scripts, {}, "a package.json without scripts has none");
      }
    });

    it("no package.json → scripts null and npm", async () => {
      const answer = await autofill("bare-worker");
      assert.deepEqual(answer.body.result, {
        config_file: "wrangler.toml",
        default_worker_name: "plain",
        env_worker_names: null,
        package_manager: "npm",
        scripts: null,
      });
    });

    it("malformed wrangler.toml and package.json → 200 with nulls", async () => {
      const answer = await autofill("broken");
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.deepEqual(answer.body.result, {
        config_file: "wrangler.toml",
        default_worker_name: null,
        env_worker_names: null,
        package_manager: "npm",
        scripts: null,
      });
    });

    // Cloudflare answers a missing branch with 12013 "Invalid query parameter"; Kiln names it.
    it("branch is required → 400 12013 naming the query parameter", async () => {
      for (const [query, problem] of [["", "required"], ["?root_directory=/", "required"], ["?branch=", "must not be empty"]] as const) {
        const answer = await autofill("toml-app", query);
        assert.equal(answer.status, 400, query);
        assert.deepEqual(answer.body.errors, [{ code: 12013, message: `Invalid query parameter: branch: ${problem}` }], query);
      }
    });

    it("root_directory escaping the repository → 400 12013", async () => {
      const answer = await autofill("mono", "?branch=main&root_directory=apps/../..");
      assert.equal(answer.status, 400);
      assert.deepEqual(answer.body.errors, [{ code: 12013, message: "Invalid query parameter: root_directory: must stay inside the repository" }]);
    });

    it("unknown branch, missing directory, unreachable repository, unknown provider → 404 12000", async () => {
      for (const [name, query] of [
        ["toml-app", "?branch=nope"],
        ["toml-app", "?branch=..%2Fmain"],
        ["trunk-only", "?branch=main"],
        ["mono", "?branch=main&root_directory=apps/nope"],
        ["mono", "?branch=main&root_directory=package.json"],
        ["no-such-repo", "?branch=main"],
      ]) {
        const answer = await autofill(name!, query);
        assert.equal(answer.status, 404, `${name}${query}`);
        assert.deepEqual(errorCodes(answer), [12000]);
      }
      const trunk = await autofill("trunk-only", "?branch=trunk");
      assert.equal(trunk.status, 200);
      const unknownProvider = await h.call("GET", url("toml-app", "?branch=main", "bitbucket"), { token: read });
      assert.equal(unknownProvider.status, 404);
      assert.deepEqual(errorCodes(unknownProvider), [12000]);
    });

    it("takes the repository name from the account's connection when there is one", async () => {
      // repo_id 4242 is not a repository name; the connection maps it to toml-app.
      await seedConnection(h, account, { name: "toml-app", id: "4242" });
      const answer = await autofill("4242");
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.result.default_worker_name, "toml-worker");
      // Another account has no such connection: the id stands in for the name, and there is no repository "4242".
      const other = (await h.account("b")).id;
      const otherRead = (await h.token([other], ["Workers CI Read"])).value;
      const elsewhere = await h.call("GET", url("4242", "?branch=main").replace(account, other), { token: otherRead });
      assert.equal(elsewhere.status, 404);
    });

    it("sees a new commit on the branch", async () => {
      const r = repo("moving", { "wrangler.toml": 'name = "v1"' });
      assert.equal((await autofill("moving")).body.result.default_worker_name, "v1");
      r.commit({ "wrangler.toml": 'name = "v2"' }, "rename");
      assert.equal((await autofill("moving")).body.result.default_worker_name, "v2");
    });

    it("read from git objects, never a working tree: a 5 MiB wrangler.toml is not read, a symlink is its target's text", async () => {
      const big = repo("big-config", { "wrangler.toml": `name = "big"\n#${"x".repeat(5 * 1024 * 1024)}\n`, "package.json": pkg() });
      const rss = process.memoryUsage().rss;
      const answer = await autofill("big-config");
      assert.equal(answer.status, 200, JSON.stringify(answer.body).slice(0, 300));
      assert.equal(answer.body.result.config_file, "wrangler.toml");
      assert.equal(answer.body.result.default_worker_name, null);
      assert.deepEqual(answer.body.result.scripts, { build: "tsc", deploy: "wrangler deploy" });
      assert.ok(process.memoryUsage().rss - rss < 64 * 1024 * 1024);
      // wrangler.toml as a symlink (mode 120000) to /etc/passwd: git stores the path, which is not TOML.
      const env = { GIT_INDEX_FILE: path.join(reposDir, `.index-link-${process.pid}`) };
      const link = runGit(["--git-dir", big.bareDir, "hash-object", "-w", "--stdin"], { input: "/etc/passwd" });
      runGit(["--git-dir", big.bareDir, "read-tree", big.head() as string], { env });
      runGit(["--git-dir", big.bareDir, "update-index", "--index-info"], { env, input: `120000 ${link}\twrangler.toml\n` });
      const tree = runGit(["--git-dir", big.bareDir, "write-tree"], { env });
      fs.rmSync(env.GIT_INDEX_FILE, { force: true });
      const who = { GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@example.com", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@example.com" };
      const sha = runGit(["--git-dir", big.bareDir, "commit-tree", tree, "-p", big.head() as string, "-m", "link"], { env: who });
      big.setBranch("main", sha);
      const linked = await autofill("big-config");
      assert.equal(linked.status, 200);
      assert.equal(linked.body.result.default_worker_name, null);
      assert.doesNotMatch(JSON.stringify(linked.body), /root:/);
    });

    it("Read and Write tokens are allowed; another account's token and no token are not", async () => {
      const write = (await h.token([account], ["Workers CI Write"])).value;
      assert.equal((await autofill("toml-app", "?branch=main", write)).status, 200);
      const stranger = (await h.account("c")).id;
      const foreign = (await h.token([stranger], ["Workers CI Read"])).value;
      assert.equal((await autofill("toml-app", "?branch=main", foreign)).status, 403);
      const anonymous = await h.call("GET", url("toml-app", "?branch=main"));
      assert.equal(anonymous.status, 400);
    });

    it("keeps its mirrors under the data dir", () => {
      assert.ok(fs.readdirSync(path.join(h.db.dataDir, "git")).some((e) => /^[0-9a-f]{64}$/.test(e)));
    });
  });
}

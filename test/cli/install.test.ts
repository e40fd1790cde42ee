/**
 * `kiln` installed from a checkout (`npm install -g --prefix <tmp> <checkout>`, what `npm link`
 * does too: a symlink to the checkout) runs from any directory — even one whose tsconfig.json
 * would send tsx elsewhere — and `kiln --version` is package.json's. Admin commands never make a
 * data dir by accident: only `kiln account create` does, and says so on stderr.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { tempDir } from "../helpers/databases.ts";
import { cleanEnv, kiln } from "../helpers/cli.ts";

const VERSION = (JSON.parse(fs.readFileSync("package.json", "utf8")) as { version: string }).version;
const MISSING = /^kiln: no Kiln database in (\S+): point --data-dir \(or KILN_DATA_DIR\) at the server's data dir, or --database \(KILN_DATABASE_URL\) at its PostgreSQL; `kiln account create` or `kiln serve` makes a new one\n$/;

describe("kiln installed with npm install -g", () => {
  let prefix: string;
  let elsewhere: string;

  before(() => {
    prefix = tempDir("kiln-prefix-");
    elsewhere = tempDir("kiln-cwd-");
    execFileSync("npm", ["install", "-g", "--prefix", prefix, "--no-audit", "--no-fund", "--offline", path.resolve(".")], {
      env: { ...cleanEnv(), npm_config_loglevel: "error" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    // A project of the user's own whose tsconfig maps a package Kiln imports: tsx must not read it.
    fs.writeFileSync(path.join(elsewhere, "tsconfig.json"), JSON.stringify({ compilerOptions: { baseUrl: ".", paths: { commander: ["./not-commander.ts"] } } }));
    fs.writeFileSync(path.join(elsewhere, "not-commander.ts"), 'throw new Error("the current directory\'s tsconfig.json was used");\n');
  });

  after(() => {
    fs.rmSync(prefix, { recursive: true, force: true });
    fs.rmSync(elsewhere, { recursive: true, force: true });
  });

  it("puts kiln on PATH as a symlink; --version from another directory answers package.json's version", async () => {
    const bin = path.join(prefix, "bin", "kiln");
    assert.ok(fs.lstatSync(bin).isSymbolicLink());
    assert.equal(fs.realpathSync(bin), path.resolve("bin/kiln"));
    const version = await kiln(["--version"], {}, { bin, cwd: elsewhere });
    assert.equal(version.stderr, "");
    assert.equal(version.code, 0);
    assert.equal(version.stdout, `${VERSION}\n`);
    // Found on PATH by name, as a user types it.
    const onPath = await kiln(["--version"], { PATH: `${path.join(prefix, "bin")}:${process.env.PATH ?? ""}` }, { bin: "kiln", cwd: elsewhere });
    assert.equal(onPath.stdout, `${VERSION}\n`, onPath.stderr);
    // Inside the checkout, without installing.
    const npx = await kiln(["--no-install", "kiln", "--version"], {}, { bin: "npx", cwd: path.resolve(".") });
    assert.equal(npx.stdout, `${VERSION}\n`, npx.stderr);
    const help = await kiln(["--help"], {}, { bin, cwd: elsewhere });
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^ {2}-V, --version\s+print Kiln's version$/m);
  });

  it("read-only and other admin commands never make a data dir: exit 2 naming --data-dir and KILN_DATA_DIR", async () => {
    const bin = path.join(prefix, "bin", "kiln");
    const account = "0123456789abcdef0123456789abcdef";
    for (const args of [
      ["account", "list"],
      ["token", "list", "--account", account],
      ["worker", "list", "--account", account],
      ["worker", "create", "--account", account, "--name", "w"],
      ["deliveries", "list", "--account", account],
      ["account", "webhook-secret", "--account", account],
      ["prune", "--older-than", "30d"],
      ["tools", "list"],
    ]) {
      const r = await kiln(args, {}, { bin, cwd: elsewhere });
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.equal(r.stdout, "");
      const m = MISSING.exec(r.stderr);
      assert.ok(m, `${args.join(" ")}: ${r.stderr}`);
      assert.equal(fs.realpathSync(path.dirname(m[1] as string)), fs.realpathSync(elsewhere));
      assert.ok(!fs.existsSync(path.join(elsewhere, ".kiln")), `${args.join(" ")} made no data dir`);
    }
    // KILN_DATA_DIR is the same check.
    const viaEnv = await kiln(["account", "list"], { KILN_DATA_DIR: path.join(elsewhere, "nowhere") }, { bin, cwd: elsewhere });
    assert.equal(viaEnv.code, 2);
    assert.ok(viaEnv.stderr.includes(`no Kiln database in ${path.join(elsewhere, "nowhere")}:`), viaEnv.stderr);
    assert.ok(!fs.existsSync(path.join(elsewhere, "nowhere")));
  });

  it("account create makes the data dir and says so on stderr, once; the others then work on it", async () => {
    const bin = path.join(prefix, "bin", "kiln");
    const dir = path.join(elsewhere, "data");
    const first = await kiln(["account", "create", "--name", "first", "--data-dir", dir, "--json"], {}, { bin, cwd: elsewhere });
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stderr, `kiln: created a new data dir at ${dir} (the server needs the same --data-dir / KILN_DATA_DIR)\n`);
    assert.equal((fs.statSync(dir).mode & 0o777).toString(8), "700");
    const second = await kiln(["account", "create", "--name", "second"], { KILN_DATA_DIR: dir }, { bin, cwd: elsewhere });
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stderr, "", "an existing data dir is not announced");
    const list = await kiln(["account", "list", "--json"], { KILN_DATA_DIR: dir }, { bin, cwd: elsewhere });
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual((JSON.parse(list.stdout) as { accounts: { name: string }[] }).accounts.map((a) => a.name).sort(), ["first", "second"]);
  });
});

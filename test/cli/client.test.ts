/**
 * The command-line client against a running `kiln serve`: each command's table and
 * JSON, `logs --follow` to the end with the right exit code (through Kiln's stream, and by
 * polling through a proxy that hides the stream the way Cloudflare's API lacks it), cancel,
 * retry, and clear errors for bad tokens and missing settings.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { makeDatabase, type TestDatabase } from "../helpers/databases.ts";
import { cleanEnv, kiln, KILN_BIN, startServer } from "../helpers/cli.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";
import { httpTrigger } from "../helpers/served-builds.ts";
import { ApiError } from "../../src/cli/client/api-client.ts";
import { pageFooter } from "../../src/cli/client/commands.ts";

describe("kiln builds / kiln triggers (the HTTP client)", () => {
  let db: TestDatabase;
  let repo: TestRepo;
  let server: Awaited<ReturnType<typeof startServer>>;
  let proxy: http.Server;
  let proxyUrl: string;
  let account: string;
  let token: string;
  let readToken: string;
  let workerTag: string;
  const triggers: Record<string, string> = {};

  const env = () => ({ KILN_API_URL: `${server.base}/client/v4`, KILN_API_TOKEN: token, KILN_ACCOUNT_ID: account });
  const client = (args: string[], extra: Record<string, string> = {}) => kiln(args, { ...env(), ...extra });

  before(async () => {
    db = await makeDatabase("sqlite");
    repo = makeRepo({ name: "cli-app", files: { "package.json": "{}" } });
    const admin = async (args: string[]) => {
      const r = await kiln([...args, ...db.flags, "--json"]);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as Record<string, string>;
    };
    account = (await admin(["account", "create", "--name", "cli"])).id as string;
    token = (await admin(["token", "create", "--account", account, "--name", "w", "--permission", "Workers CI Write", "--permission", "Workers CI Read"])).value as string;
    readToken = (await admin(["token", "create", "--account", account, "--name", "r", "--permission", "Workers CI Read"])).value as string;
    workerTag = (await admin(["worker", "create", "--account", account, "--name", "cli-worker"])).tag as string;
    server = await startServer([...db.flags, "--git-url-template", repo.template, "--cancel-grace", "1"]);
    // One trigger per behaviour, each on its own Worker-less branch pattern (the commands differ).
    const t = await httpTrigger(server.base, token, account, { workerTag, repoId: "cli-1", repoName: "cli-app", buildCommand: "for i in 1 2 3 4 5; do echo step-$i; sleep 0.1; done" });
    triggers.production = t.triggerUuid;

    // A proxy standing in for an API without Kiln's live stream (Cloudflare answers an unknown path with 400 7003).
    proxy = http.createServer((req, res) => {
      if ((req.url ?? "").includes("/logs/stream")) {
        res.writeHead(400, { "content-type": "application/json" });
        res.end(JSON.stringify({ success: false, errors: [{ code: 7003, message: "Could not route" }, { code: 7000, message: "No route for that URI" }], messages: [], result: null }));
        return;
      }
      const upstream = http.request(`${server.base}${req.url}`, { method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/client/v4`;
  });

  after(async () => {
    proxy?.close();
    server?.child.kill("SIGTERM");
    await server?.exited;
    await db?.cleanup();
    repo?.cleanup();
  });

  async function create(branch = "main"): Promise<string> {
    const r = await client(["builds", "create", "--trigger", triggers.production as string, "--branch", branch, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(out).sort(), ["build_uuid", "created_on"]);
    return out.build_uuid;
  }

  it("create, then logs --follow through the live stream until success (exit 0)", async () => {
    const uuid = await create();
    const r = await client(["builds", "logs", uuid, "--follow"]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.ok(lines.every((l) => /^\d\d:\d\d:\d\d\.\d{3}  /.test(l)), r.stdout);
    assert.deepEqual(lines.map((l) => l.slice(14)).filter((t) => t.startsWith("step-")), ["step-1", "step-2", "step-3", "step-4", "step-5"]);
    assert.ok(lines.some((l) => l.endsWith("  deployed")));
    assert.match(r.stderr, new RegExp(`build ${uuid}: success`));

    const json = await client(["builds", "logs", uuid, "--json"]);
    const body = JSON.parse(json.stdout);
    assert.deepEqual(Object.keys(body), ["cursor", "truncated", "lines", "events"], "the logs answer's fields");
    assert.deepEqual(body.events, []);
    assert.equal(body.truncated, false);
    assert.equal(body.lines.length, lines.length, "the same lines, all pages");
  });

  it("logs --follow by polling the cursor where the stream does not exist; exit 1 when the build fails", async () => {
    // A failing build: the trigger's command is changed for this one (settings apply to the next build).
    await fetch(`${server.base}/client/v4/accounts/${account}/builds/triggers/${triggers.production}`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ build_command: "echo about-to-fail; sleep 1; exit 3" }),
    });
    try {
      const uuid = await create();
      const r = await client(["builds", "logs", uuid, "--follow"], { KILN_API_URL: proxyUrl });
      assert.equal(r.code, 1, r.stderr);
      assert.ok(r.stdout.includes("  about-to-fail"), r.stdout);
      assert.match(r.stderr, new RegExp(`build ${uuid}: fail`));
      const json = await client(["builds", "logs", uuid, "--follow", "--json"], { KILN_API_URL: proxyUrl });
      assert.equal(json.code, 1);
      const out = JSON.parse(json.stdout);
      assert.equal(out.build_outcome, "fail");
      assert.ok(out.lines.some((l: [number, string]) => l[1] === "about-to-fail"));
    } finally {
      await fetch(`${server.base}/client/v4/accounts/${account}/builds/triggers/${triggers.production}`, {
        method: "PATCH",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ build_command: "for i in 1 2 3 4 5; do echo step-$i; sleep 0.1; done" }),
      });
    }
  });

  it("logs: a build's control sequences never reach a non-terminal stdout, even with --raw; --json keeps them", async () => {
    const patch = (build_command: string) =>
      fetch(`${server.base}/client/v4/accounts/${account}/builds/triggers/${triggers.production}`, {
        method: "PATCH",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ build_command }),
      });
    await patch("printf 'col \\033[31mred\\033[0m\\n'; printf 'osc \\033]52;c;aGk=\\007clip \\033[2Kgone\\n'");
    try {
      const uuid = await create();
      await client(["builds", "logs", uuid, "--follow"]);
      for (const args of [[], ["--raw"]]) {
        const r = await client(["builds", "logs", uuid, ...args]);
        assert.equal(r.code, 0, r.stderr);
        assert.doesNotMatch(r.stdout, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/, `no control character (${args.join(" ") || "default"})`);
        assert.ok(r.stdout.includes("  col red\n") && r.stdout.includes("  osc clip gone\n"), r.stdout);
      }
      const json = JSON.parse((await client(["builds", "logs", uuid, "--json"])).stdout);
      assert.ok(json.lines.some((l: [number, string]) => l[1] === "osc \u001b]52;c;aGk=\u0007clip \u001b[2Kgone"), "the API's lines stay as stored");
      // A real terminal (a pty from util-linux's `script`): colour passes, the rest does not; --raw passes all.
      const onTty = (extra: string[]) => {
        const command = [process.execPath, KILN_BIN, "builds", "logs", uuid, ...extra].map((a) => `'${a}'`).join(" ");
        return execFileSync("script", ["-qec", command, "/dev/null"], { env: { ...cleanEnv(), ...env() }, encoding: "utf8" });
      };
      const tty = onTty([]);
      assert.ok(tty.includes("col \u001b[31mred\u001b[0m"), JSON.stringify(tty));
      assert.ok(tty.includes("osc clip gone"), JSON.stringify(tty));
      assert.ok(!tty.includes("\u001b]52;") && !tty.includes("\u0007") && !tty.includes("\u001b[2K"), JSON.stringify(tty));
      assert.ok(onTty(["--raw"]).includes("osc \u001b]52;c;aGk=\u0007clip \u001b[2Kgone"), "--raw to a terminal writes the sequences");
    } finally {
      await patch("for i in 1 2 3 4 5; do echo step-$i; sleep 0.1; done");
    }
  });

  it("get and list: a commit message holding control sequences reaches no terminal and no pipe; --json keeps them", async () => {
    // Whoever pushes a commit chooses its message.
    const message = "fix \u001b]52;c;aGk=\u0007clip \u001b[2K\u001b]0;title\u001b\\done\u009b2J";
    repo.commit({ "hostile.txt": "x" }, message, { branch: "hostile" });
    const uuid = await create("hostile");
    await client(["builds", "logs", uuid, "--follow"]);
    const onTty = (args: string[]) => {
      const command = [process.execPath, KILN_BIN, ...args].map((a) => `'${a}'`).join(" ");
      return execFileSync("script", ["-qec", command, "/dev/null"], { env: { ...cleanEnv(), ...env() }, encoding: "utf8" });
    };
    for (const text of [(await client(["builds", "get", uuid])).stdout, onTty(["builds", "get", uuid])]) {
      assert.doesNotMatch(text, /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/, JSON.stringify(text));
      assert.match(text, /^commit:\s+[0-9a-f]{40} fix clip done\r?$/m);
    }
    const listed = await client(["builds", "list", "--worker", "cli-worker"]);
    assert.doesNotMatch(listed.stdout, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
    const json = JSON.parse((await client(["builds", "get", uuid, "--json"])).stdout);
    assert.equal(json.build_trigger_metadata.commit_message, message, "the API's answer stays as stored");
  });

  it("list (by name or tag), get: a table for people, the API's result with --json", async () => {
    const uuid = await create();
    await client(["builds", "logs", uuid, "--follow"]);
    const byName = await client(["builds", "list", "--worker", "cli-worker"]);
    assert.equal(byName.code, 0, byName.stderr);
    const [header, first] = byName.stdout.split("\n");
    assert.match(header ?? "", /^build_uuid\s+status\s+outcome\s+branch\s+commit\s+source\s+created\s+duration$/);
    assert.match(first ?? "", new RegExp(`^${uuid}\\s+stopped\\s+success\\s+main\\s+[0-9a-f]{7}\\s+api\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ\\s+\\d+s$`));
    const footer = /page 1 of 1 \((\d+) builds?\)$/.exec(byName.stdout.trim());
    assert.ok(footer, byName.stdout);
    const total = Number(footer[1]);
    // A page past the last: said so (exit 1, nothing on stdout), not "page 2 of 1" over an empty table.
    const past = await client(["builds", "list", "--worker", "cli-worker", "--page", "2"]);
    assert.equal(past.code, 1);
    assert.equal(past.stdout, "");
    assert.equal(past.stderr.trim(), `kiln: page 2 is past the last page: 1 page of ${total} build${total === 1 ? "" : "s"}`);
    // --json stays the API's answer: an empty page with its result_info.
    const pastJson = await client(["builds", "list", "--worker", "cli-worker", "--page", "2", "--json"]);
    assert.equal(pastJson.code, 0, pastJson.stderr);
    assert.deepEqual(JSON.parse(pastJson.stdout).result, []);
    const json = JSON.parse((await client(["builds", "list", "--worker", workerTag, "--json"])).stdout);
    assert.deepEqual(Object.keys(json).sort(), ["result", "result_info"]);
    assert.equal(json.result[0].build_uuid, uuid);
    assert.equal(json.result_info.page, 1);

    const get = await client(["builds", "get", uuid]);
    assert.match(get.stdout, new RegExp(`^build:\\s+${uuid}$`, "m"));
    assert.match(get.stdout, /^outcome:\s+success$/m);
    assert.match(get.stdout, /^build command:\s+for i in/m);
    const getJson = JSON.parse((await client(["builds", "get", uuid, "--json"])).stdout);
    assert.equal(getJson.build_uuid, uuid);
    assert.equal(getJson.build_outcome, "success");
  });

  it("cancel and retry", async () => {
    await fetch(`${server.base}/client/v4/accounts/${account}/builds/triggers/${triggers.production}`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ build_command: "echo long; sleep 60" }),
    });
    const uuid = await create();
    for (let i = 0; i < 100; i++) {
      const b = JSON.parse((await client(["builds", "get", uuid, "--json"])).stdout);
      if (b.status === "running") break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const denied = await client(["builds", "cancel", uuid], { KILN_API_TOKEN: readToken });
    assert.equal(denied.code, 1);
    assert.equal(denied.stderr.trim(), "kiln: 10000: Authentication error");
    const cancelled = await client(["builds", "cancel", uuid]);
    assert.equal(cancelled.code, 0, cancelled.stderr);
    assert.match(cancelled.stdout, new RegExp(`^build ${uuid}: cancelled \\(stopped \\d{4}-`));
    const again = JSON.parse((await client(["builds", "cancel", uuid, "--json"])).stdout);
    assert.equal(again.build_outcome, "cancelled");
    const retried = await client(["builds", "retry", uuid, "--json"]);
    assert.equal(retried.code, 0, retried.stderr);
    const next = JSON.parse(retried.stdout).build_uuid;
    assert.notEqual(next, uuid);
    assert.equal((await client(["builds", "cancel", next])).code, 0);
  });

  it("triggers list, by name: table and JSON", async () => {
    const r = await client(["triggers", "list", "--worker", "cli-worker"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^trigger_uuid\s+name\s+branches\s+build_command\s+deploy_command\s+root\s+deleted/);
    assert.match(r.stdout, new RegExp(`^${triggers.production}\\s+production\\s+main\\s+`, "m"));
    const json = JSON.parse((await client(["triggers", "list", "--worker", "cli-worker", "--json"])).stdout);
    assert.equal(json.result[0].trigger_uuid, triggers.production);
  });

  it("errors: code and message from the API, never a stack trace; missing settings exit 2; Cloudflare's variables work", async () => {
    const unknown = await client(["builds", "list", "--worker", "cli-worker"], { KILN_API_TOKEN: "a".repeat(40) });
    assert.equal(unknown.code, 1);
    assert.equal(unknown.stderr.trim(), "kiln: 10000: Authentication error");
    const malformed = await client(["builds", "get", "00000000-0000-4000-8000-000000000000"], { KILN_API_TOKEN: "short" });
    assert.equal(malformed.stderr.trim(), "kiln: 6003: Invalid request headers");
    const missing = await client(["builds", "get", "00000000-0000-4000-8000-000000000000"]);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr.trim(), "kiln: 12000: Not found");
    const noWorker = await client(["builds", "list", "--worker", "nope"]);
    assert.equal(noWorker.code, 1);
    // Found by the client, not answered by the API: no code (it used to print "kiln: 0: …").
    assert.equal(noWorker.stderr.trim(), `kiln: no Worker named "nope" in account ${account}`);
    const down = await client(["builds", "list", "--worker", "x"], { KILN_API_URL: "http://127.0.0.1:9/client/v4" });
    assert.equal(down.code, 1);
    assert.match(down.stderr, /^kiln: cannot reach http:\/\/127\.0\.0\.1:9\/client\/v4: /);
    for (const r of [unknown, malformed, missing, noWorker, down]) assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");

    const noToken = await kiln(["builds", "list", "--worker", "x"], { KILN_API_URL: env().KILN_API_URL, KILN_ACCOUNT_ID: account });
    assert.equal(noToken.code, 2);
    assert.match(noToken.stderr, /missing --api-token \(or KILN_API_TOKEN, or CLOUDFLARE_API_TOKEN\)/);
    assert.equal((await client(["builds", "get", "not-a-uuid"])).code, 2);
    assert.equal((await client(["builds", "list", "--worker", "x", "--page", "0"])).code, 2);

    const cf = await kiln(["triggers", "list", "--worker", "cli-worker", "--json", "--api-url", env().KILN_API_URL], { CLOUDFLARE_API_TOKEN: token, CLOUDFLARE_ACCOUNT_ID: account });
    assert.equal(cf.code, 0, cf.stderr);
  });
});

describe("kiln builds list: footer and messages", () => {
  it("counts are singular for one, plural otherwise; no builds at all says so", () => {
    assert.equal(pageFooter(1, { per_page: 20, total_count: 1, total_pages: 1 }), "page 1 of 1 (1 build)");
    assert.equal(pageFooter(2, { per_page: 20, total_count: 21, total_pages: 2 }), "page 2 of 2 (21 builds)");
    assert.equal(pageFooter(1, { per_page: 20, total_count: 0, total_pages: 0 }), "no builds");
    assert.equal(pageFooter(1, { per_page: 20, total_count: 40 }), "page 1 of 2 (40 builds)", "total_pages derived when absent");
  });

  it("a page past the last is an error naming the pages and builds", () => {
    assert.throws(() => pageFooter(2, { per_page: 20, total_count: 1, total_pages: 1 }), { name: "ClientError", message: "page 2 is past the last page: 1 page of 1 build" });
    assert.throws(() => pageFooter(5, { per_page: 20, total_count: 41, total_pages: 3 }), { name: "ClientError", message: "page 5 is past the last page: 3 pages of 41 builds" });
    assert.throws(() => pageFooter(2, { per_page: 20, total_count: 0, total_pages: 0 }), { name: "ClientError", message: "page 2 is past the last page: there are no builds" });
  });

  it("an API error without a code prints its message alone", () => {
    assert.equal(new ApiError(502, undefined, "HTTP 502").message, "HTTP 502");
    assert.equal(new ApiError(404, 12000, "Not found").message, "12000: Not found");
  });
});

/**
 * The dashboard (issue 9 §1): served by `kiln serve` at `/` next to the API, and driven in a real
 * browser (playwright-core + the system's Chromium) against a real server running real builds.
 * The browser tests write the screenshots docs/dashboard.md shows (docs/screenshots/*.png).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import { kiln, startServer } from "../helpers/cli.ts";
import { makeDatabase, type TestDatabase } from "../helpers/databases.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";

/** The system Chromium (KILN_TEST_CHROMIUM points elsewhere, e.g. to check the skip). */
const CHROMIUM = process.env.KILN_TEST_CHROMIUM ?? "/usr/bin/chromium";
const SCREENSHOTS = path.resolve("docs/screenshots");
type Server = Awaited<ReturnType<typeof startServer>>;

async function stop(server: Server | undefined): Promise<void> {
  if (!server || server.child.exitCode !== null) return;
  server.child.kill("SIGTERM");
  await server.exited;
}

describe("dashboard: served next to the API", () => {
  let db: TestDatabase;
  let server: Server;
  before(async () => {
    db = await makeDatabase("sqlite");
    server = await startServer([...db.flags, "--no-runner"]);
  });
  after(async () => {
    await stop(server);
    await db?.cleanup();
  });

  it("/ and the deep links serve index.html with the import map", async () => {
    for (const p of ["/", "/sign-in", "/accounts", "/accounts/x", "/accounts/x/workers/y", "/accounts/x/workers/y/builds/z", "/accounts/x/workers/y/builds/z/"]) {
      const r = await fetch(server.base + p);
      assert.equal(r.status, 200, p);
      assert.match(r.headers.get("content-type") ?? "", /^text\/html/, p);
      assert.equal(r.headers.get("cache-control"), "no-cache");
      assert.match(r.headers.get("content-security-policy") ?? "", /default-src 'self'/);
      const text = await r.text();
      assert.match(text, /<script type="importmap">/, p);
      const map = JSON.parse(/<script type="importmap">([\s\S]*?)<\/script>/.exec(text)?.[1] ?? "{}") as { imports: Record<string, string> };
      assert.deepEqual(Object.keys(map.imports).sort(), ["ansi-sequence-parser", "htm", "preact", "preact/hooks"]);
      assert.match(text, /<script type="module" src="\/assets\/app\.js\?v=[^"]+">/);
      // The providers' web addresses are data for links, not something the page loads.
      assert.doesNotMatch(text.replace(/<meta name="kiln-settings"[^>]*>/, ""), /https?:\/\//, "no external URL in the page");
    }
  });

  it("serves the vendor modules and the app's files with their content types and cache headers", async () => {
    const index = await (await fetch(server.base + "/")).text();
    const map = JSON.parse(/<script type="importmap">([\s\S]*?)<\/script>/.exec(index)?.[1] ?? "{}") as { imports: Record<string, string> };
    for (const url of Object.values(map.imports)) {
      const r = await fetch(server.base + url);
      assert.equal(r.status, 200, url);
      assert.equal(r.headers.get("content-type"), "text/javascript; charset=utf-8", url);
      assert.equal(r.headers.get("cache-control"), "public, max-age=31536000, immutable", url);
      const body = await r.text();
      assert.match(body, /\bexport\b/, `${url} is an ES module`);
    }
    const unpinned = await fetch(server.base + "/vendor/preact.js");
    assert.equal(unpinned.headers.get("content-type"), "text/javascript; charset=utf-8");
    assert.equal(unpinned.headers.get("cache-control"), "no-cache");
    for (const [file, type] of [["app.js", "text/javascript; charset=utf-8"], ["api.js", "text/javascript; charset=utf-8"], ["style.css", "text/css; charset=utf-8"]] as const) {
      const r = await fetch(`${server.base}/assets/${file}`);
      assert.equal(r.status, 200, file);
      assert.equal(r.headers.get("content-type"), type, file);
      assert.equal(r.headers.get("cache-control"), "no-cache", file);
      const etag = r.headers.get("etag");
      assert.ok(etag, file);
      const again = await fetch(`${server.base}/assets/${file}`, { headers: { "if-none-match": etag } });
      assert.equal(again.status, 304, `${file} revalidates`);
    }
    const app = await (await fetch(`${server.base}/assets/app.js`)).text();
    assert.doesNotMatch(app, /https?:\/\/(?!www\.w3)/, "the app fetches nothing from elsewhere");
    assert.equal((await fetch(`${server.base}/assets/missing.js`)).status, 404);
    assert.equal((await fetch(`${server.base}/vendor/missing.js`)).status, 404);
    assert.notEqual((await fetch(`${server.base}/assets/..%2Fpackage.json`)).status, 200, "no way out of the assets folder");
    assert.notEqual((await fetch(`${server.base}/assets/..%2F..%2F..%2Fpackage.json`)).status, 200);
  });

  it("leaves /client/v4, /healthz and /metrics as they were", async () => {
    const unknown = await fetch(`${server.base}/client/v4/nope`);
    assert.equal(unknown.status, 400);
    const body = (await unknown.json()) as { success: boolean; errors: { code: number }[] };
    assert.equal(body.success, false);
    assert.deepEqual(body.errors.map((e) => e.code), [7003, 7000]);
    const unauth = await fetch(`${server.base}/client/v4/accounts`);
    assert.equal(unauth.status, 400, "no credentials is still the API's own answer");
    assert.equal(((await unauth.json()) as { success: boolean }).success, false);
    const health = await fetch(`${server.base}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(((await health.json()) as { result: { status: string } }).result.status, "ok");
    const metrics = await fetch(`${server.base}/metrics`);
    assert.match(metrics.headers.get("content-type") ?? "", /^text\/plain/);
    // Under /client/v4 and /webhooks an unknown path keeps the envelope, whatever the method.
    const wrongMethod = await fetch(`${server.base}/client/v4/accounts/x/builds/triggers`);
    assert.equal(wrongMethod.status, 405);
    assert.equal(((await wrongMethod.json()) as { success: boolean }).success, false);
    const hook = await fetch(`${server.base}/webhooks/nope`);
    assert.equal(hook.status, 400);
    assert.equal(((await hook.json()) as { errors: { code: number }[] }).errors[0]?.code, 7003);
  });

  it("any other unknown path is an HTML 404 page without script", async () => {
    for (const p of ["/no/such/page", "/accounts/x/workers/y/nope", "/accounts/x/workers/y/builds"]) {
      const r = await fetch(server.base + p);
      assert.equal(r.status, 404, p);
      assert.equal(r.headers.get("content-type"), "text/html; charset=utf-8", p);
      assert.match(r.headers.get("content-security-policy") ?? "", /default-src 'none'/);
      const text = await r.text();
      assert.match(text, /<h1>404 · Page not found<\/h1>/);
      assert.match(text, /href="\/"/);
      assert.doesNotMatch(text, /<script/);
    }
    const post = await fetch(`${server.base}/no/such/page`, { method: "POST" });
    assert.equal(post.status, 400, "only GET gets the page");
  });

  it("carries the git providers' web addresses for commit links (--github-web-url, or from --gitlab-api-url)", async () => {
    const db2 = await makeDatabase("sqlite");
    const other = await startServer([...db2.flags, "--no-runner", "--github-web-url", "https://git.example.com/", "--gitlab-api-url", "https://gl.example.org/api/v4"]);
    try {
      const text = await (await fetch(other.base + "/")).text();
      const content = /<meta name="kiln-settings" content="([^"]*)">/.exec(text)?.[1] ?? "";
      const settings = JSON.parse(content.replaceAll("&quot;", '"').replaceAll("&amp;", "&")) as { providers: Record<string, string> };
      assert.deepEqual(settings.providers, { github: "https://git.example.com", gitlab: "https://gl.example.org" });
      const plain = await (await fetch(server.base + "/")).text();
      assert.match(plain, /&quot;github&quot;:&quot;https:\/\/github\.com&quot;,&quot;gitlab&quot;:&quot;https:\/\/gitlab\.com&quot;/);
    } finally {
      await stop(other);
      await db2.cleanup();
    }
  });
});

const noBrowser = fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} not found: install Chromium (apt-get install -y chromium) to run the dashboard's browser tests`;

describe("dashboard: in a browser", { skip: noBrowser }, () => {
  let db: TestDatabase;
  let repo: TestRepo;
  let server: Server;
  let browser: Browser;
  let account = "";
  let writeToken = "";
  let readToken = "";
  let worker: { id: string; tag: string } = { id: "", tag: "" };
  let slowBuild = "";

  const json = async (args: string[]) => {
    const r = await kiln([...args, ...db.flags, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are checked by the tests
  const call = async (p: string, method = "GET", body?: unknown, token = writeToken): Promise<any> => {
    const r = await fetch(`${server.base}/client/v4/accounts/${account}${p}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return r.json();
  };
  const waitFor = async <T>(what: string, fn: () => Promise<T | undefined | false>, ms = 30_000): Promise<T> => {
    const end = Date.now() + ms;
    for (;;) {
      const v = await fn();
      if (v) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const startBuild = async (trigger: string, branch: string) => {
    const r = await call(`/builds/triggers/${trigger}/builds`, "POST", { branch });
    assert.ok(r.success, JSON.stringify(r));
    return String(r.result.build_uuid);
  };
  const buildOf = async (uuid: string) => (await call(`/builds/builds/${uuid}`)).result as { status: string; build_outcome: string | null };

  const shot = async (page: Page, name: string, fullPage = false) => {
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SCREENSHOTS, name), fullPage });
  };
  const signIn = async (page: Page, token: string, url = "/") => {
    await page.goto(server.base + url);
    await page.fill("#token", token);
    await page.click('button[type="submit"]');
  };
  const logLines = (page: Page) => page.locator(".log li").count();

  before(async () => {
    db = await makeDatabase("sqlite");
    repo = makeRepo({ name: "dash-app", files: { "run.sh": "echo installing\necho built ok\n", "package.json": "{}" }, message: "Initial commit" });
    repo.commit({ "run.sh": "echo compiling\necho 'error: type mismatch' >&2\nexit 1\n" }, "Break the build on purpose", { branch: "feature/broken", from: repo.head("main") as string });
    repo.commit(
      { "run.sh": "i=0; while [ $i -lt 3000 ]; do echo line-$i; i=$((i+1)); sleep 0.05; done\n" },
      "Add a slow build step\n\nPrints a line every 50 ms.",
      { branch: "slow", from: repo.head("main") as string },
    );
    account = String((await json(["account", "create", "--name", "dashboard"])).id);
    writeToken = String((await json(["token", "create", "--account", account, "--name", "write", "--permission", "Workers CI Write"])).value);
    readToken = String((await json(["token", "create", "--account", account, "--name", "read", "--permission", "Workers CI Read"])).value);
    const w = await json(["worker", "create", "--account", account, "--name", "dash-app"]);
    worker = { id: String(w.id), tag: String(w.tag) };
    await json(["worker", "create", "--account", account, "--name", "api-gateway"]);
    server = await startServer([...db.flags, "--git-url-template", repo.template, "--slots", "4", "--cancel-grace", "1", "--drain-timeout", "0"]);

    const conn = await call("/builds/repos/connections", "PUT", { provider_type: "github", provider_account_id: "1", provider_account_name: "acme", repo_id: "77", repo_name: "dash-app" });
    assert.ok(conn.success, JSON.stringify(conn));
    const tok = await call("/builds/tokens", "POST", { build_token_name: "deploy", build_token_secret: "cf-secret-value", cloudflare_token_id: "cf-id" });
    assert.ok(tok.success, JSON.stringify(tok));
    const trig = await call("/builds/triggers", "POST", {
      external_script_id: worker.tag, trigger_name: "production", repo_connection_uuid: conn.result.repo_connection_uuid, build_token_uuid: tok.result.build_token_uuid,
      build_command: "sh ./run.sh", deploy_command: "true", root_directory: "/", branch_includes: ["*"], branch_excludes: [], path_includes: ["*"], path_excludes: [],
    });
    assert.ok(trig.success, JSON.stringify(trig));
    const trigger = String(trig.result.trigger_uuid);
    const ok = await startBuild(trigger, "main");
    const broken = await startBuild(trigger, "feature/broken");
    await waitFor("the quick builds", async () => (await buildOf(ok)).status === "stopped" && (await buildOf(broken)).status === "stopped", 60_000);
    slowBuild = await startBuild(trigger, "slow");
    await waitFor("the slow build to run", async () => (await buildOf(slowBuild)).status === "running", 60_000);

    browser = await (await import("playwright-core")).chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  });

  after(async () => {
    await browser?.close();
    await stop(server);
    await db?.cleanup();
    repo?.cleanup();
  });

  it("signs in, lists the Workers, a Worker's builds, and follows a running build's log to its cancellation", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const page = await context.newPage();
    const external: string[] = [];
    page.on("request", (r) => {
      if (!r.url().startsWith(server.base) && !r.url().startsWith("data:")) external.push(r.url());
    });
    const consoleErrors: string[] = [];
    page.on("pageerror", (e) => consoleErrors.push(String(e)));

    await page.goto(server.base + "/");
    await page.waitForSelector("#token");
    await shot(page, "sign-in.png");

    // A wrong token: the API's error, code and message, shown as it is.
    await page.fill("#token", "not-a-real-token-value-at-all-000000000");
    await page.click('button[type="submit"]');
    await page.waitForSelector(".error");
    assert.match(await page.locator(".error").innerText(), /HTTP 4\d\d/);

    await page.fill("#token", writeToken);
    await page.click('button[type="submit"]');
    await page.waitForURL(`${server.base}/accounts/${account}`);
    await page.waitForSelector(`tr[data-worker="dash-app"] .badge.live`);
    const row = await page.locator(`tr[data-worker="dash-app"]`).innerText();
    assert.match(row, /running/);
    assert.match(row, /slow/);
    assert.match(row, new RegExp((repo.head("slow") as string).slice(0, 7)));
    assert.match(await page.locator(`tr[data-worker="api-gateway"]`).innerText(), /no builds/);
    assert.equal(await page.evaluate(() => sessionStorage.getItem("kiln.token")), writeToken);
    assert.equal(await page.evaluate(() => localStorage.length), 0, "the token is in sessionStorage only");
    await shot(page, "workers.png");

    await page.click(`tr[data-worker="dash-app"] a.worker-link`);
    await page.waitForURL(`${server.base}/accounts/${account}/workers/${worker.tag}`);
    await page.waitForFunction(() => document.querySelectorAll("tr[data-build]").length === 3);
    const rows = await page.locator("tr[data-build]").allInnerTexts();
    assert.match(rows[0] ?? "", /running[\s\S]*Add a slow build step[\s\S]*slow[\s\S]*API/, "newest first, with trigger source");
    assert.match(rows[1] ?? "", /fail[\s\S]*feature\/broken/);
    assert.match(rows[2] ?? "", /success[\s\S]*main/);
    await shot(page, "builds.png");

    // Filters go to the API (#21's branch and outcome) and into the URL.
    await page.selectOption('select[name="outcome"]', "fail");
    await page.waitForFunction(() => document.querySelectorAll("tr[data-build]").length === 1);
    assert.match(page.url(), /outcome=fail/);
    assert.match(await page.locator("tr[data-build]").innerText(), /feature\/broken/);
    await page.click("text=Clear");
    await page.fill('input[name="branch"]', "main");
    await page.click('.filters button[type="submit"]');
    await page.waitForFunction(() => document.querySelectorAll("tr[data-build]").length === 1 && location.search.includes("branch=main"));
    assert.match(await page.locator("tr[data-build]").innerText(), /success/);
    await page.click("text=Clear");
    await page.waitForFunction(() => document.querySelectorAll("tr[data-build]").length === 3);

    await page.click(`tr[data-build="${slowBuild}"] a.build-link`);
    await page.waitForURL(`${server.base}/accounts/${account}/workers/${worker.tag}/builds/${slowBuild}`);
    await page.waitForFunction(() => document.querySelectorAll(".log li").length > 5);
    const meta = await page.locator("dl.meta").innerText();
    assert.match(meta, new RegExp(repo.head("slow") as string), "full commit hash");
    assert.match(meta, /Add a slow build step/);
    assert.match(meta, /ada@example\.com/, "author");
    assert.match(meta, /sh \.\/run\.sh/);
    assert.match(meta, /API \(trigger production\)/, "trigger source and trigger");
    const first = await logLines(page);
    await page.waitForFunction((n) => document.querySelectorAll(".log li").length > n + 10, first);
    assert.ok((await logLines(page)) > first, "the log grows live");
    assert.match(await page.locator(".log li").first().innerText(), /\d\d:\d\d:\d\d\.\d{3}/, "lines carry their timestamps");
    const atBottom = () => page.evaluate(() => {
      const el = document.querySelector(".log") as HTMLElement;
      return el.scrollHeight - el.scrollTop - el.clientHeight < 30;
    });
    await waitFor("the log to overflow its box", () => page.evaluate(() => { const el = document.querySelector(".log") as HTMLElement; return el.scrollHeight > el.clientHeight + 200; }));
    assert.ok(await atBottom(), "auto-scrolls while at the bottom");
    await shot(page, "build.png", true);

    // Scrolling up stops the auto-scroll; back at the bottom it resumes.
    await page.evaluate(() => { (document.querySelector(".log") as HTMLElement).scrollTop = 0; });
    const grown = await logLines(page);
    await page.waitForFunction((n) => document.querySelectorAll(".log li").length > n + 10, grown);
    assert.equal(await page.evaluate(() => (document.querySelector(".log") as HTMLElement).scrollTop), 0, "stays where the reader is");
    assert.equal(await page.getAttribute(".log", "data-following"), "false");
    await page.click("button.follow");
    const again = await logLines(page);
    await page.waitForFunction((n) => document.querySelectorAll(".log li").length > n + 5, again);
    assert.ok(await atBottom(), "follows again");

    // Cancel, after the confirmation.
    const dialogs: string[] = [];
    page.once("dialog", (d) => {
      dialogs.push(d.message());
      void d.accept();
    });
    await page.click("#cancel");
    await page.waitForSelector(".notice");
    assert.match(await page.locator(".notice").innerText(), /cancelled/);
    assert.match(dialogs[0] ?? "", /Cancel this build/);
    await page.waitForSelector('h1 .badge[data-outcome="cancelled"]');
    await page.waitForSelector(".log-state.ended");
    assert.equal((await buildOf(slowBuild)).build_outcome, "cancelled");
    assert.match(await page.locator(".log li").last().innerText(), /cancel/i);

    // Retry starts a new build of the same commit and opens it.
    await page.click("#retry");
    await page.waitForURL((u) => /\/builds\/[0-9a-f-]{36}$/.test(u.pathname) && !u.pathname.endsWith(slowBuild));
    const retried = page.url().split("/").pop() as string;
    await page.waitForFunction(() => document.querySelectorAll(".log li").length > 0);
    const cancelled = await call(`/builds/builds/${retried}/cancel`, "PUT");
    assert.ok(cancelled.success, JSON.stringify(cancelled));

    assert.deepEqual(external, [], "no request leaves the server");
    assert.deepEqual(consoleErrors, []);
    await context.close();
  });

  it("with a Read token, Cancel shows the API's 403 and the build keeps running; readable at 375 px", async () => {
    const r = await call(`/builds/workers/${worker.tag}/builds?branch=slow&per_page=1`);
    const trigger = String(r.result[0].trigger.trigger_uuid);
    const running = await startBuild(trigger, "slow");
    await waitFor("the build to run", async () => (await buildOf(running)).status === "running", 60_000);
    const link = `/accounts/${account}/workers/${worker.tag}/builds/${running}`;

    const context = await browser.newContext({ viewport: { width: 375, height: 812 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    const page = await context.newPage();
    // The commit-status link format, opened signed out: sign-in first, then the build itself.
    await signIn(page, readToken, link);
    await page.waitForURL(server.base + link);
    await page.waitForFunction(() => document.querySelectorAll(".log li").length > 20);
    assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), 375, "no horizontal scrolling at 375 px");
    await shot(page, "phone-build.png", true);

    page.once("dialog", (d) => void d.accept());
    await page.click("#cancel");
    await page.waitForSelector(".error");
    const error = await page.locator(".error").innerText();
    assert.match(error, /HTTP 403/);
    assert.match(error, /10000/);
    assert.match(error, /Authentication error/);
    const before = await logLines(page);
    await page.waitForFunction((n) => document.querySelectorAll(".log li").length > n + 5, before);
    assert.equal((await buildOf(running)).status, "running", "the build keeps running");
    assert.ok(await page.locator("#cancel").isVisible());

    await page.goto(`${server.base}/accounts/${account}/workers/${worker.tag}`);
    await page.waitForSelector("tr[data-build]");
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 375), "the builds list fits too");
    await shot(page, "phone-builds.png");
    await context.close();
    assert.ok((await call(`/builds/builds/${running}/cancel`, "PUT")).success);
  });
});

/**
 * The dashboard's lists follow the account event stream: with every build stopped (the lists
 * would poll every 30 s), a build started over the API shows up in the Worker's builds list in
 * under a second and its outcome the moment it stops, in a real browser against a real server.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, describe, it } from "node:test";
import type { Browser } from "playwright-core";
import { startServer } from "../helpers/cli.ts";
import { makeDatabase, type TestDatabase } from "../helpers/databases.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";
import { servedTrigger, type ServedTrigger } from "../helpers/served-builds.ts";
import { waitFor } from "../helpers/builds.ts";

const CHROMIUM = process.env.KILN_TEST_CHROMIUM ?? "/usr/bin/chromium";
const noBrowser = fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} not found: install Chromium (apt-get install -y chromium) to run the dashboard's browser tests`;

describe("dashboard: lists updated live by the account event stream", { skip: noBrowser }, () => {
  let db: TestDatabase;
  let repo: TestRepo;
  let server: Awaited<ReturnType<typeof startServer>>;
  let browser: Browser;
  let t: ServedTrigger;

  before(async () => {
    db = await makeDatabase("sqlite");
    repo = makeRepo({ name: "live-app", files: { "a.txt": "a" } });
    server = await startServer([...db.flags, "--slots", "2"], { KILN_GIT_URL_TEMPLATE: repo.template });
    t = await servedTrigger(server, db.flags, "live-app", "sleep 2", "live-app");
    const first = await t.start();
    await waitFor("the first build", async () => (await t.build(first)).status === "stopped", 60_000);
    browser = await (await import("playwright-core")).chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  });
  after(async () => {
    await browser?.close();
    server.child.kill("SIGTERM");
    await server.exited;
    await db.cleanup();
    repo.cleanup();
  });

  it("a new build is listed in under a second, and its outcome shows when it stops", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(server.base + "/");
    await page.fill("#token", t.token);
    await page.click('button[type="submit"]');
    await page.waitForURL(`${server.base}/accounts/${t.account}`);
    await page.waitForSelector('tr[data-worker="live-app"]');
    await page.click('tr[data-worker="live-app"] a.worker-link');
    await page.waitForFunction(() => document.querySelectorAll("tr[data-build]").length === 1);
    // Let the stream connect (and the list's own poll pass) before the build is made.
    await new Promise((r) => setTimeout(r, 1000));

    const t0 = Date.now();
    const uuid = await t.start();
    await page.waitForFunction(() => document.querySelectorAll("tr[data-build]").length === 2, undefined, { timeout: 5000 });
    const listedMs = Date.now() - t0;
    assert.equal(await page.locator(`tr[data-build="${uuid}"]`).count(), 1);
    process.stdout.write(`# new build listed after ${listedMs} ms\n`);
    assert.ok(listedMs < 1000, `listed after ${listedMs} ms`);

    // The build stops about 2 s later: the row turns to its outcome without waiting for a poll.
    await waitFor("the build to stop", async () => (await t.build(uuid)).status === "stopped", 30_000);
    const t1 = Date.now();
    await page.waitForFunction(() => !document.querySelector("tr[data-build] .badge.live"), undefined, { timeout: 5000 });
    process.stdout.write(`# outcome shown ${Date.now() - t1} ms after the build stopped\n`);
    await context.close();
  });
});

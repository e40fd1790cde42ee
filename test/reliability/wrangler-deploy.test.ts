/**
 * Real wrangler, end to end: a Worker project (TypeScript entry,
 * `wrangler.jsonc`, wrangler a devDependency pinned exactly, a package-lock.json) is built by
 * Kiln's real runner in the bubblewrap sandbox. Its install step (`npm clean-install`) fetches
 * wrangler from the npm registry inside the build; its deploy command is a real
 * `wrangler deploy` (one trigger) and `wrangler versions upload` (another), pointed by
 * CLOUDFLARE_API_BASE_URL at a fake of the Cloudflare endpoints they call
 * (test/helpers/fake-cloudflare.ts), which listens in a test network namespace on a private
 * address the harness allows with --build-network-allow.
 *
 * Asserted: each build succeeds; the version id (and, for the upload, the preview URL) Kiln
 * stored are what wrangler wrote to its ND-JSON output file (WRANGLER_OUTPUT_FILE_PATH, printed
 * by the deploy command after wrangler; the upload's build keeps wrangler's own "Version ID:"
 * lines out of its log, so the file is Kiln's only source), and the version id is the one the
 * fake API chose;
 * every API call carried `Authorization: Bearer <the build token's secret>` (the build's
 * CLOUDFLARE_API_TOKEN) and the build's CLOUDFLARE_ACCOUNT_ID in its path; wrangler checked the
 * Worker's tag against WRANGLER_CI_MATCH_TAG and took its name from WRANGLER_CI_OVERRIDE_NAME.
 *
 * Runs in `npm run test:long` only: it installs wrangler (and workerd, ~200 MB unpacked) from the
 * registry, twice. Nothing is left behind: its temp dir, the namespace, processes.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { detectNetwork } from "../../src/runner/build-network.ts";
import { detectSandbox } from "../../src/runner/sandbox.ts";
import { allLogs, getBuild, setupTrigger, startBuild, waitForStatus, type BuildSetup } from "../helpers/builds.ts";
import { startFakeCloudflare, type FakeCloudflare, type FakeExchange } from "../helpers/fake-cloudflare.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";
import { startHarness, type Harness } from "../helpers/harness.ts";
import { peerLeftovers } from "../helpers/netns-peer.ts";

/**
 * The newest wrangler that runs on Node 20, the Node of this machine and so of its builds
 * (4.87.0 and later declare `engines.node >=22` and refuse to start on 20).
 */
const WRANGLER_VERSION = "4.86.0";

/** Why this machine cannot run the builds, or false. */
async function unsupported(): Promise<string | false> {
  const detected = await detectSandbox();
  if (detected.mode !== "bubblewrap") return `bubblewrap sandbox unavailable here: ${detected.detail}`;
  if (process.getuid?.() !== 0) return "build uids and network namespaces need Kiln to run as root";
  const network = await detectNetwork();
  return network.isolated ? false : `isolated build network unavailable here: ${network.detail}`;
}
const skip = process.env.KILN_TEST_LONG === "1" ? await unsupported() : "runs in npm run test:long (installs wrangler from the npm registry)";

const ROOT_ENV = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" };
/** A private range only on the veth of the fake's namespace, allowed to the builds. */
const NET = { cidr: "10.98.0.0/24", host: "10.98.0.1/24", peer: "10.98.0.2/24" };
const FAKE_PORT = 8787;
const BASE_URL = `http://10.98.0.2:${FAKE_PORT}/client/v4`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const PROJECT: Record<string, string> = {
  "package.json": `${JSON.stringify({ name: "hello-worker", version: "0.0.0", private: true, scripts: { deploy: "wrangler deploy" }, devDependencies: { wrangler: WRANGLER_VERSION } }, null, 2)}\n`,
  "wrangler.jsonc": [
    "{",
    '  // The name Kiln overrides with WRANGLER_CI_OVERRIDE_NAME (the Worker the trigger belongs to).',
    '  "name": "hello-worker",',
    '  "main": "src/index.ts",',
    '  "compatibility_date": "2025-01-01",',
    "}",
    "",
  ].join("\n"),
  "src/index.ts": [
    "interface Env {}",
    "",
    "export default {",
    "  async fetch(request: Request, _env: Env): Promise<Response> {",
    "    const { pathname } = new URL(request.url);",
    "    return new Response(`hello from ${pathname}`, { headers: { \"content-type\": \"text/plain\" } });",
    "  },",
    "};",
    "",
  ].join("\n"),
};

/** Variables of both triggers: the fake API, and nothing of wrangler's own traffic to the internet. */
const WRANGLER_ENV = {
  CLOUDFLARE_API_BASE_URL: { is_secret: false, value: BASE_URL },
  // Telemetry and error reports off; a hidden banner skips the registry update check.
  WRANGLER_SEND_METRICS: { is_secret: false, value: "false" },
  WRANGLER_SEND_ERROR_REPORTS: { is_secret: false, value: "false" },
  WRANGLER_HIDE_BANNER: { is_secret: false, value: "true" },
};

/** Prints wrangler's output file after it, so the test sees what wrangler wrote there. */
const showOutput = (command: string) => `${command} && echo "ND-JSON FILE START" && cat "$WRANGLER_OUTPUT_FILE_PATH" && echo "ND-JSON FILE END"`;
/**
 * The same, with wrangler's "Version ID:" and "Version Preview URL:" lines kept out of the build's
 * output: Kiln reads those lines when there is no output file, so without them what it stores
 * can only have come from the file.
 */
const fileOnly = (command: string) =>
  `${command} > "$HOME/wrangler.txt" 2>&1; s=$?; grep -v -e "Version ID:" -e "Preview URL:" "$HOME/wrangler.txt"; [ "$s" = 0 ] && echo "ND-JSON FILE START" && cat "$WRANGLER_OUTPUT_FILE_PATH" && echo "ND-JSON FILE END"`;

/** package-lock.json for PROJECT, resolved by npm (no install) in a directory removed at once. */
function lockfile(tmp: string): string {
  const dir = fs.mkdtempSync(path.join(tmp, "lock-"));
  try {
    fs.writeFileSync(path.join(dir, "package.json"), PROJECT["package.json"] ?? "");
    execFileSync("npm", ["install", "--package-lock-only", "--ignore-scripts", "--no-audit", "--no-fund"], {
      cwd: dir,
      env: { ...ROOT_ENV, HOME: dir, npm_config_cache: path.join(dir, ".npm"), npm_config_update_notifier: "false" },
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 120_000,
    });
    return fs.readFileSync(path.join(dir, "package-lock.json"), "utf8");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The JSON entries between the deploy command's markers. */
function ndjsonOf(lines: string[]): Record<string, unknown>[] {
  const start = lines.indexOf("ND-JSON FILE START");
  const end = lines.indexOf("ND-JSON FILE END");
  assert.ok(start >= 0 && end > start, `the output file was printed:\n${lines.join("\n")}`);
  return lines.slice(start + 1, end).filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Builds stored for these version ids, through Cloudflare's #2 (getBuildsByVersionIds). */
async function buildsByVersion(h: Harness, s: BuildSetup, ids: string[]): Promise<Record<string, { build_uuid: string }>> {
  const r = await h.call("GET", `/client/v4/accounts/${s.accountId}/builds/builds?version_ids=${ids.join(",")}`, { token: s.read });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.result.builds;
}

/** "METHOD /accounts/<account>/workers/…" with the account and Worker names generalised. */
const shape = (e: FakeExchange, s: BuildSetup, worker: string) =>
  `${e.method} ${e.path.replace(`/client/v4/accounts/${s.accountId}/`, "/accounts/{account_id}/").replace(`/${worker}`, "/{script_name}")}${e.query}`;

describe("a real wrangler deploys through Kiln to a fake Cloudflare API", { skip }, () => {
  const savedTmpdir = process.env.TMPDIR;
  let tmp: string;
  let repo: TestRepo;
  let h: Harness;
  let cf: FakeCloudflare;
  let deploy: BuildSetup;
  let upload: BuildSetup;
  const started = Date.now();

  before(async () => {
    // Everything this file makes in the temp dir (harness data dir, repository, lockfile run) goes here.
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-test-wrangler-"));
    process.env.TMPDIR = tmp;
    repo = makeRepo({ name: "hello-worker", files: { ...PROJECT, "package-lock.json": lockfile(tmp) } });
    h = await startHarness("sqlite", {}, { runner: true, gitUrlTemplate: repo.template, slots: 2, buildTimeout: 900, buildNetworkAllow: NET.cidr });
    deploy = await setupTrigger(h, repo, { deploy: showOutput("npx wrangler deploy"), env: WRANGLER_ENV }, "hello-deploy");
    upload = await setupTrigger(h, repo, { deploy: fileOnly("npx wrangler versions upload"), env: WRANGLER_ENV }, "hello-upload");
    cf = await startFakeCloudflare({
      host: NET.host,
      peer: NET.peer,
      port: FAKE_PORT,
      accounts: {
        [deploy.accountId]: { token: deploy.tokenSecret, workers: { "hello-deploy": deploy.workerTag } },
        [upload.accountId]: { token: upload.tokenSecret, workers: { "hello-upload": upload.workerTag } },
      },
    });
    assert.equal(cf.baseUrl, BASE_URL);
  });

  after(async () => {
    await h?.close();
    repo?.cleanup();
    if (cf) {
      await cf.close();
      assert.deepEqual(peerLeftovers(cf.peer), []);
    }
    // The runner's build namespaces (kiln-<pid>-…) go with the builds.
    const netns = fs.existsSync("/run/netns") ? fs.readdirSync("/run/netns") : [];
    assert.deepEqual(netns.filter((n) => n.startsWith(`kiln-${process.pid}-`)), [], "network namespaces left");
    if (savedTmpdir === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmpdir;
    const left = tmp ? fs.readdirSync(tmp).filter((n) => !n.startsWith("kiln-gitcfg-")) : [];
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    assert.deepEqual(left, [], "left in the temp dir");
    console.log(`# wrangler ${WRANGLER_VERSION} end to end: ${((Date.now() - started) / 1000).toFixed(1)} s (two builds, each installing wrangler)`);
  });

  /** Both builds at once (two slots): each installs wrangler, which is most of the time. */
  let runs: Promise<{ uuid: string; b: { build_outcome: string; preview_url?: string }; t: string[]; ms: number }[]> | undefined;
  const both = () =>
    (runs ??= Promise.all(
      [deploy, upload].map(async (s) => {
        const t0 = Date.now();
        const uuid = await startBuild(h, s);
        const b = await waitForStatus(h, s, uuid, "stopped", 600_000);
        const t = (await allLogs(h, s, uuid)).lines.map(([, text]) => text);
        return { uuid, b, t, ms: Date.now() - t0 };
      }),
    ));

  it("`wrangler deploy`: Kiln stores the version id wrangler wrote, the one the fake API minted", async () => {
    const [run] = await both();
    assert.ok(run);
    const { uuid, b, t, ms } = run;
    assert.equal(b.build_outcome, "success", t.join("\n"));
    console.log(`# wrangler deploy build: ${(ms / 1000).toFixed(1)} s`);
    assert.ok(t.includes("Installing project dependencies: npm clean-install --progress=false"), t.join("\n"));
    assert.ok(!t.some((l) => l.includes("WRANGLER_OUTPUT_FILE_PATH was not read")), t.join("\n"));

    const entries = ndjsonOf(t);
    assert.equal(entries[0]?.type, "wrangler-session");
    assert.equal(entries[0]?.wrangler_version, WRANGLER_VERSION);
    const entry = entries.find((e) => e.type === "deploy");
    assert.ok(entry, JSON.stringify(entries));
    // WRANGLER_CI_OVERRIDE_NAME and WRANGLER_CI_MATCH_TAG reached wrangler.
    assert.equal(entry.worker_name, "hello-deploy");
    assert.equal(entry.worker_name_overridden, true);
    assert.equal(entry.worker_tag, deploy.workerTag);
    assert.deepEqual(entry.targets, [`https://hello-deploy.${cf.subdomain}.workers.dev`]);
    const versionId = entry.version_id as string;
    assert.match(versionId, UUID);

    // The version the fake API minted for this account, deployed at 100 %.
    const calls = cf.exchanges().filter((e) => e.path.startsWith(`/client/v4/accounts/${deploy.accountId}/`));
    const minted = calls.filter((e) => e.method === "POST" && e.path.endsWith("/versions")).map((e) => (e.answer.result as { id: string }).id);
    assert.deepEqual(minted, [versionId]);
    const deployed = calls.find((e) => e.method === "POST" && e.path.endsWith("/deployments"));
    assert.deepEqual((JSON.parse(deployed?.body ?? "{}") as { versions?: unknown }).versions, [{ version_id: versionId, percentage: 100 }]);

    // Kiln stored it: the build is found by its version id (#2), and in the store.
    const byVersion = await buildsByVersion(h, deploy, [versionId]);
    assert.deepEqual(Object.keys(byVersion), [versionId]);
    assert.equal(byVersion[versionId]?.build_uuid, uuid);
    const stored = await h.store.builds.getByUuid(uuid);
    assert.equal(stored?.version_id, versionId);
    assert.equal(stored?.preview_url, null, "wrangler deploy writes no preview URL");
    assert.equal((await getBuild(h, deploy, uuid)).preview_url, undefined);
  });

  it("`wrangler versions upload`: Kiln stores the version id and preview URL wrangler wrote", async () => {
    const [, run] = await both();
    assert.ok(run);
    const { uuid, b, t, ms } = run;
    assert.equal(b.build_outcome, "success", t.join("\n"));
    console.log(`# wrangler versions upload build: ${(ms / 1000).toFixed(1)} s`);
    assert.ok(t.some((l) => l.startsWith("Uploaded hello-upload")), t.join("\n"));
    // (The command line Kiln logs names them too, as grep's patterns.)
    const named = t.filter((l) => /Version ID:|Preview URL:/.test(l) && !l.startsWith("Executing user deploy command: "));
    assert.deepEqual(named, [], "only the output file names the version");

    const entry = ndjsonOf(t).find((e) => e.type === "version-upload");
    assert.ok(entry, t.join("\n"));
    assert.equal(entry.worker_name, "hello-upload");
    assert.equal(entry.worker_tag, upload.workerTag);
    const versionId = entry.version_id as string;
    const previewUrl = entry.preview_url as string;
    assert.match(versionId, UUID);
    // Cloudflare's version preview URL: <first 8 of the version id>-<worker>.<subdomain>.workers.dev.
    assert.equal(previewUrl, `https://${versionId.slice(0, 8)}-hello-upload.${cf.subdomain}.workers.dev`);

    const calls = cf.exchanges().filter((e) => e.path.startsWith(`/client/v4/accounts/${upload.accountId}/`));
    const minted = calls.filter((e) => e.method === "POST" && e.path.endsWith("/versions")).map((e) => (e.answer.result as { id: string }).id);
    assert.deepEqual(minted, [versionId]);
    assert.ok(!calls.some((e) => e.path.endsWith("/deployments") && e.method === "POST"), "an upload deploys nothing");

    const stored = await h.store.builds.getByUuid(uuid);
    assert.equal(stored?.version_id, versionId);
    assert.equal(stored?.preview_url, previewUrl);
    assert.equal((await getBuild(h, upload, uuid)).preview_url, previewUrl);
    assert.equal((await buildsByVersion(h, upload, [versionId]))[versionId]?.build_uuid, uuid);
  });

  it("every API call carried the build's CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID, and succeeded", async () => {
    const runs = await both();
    assert.ok(runs.every((r) => r.b.build_outcome === "success"));
    const all = cf.exchanges();
    assert.ok(all.length > 0);
    const endpoints: Record<string, string[]> = {};
    for (const [s, worker] of [[deploy, "hello-deploy"], [upload, "hello-upload"]] as const) {
      const calls = all.filter((e) => e.path.startsWith(`/client/v4/accounts/${s.accountId}/`));
      assert.ok(calls.length > 0, worker);
      for (const e of calls) {
        assert.equal(e.authorization, `Bearer ${s.tokenSecret}`, `${e.method} ${e.path}`);
        assert.equal(e.status, 200, `${e.method} ${e.path}: ${JSON.stringify(e.answer)}`);
      }
      endpoints[worker] = calls.map((e) => shape(e, s, worker));
      // The Worker's tag was asked for before anything was uploaded (WRANGLER_CI_MATCH_TAG's check).
      assert.equal(endpoints[worker]?.[0], "GET /accounts/{account_id}/workers/services/{script_name}");
    }
    // Nothing else reached the fake: every call was one of the two accounts'.
    assert.equal(all.length, (endpoints["hello-deploy"]?.length ?? 0) + (endpoints["hello-upload"]?.length ?? 0), JSON.stringify(all.map((e) => `${e.method} ${e.path}`)));
    console.log(`# wrangler deploy called: ${JSON.stringify(endpoints["hello-deploy"])}`);
    console.log(`# wrangler versions upload called: ${JSON.stringify(endpoints["hello-upload"])}`);
  });
});

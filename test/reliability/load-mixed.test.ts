/**
 * Load: a real `kiln serve` (SQLite, embedded runner) under many concurrent API
 * clients issuing a mix of reads and writes over HTTP while builds print numbered log lines.
 * Asserts zero 5xx, the envelope on every answer, and zero lost log lines counted end to end;
 * prints p50/p99 per endpoint group. CI: 30 clients for 5 s and 6 builds; `npm run test:long`:
 * 200 clients for 60 s and 50 builds.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { makeDatabase, type TestDatabase } from "../helpers/databases.ts";
import { kiln, startServer } from "../helpers/cli.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";

const LONG = process.env.KILN_TEST_LONG === "1";
const CLIENTS = LONG ? 200 : 30;
const SECONDS = LONG ? 60 : 5;
const BUILDS = LONG ? 50 : 6;
const LINES = LONG ? 20_000 : 3_000;

const pct = (xs: number[], p: number) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return Math.round((sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0) * 10) / 10;
};

describe(`load: ${CLIENTS} API clients for ${SECONDS} s while ${BUILDS} builds print ${LINES} lines each`, () => {
  let db: TestDatabase;
  let repo: TestRepo;
  let server: Awaited<ReturnType<typeof startServer>>;
  let account: string;
  let token: string;
  let tag: string;
  let trigger: string;

  before(async () => {
    db = await makeDatabase("sqlite");
    repo = makeRepo({ name: "load", files: { "package.json": "{}" } });
    for (let i = 0; i < BUILDS; i++) repo.setBranch(`b${i}`, repo.head("main") as string);
    const admin = async (args: string[]) => JSON.parse((await kiln([...args, ...db.flags, "--json"])).stdout) as Record<string, string>;
    account = (await admin(["account", "create", "--name", "load"])).id as string;
    await admin(["account", "set-limits", "--account", account, "--concurrency", String(BUILDS)]);
    token = (await admin(["token", "create", "--account", account, "--name", "w", "--permission", "Workers CI Write", "--permission", "Workers CI Read"])).value as string;
    tag = (await admin(["worker", "create", "--account", account, "--name", "load-worker"])).tag as string;
    server = await startServer([...db.flags, "--git-url-template", repo.template, "--slots", "4"]);
    const api = async (p: string, method: string, body: unknown) => {
      const r = await fetch(`${server.base}/client/v4/accounts/${account}/builds${p}`, { method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) });
      return ((await r.json()) as { result: Record<string, string> }).result;
    };
    const conn = await api("/repos/connections", "PUT", { provider_type: "github", provider_account_id: "1", provider_account_name: "acme", repo_id: "load", repo_name: "load" });
    const bt = await api("/tokens", "POST", { build_token_name: "t", build_token_secret: "cf-secret-value", cloudflare_token_id: "cf" });
    trigger = (await api("/triggers", "POST", {
      external_script_id: tag, trigger_name: "p", repo_connection_uuid: conn.repo_connection_uuid, build_token_uuid: bt.build_token_uuid,
      build_command: `seq -f "load-line-%g" 1 ${LINES}`, deploy_command: "true", root_directory: "/", branch_includes: ["*"], branch_excludes: [], path_includes: ["*"], path_excludes: [],
    })).trigger_uuid as string;
  });

  after(async () => {
    server?.child.kill("SIGTERM");
    await server?.exited;
    await db?.cleanup();
    repo?.cleanup();
  });

  it("zero 5xx, the envelope on every answer, zero lost log lines; latency per endpoint group", async () => {
    const base = `${server.base}/client/v4`;
    const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
    const builds: string[] = [];
    const latency: Record<string, number[]> = {};
    let fiveXX = 0;
    let notEnvelope = 0;
    let requests = 0;
    const call = async (group: string, path: string, method = "GET", body?: unknown) => {
      const t0 = performance.now();
      const r = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      const text = await r.text();
      (latency[group] ??= []).push(performance.now() - t0);
      requests++;
      if (r.status >= 500) fiveXX++;
      try {
        const json = JSON.parse(text) as { success?: unknown; errors?: unknown };
        if (typeof json.success !== "boolean" || !Array.isArray(json.errors)) notEnvelope++;
        return json as { success: boolean; result: Record<string, unknown> };
      } catch {
        notEnvelope++;
        return undefined;
      }
    };
    // The builds, each on its own branch (no superseding), started through the API.
    for (let i = 0; i < BUILDS; i++) {
      const r = await call("create build", `/accounts/${account}/builds/triggers/${trigger}/builds`, "POST", { branch: `b${i}` });
      builds.push(String(r?.result.build_uuid));
    }
    const deadline = Date.now() + SECONDS * 1000;
    const pick = <T>(xs: T[]) => xs[Math.floor(Math.random() * xs.length)] as T;
    const client = async () => {
      while (Date.now() < deadline) {
        const uuid = pick(builds);
        const n = Math.random();
        if (n < 0.2) await call("get build #4", `/accounts/${account}/builds/builds/${uuid}`);
        else if (n < 0.4) await call("list builds #21", `/accounts/${account}/builds/workers/${tag}/builds?per_page=20`);
        else if (n < 0.5) await call("latest #3", `/accounts/${account}/builds/builds/latest?external_script_ids=${tag}`);
        else if (n < 0.75) await call("logs #6", `/accounts/${account}/builds/builds/${uuid}/logs`);
        else if (n < 0.85) await call("token verify", "/user/tokens/verify");
        else if (n < 0.95) await call("list triggers #22", `/accounts/${account}/builds/workers/${tag}/triggers`);
        else await call("cancel, unknown build #5", `/accounts/${account}/builds/builds/${crypto.randomUUID()}/cancel`, "PUT");
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: CLIENTS }, client));
    const seconds = (performance.now() - t0) / 1000;

    // Every build to its end, then every line of the successful ones through the cursor.
    let checked = 0;
    for (const uuid of builds) {
      let b;
      for (let i = 0; i < 1200; i++) {
        b = (await call("get build #4", `/accounts/${account}/builds/builds/${uuid}`))?.result as { status: string; build_outcome: string } | undefined;
        if (b?.status === "stopped") break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(b?.status, "stopped", uuid);
      assert.equal(b?.build_outcome, "success", uuid);
      const lines: string[] = [];
      let cursor = "";
      for (;;) {
        const r = await call("logs #6", `/accounts/${account}/builds/builds/${uuid}/logs${cursor ? `?cursor=${cursor}` : ""}`);
        const page = r?.result as { lines: [number, string][]; cursor: string; truncated: boolean };
        lines.push(...page.lines.map(([, t]) => t).filter((t) => t.startsWith("load-line-")));
        cursor = page.cursor;
        if (!page.truncated) break;
      }
      assert.deepEqual(lines, Array.from({ length: LINES }, (_, i) => `load-line-${i + 1}`), `${uuid}: lines lost or out of order`);
      checked += lines.length;
    }
    const groups = Object.entries(latency).map(([g, xs]) => `${g}: n=${xs.length} p50 ${pct(xs, 50)} ms p99 ${pct(xs, 99)} ms`);
    console.log(`load: ${CLIENTS} clients, ${seconds.toFixed(1)} s, ${requests} requests (${Math.round(requests / seconds)} req/s), ${fiveXX} 5xx, ${checked} log lines checked end to end\n  ${groups.join("\n  ")}`);
    assert.equal(fiveXX, 0, "no 5xx");
    assert.equal(notEnvelope, 0, "every answer is the envelope");
    assert.ok(checked >= LINES, "at least one build's lines were counted");
  });
});

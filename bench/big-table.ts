/**
 * Reads with a big builds table: BENCH_TABLE_BUILDS builds (default
 * 1,000,000) spread over 1,000 Workers of one account, generated inside the database; then p50/p99
 * of #21 (first page and the deepest page of a Worker), #3 (20 tags) and #4, through the real app
 * (in-process requests), on SQLite and (with KILN_TEST_DATABASE_URL) PostgreSQL. Baseline in the
 * same run: `GET /user/tokens/verify` (authentication only, one indexed read).
 */
import { sql } from "kysely";
import { dialects } from "../test/helpers/databases.ts";
import { startHarness, type Harness } from "../test/helpers/harness.ts";
import { seed, triggerBody } from "../test/helpers/fixtures.ts";

const BUILDS = Number(process.env.BENCH_TABLE_BUILDS ?? 1_000_000);
const WORKERS = 1000;
const REQUESTS = Number(process.env.BENCH_TABLE_REQUESTS ?? 300);

const pct = (xs: number[], p: number) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return Math.round((sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0) * 100) / 100;
};

const METADATA = JSON.stringify({
  build_trigger_source: "push", branch: "main", commit_hash: "a".repeat(40), commit_message: "A commit message of ordinary length", author: "dev@example.com",
  build_command: "npm run build", deploy_command: "npx wrangler deploy", root_directory: "/", build_token_uuid: "00000000-0000-4000-8000-000000000000",
  build_token_name: "token", build_caching_enabled: false, provider_type: "github", provider_account_id: "1", provider_account_name: "acme", repo_id: "1", repo_name: "app",
});

async function fill(h: Harness, accountId: string, triggerUuid: string): Promise<void> {
  const db = h.store.db.kysely;
  if (h.store.db.dialect === "postgres") {
    await sql`insert into workers (tag, account_id, name, created_on, modified_on)
      select lpad(to_hex(i), 32, '0'), ${accountId}, 'w' || i, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z' from generate_series(1, ${WORKERS}) i`.execute(db);
    await sql`insert into builds (uuid, account_id, worker_tag, trigger_uuid, status, build_outcome, created_on, initializing_on, running_on, stopped_on, modified_on, metadata, branch, commit_hash)
      select lpad(to_hex(i / 65536), 8, '0') || '-' || lpad(to_hex(i % 65536), 4, '0') || '-4000-8000-' || lpad(to_hex(i), 12, '0'),
        ${accountId}, lpad(to_hex(i % ${WORKERS} + 1), 32, '0'), ${triggerUuid}, 'stopped', 'success', t, t, t, t, t, ${METADATA}, 'main', ${"a".repeat(40)}
      from (select i, to_char(timestamp '2020-01-01' + i * interval '1 second', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as t from generate_series(1, ${BUILDS}) i) g`.execute(db);
    await sql`analyze builds`.execute(db);
  } else {
    await sql`insert into workers (tag, account_id, name, created_on, modified_on)
      with recursive n(i) as (select 1 union all select i + 1 from n where i < ${WORKERS})
      select printf('%032x', i), ${accountId}, 'w' || i, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z' from n`.execute(db);
    await sql`insert into builds (uuid, account_id, worker_tag, trigger_uuid, status, build_outcome, created_on, initializing_on, running_on, stopped_on, modified_on, metadata, branch, commit_hash)
      with recursive n(i) as (select 1 union all select i + 1 from n where i < ${BUILDS})
      select printf('%08x-%04x-4000-8000-%012x', i / 65536, i % 65536, i), ${accountId}, printf('%032x', i % ${WORKERS} + 1), ${triggerUuid}, 'stopped', 'success', t, t, t, t, t, ${METADATA}, 'main', ${"a".repeat(40)}
      from (select i, strftime('%Y-%m-%dT%H:%M:%fZ', '2020-01-01', '+' || i || ' seconds') as t from n)`.execute(db);
    await sql`analyze`.execute(db);
  }
}

async function measure(label: string, h: Harness, token: string, path: () => string): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < 20; i++) await h.call("GET", path(), { token });
  const times: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const t0 = performance.now();
    const r = await h.call("GET", path(), { token });
    times.push(performance.now() - t0);
    if (r.status !== 200) throw new Error(`${label}: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
  }
  return { p50: pct(times, 50), p99: pct(times, 99) };
}

export async function benchBigTable(): Promise<Record<string, unknown>> {
  const results: Record<string, unknown> = {};
  for (const dialect of dialects()) {
    // Responses are not re-validated against the schemas here: that is the tests' job, not a cost users pay.
    const h = await startHarness(dialect, { validateResponses: false }, { logLevel: "warn" });
    try {
      const account = await h.account("big");
      const token = (await h.token([account.id], ["Workers CI Read", "Workers CI Write"])).value;
      const s = await seed(h, account.id, "trigger-owner");
      const t = await h.call("POST", `/client/v4/accounts/${account.id}/builds/triggers`, { token, body: triggerBody(s) });
      const t0 = performance.now();
      await fill(h, account.id, t.body.result.trigger_uuid);
      const fillSeconds = Math.round((performance.now() - t0) / 100) / 10;
      console.log(`${dialect}: ${BUILDS} builds over ${WORKERS} Workers generated in ${fillSeconds} s`);
      const tag = (i: number) => i.toString(16).padStart(32, "0");
      const rnd = () => 1 + Math.floor(Math.random() * WORKERS);
      const perWorker = Math.ceil(BUILDS / WORKERS);
      const base = `/client/v4/accounts/${account.id}/builds`;
      const uuidOf = (i: number) => `${Math.floor(i / 65536).toString(16).padStart(8, "0")}-${(i % 65536).toString(16).padStart(4, "0")}-4000-8000-${i.toString(16).padStart(12, "0")}`;
      const r: Record<string, unknown> = { builds: BUILDS, workers: WORKERS, fill_s: fillSeconds, requests_each: REQUESTS };
      const baseline = await measure("verify", h, token, () => "/client/v4/user/tokens/verify");
      r.baseline_verify_ms = baseline;
      const cases: [string, () => string][] = [
        ["list_21_first_page", () => `${base}/workers/${tag(rnd())}/builds?per_page=20`],
        ["list_21_deepest_page", () => `${base}/workers/${tag(rnd())}/builds?per_page=20&page=${Math.ceil(perWorker / 20)}`],
        ["latest_3_twenty_tags", () => `${base}/builds/latest?external_script_ids=${Array.from({ length: 20 }, () => tag(rnd())).join(",")}`],
        ["get_4", () => `${base}/builds/${uuidOf(1 + Math.floor(Math.random() * BUILDS))}`],
      ];
      for (const [name, path] of cases) {
        const m = await measure(name, h, token, path);
        r[`${name}_ms`] = { ...m, p50_ratio_to_verify: Math.round((m.p50 / baseline.p50) * 10) / 10 };
        console.log(`${dialect}: ${name} p50 ${m.p50} ms, p99 ${m.p99} ms (verify p50 ${baseline.p50} ms)`);
      }
      results[dialect] = r;
    } finally {
      await h.close();
    }
  }
  return results;
}

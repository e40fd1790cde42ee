/**
 * The log cap under a flood: a real `kiln serve` process (API and runner, SQLite,
 * default --log-cap of 64 MiB) runs six builds at once, each printing one 500 MB line with no
 * newline (`head -c 500000000 /dev/zero | tr '\0' a`). The server's resident memory is sampled
 * from /proc/<pid>/status (VmRSS every 50 ms, VmHWM at the end), against a baseline measured in
 * the same run: the same server running six builds that print nothing. Each flood build's stored
 * log is read back and checked: at most the cap, marker once, final line present.
 *
 * Run alone: `npm run bench -- logcap` (BENCH_LOGCAP_BYTES, BENCH_LOGCAP_BUILDS to change the volume;
 * BENCH_LOGCAP_DIALECT=postgres with KILN_TEST_DATABASE_URL for PostgreSQL).
 */
import fs from "node:fs";
import { pathToFileURL } from "node:url";
import { createAccount, createToken, createWorker } from "../src/domain/admin.ts";
import { openStore } from "../src/store/index.ts";
import { startServer } from "../test/helpers/cli.ts";
import { waitFor } from "../test/helpers/builds.ts";
import { makeDatabase } from "../test/helpers/databases.ts";
import { makeRepo } from "../test/helpers/git-repos.ts";

const BYTES = Number(process.env.BENCH_LOGCAP_BYTES ?? 500_000_000);
const BUILDS = Number(process.env.BENCH_LOGCAP_BUILDS ?? 6);
const CAP = 64 * 1024 * 1024;
const DIALECT = process.env.BENCH_LOGCAP_DIALECT === "postgres" ? "postgres" : "sqlite";

const mib = (n: number) => Math.round((n / 1024 / 1024) * 10) / 10;

/** VmRSS and VmHWM of a process, in bytes. */
function memory(pid: number): { rss: number; hwm: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0) * 1024;
  return { rss: kib("VmRSS"), hwm: kib("VmHWM") };
}

interface Round {
  peakRss: number;
  hwm: number;
  idleRss: number;
  seconds: number;
  stored: number[];
  outcomes: string[];
  checks: string[];
}

/** A fresh server; BUILDS builds of `command` at once; the server's memory while they run. */
async function round(command: string, repoTemplate: string, branches: string[]): Promise<Round> {
  const db = await makeDatabase(DIALECT);
  const server = await startServer([...db.flags, "--git-url-template", repoTemplate, "--slots", String(BUILDS), "--build-timeout", "1800"]);
  const store = await openStore({ dataDir: db.dataDir, ...(db.database ? { database: db.database } : {}), secretKey: Buffer.from(db.secretKey, "base64") });
  try {
    const pid = server.child.pid as number;
    const account = await store.transaction((r) => createAccount(r, "bench"));
    await store.accounts.setLimits(account.id, { concurrency_limit: 1000 });
    const { value } = await store.transaction((r) => createToken(r, { accountIds: [account.id], name: "b", permissionGroups: ["Workers CI Write", "Workers CI Read"] }));
    const worker = await store.transaction((r) => createWorker(r, account.id, "bench"));
    const call = async (path: string, method: string, body?: unknown) =>
      (await fetch(`${server.base}/client/v4/accounts/${account.id}/builds${path}`, {
        method,
        headers: { authorization: `Bearer ${value}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        // eslint-disable-next-line @typescript-eslint/no-explicit-any -- bench code reads what it needs
      }).then((r) => r.json())) as any;
    const conn = await call("/repos/connections", "PUT", { provider_type: "github", provider_account_id: "1", provider_account_name: "acme", repo_id: "bench", repo_name: "logcap-bench" });
    const tok = await call("/tokens", "POST", { build_token_name: "t", build_token_secret: "cf-secret-logcap", cloudflare_token_id: "cf" });
    const trig = await call("/triggers", "POST", {
      external_script_id: worker.tag, trigger_name: "t", repo_connection_uuid: conn.result.repo_connection_uuid, build_token_uuid: tok.result.build_token_uuid,
      build_command: command, deploy_command: "", root_directory: "/", branch_includes: ["*"], branch_excludes: [], path_includes: ["*"], path_excludes: [],
    });
    if (!trig.success) throw new Error(`trigger: ${JSON.stringify(trig.errors)}`);
    const trigger = trig.result.trigger_uuid as string;
    // Warm the mirror with one build first, so both rounds measure the same steady server.
    const warm = (await call(`/triggers/${trigger}/builds`, "POST", { branch: "main" })).result.build_uuid as string;
    await waitFor("the warm-up build", async () => (await store.builds.getByUuid(warm))?.status === "stopped", 120_000);
    const idleRss = memory(pid).rss;
    let peakRss = idleRss;
    const sampler = setInterval(() => {
      try {
        peakRss = Math.max(peakRss, memory(pid).rss);
      } catch {
        /* the server exited; the round fails below */
      }
    }, 50);
    const t0 = performance.now();
    // One branch per build: builds of one trigger and branch would supersede each other.
    const uuids = await Promise.all(branches.map(async (branch) => (await call(`/triggers/${trigger}/builds`, "POST", { branch })).result.build_uuid as string));
    await waitFor("every build", async () => (await Promise.all(uuids.map((u) => store.builds.getByUuid(u)))).every((b) => b?.status === "stopped"), 1_800_000);
    const seconds = (performance.now() - t0) / 1000;
    clearInterval(sampler);
    const { hwm } = memory(pid);
    const stored: number[] = [];
    const outcomes: string[] = [];
    const checks: string[] = [];
    for (const uuid of uuids) {
      const b = await store.builds.getByUuid(uuid);
      outcomes.push(String(b?.build_outcome));
      const lines = await store.builds.readLogs(uuid, 0, 1_000_000);
      const texts = lines.map(([, t]) => t);
      stored.push(texts.reduce((n, t) => n + Buffer.byteLength(t) + 1, 0));
      const markers = texts.filter((t) => t.startsWith("[kiln] Log cap")).length;
      checks.push(`${markers} marker(s), last line ${JSON.stringify(texts.at(-1))}`);
    }
    return { peakRss, hwm, idleRss, seconds, stored, outcomes, checks };
  } finally {
    server.child.kill("SIGTERM");
    const killer = setTimeout(() => server.child.kill("SIGKILL"), 10_000);
    await server.exited;
    clearTimeout(killer);
    await store.close();
    await db.cleanup();
  }
}

export async function benchLogCap(): Promise<Record<string, unknown>> {
  const repo = makeRepo({ name: "logcap-bench", files: { "a.txt": "a" } });
  try {
    const branches = Array.from({ length: BUILDS }, (_, i) => {
      repo.setBranch(`b${i}`, repo.head("main") as string);
      return `b${i}`;
    });
    const base = await round("true", repo.template, branches);
    const flood = await round(`head -c ${BYTES} /dev/zero | tr '\\0' a; echo; echo done`, repo.template, branches);
    for (const [i, bytes] of flood.stored.entries()) {
      if (bytes > CAP) throw new Error(`build ${i} stored ${bytes} bytes, over the cap of ${CAP}`);
      if (flood.outcomes[i] !== "success" || flood.checks[i] !== `${BYTES > CAP ? 1 : 0} marker(s), last line "Success: Build command completed"`) {
        throw new Error(`build ${i}: ${flood.outcomes[i]}, ${flood.checks[i]}`);
      }
    }
    const result = {
      database: DIALECT,
      builds: BUILDS,
      bytes_per_build: BYTES,
      log_cap_bytes: CAP,
      baseline_peak_rss_mib: mib(base.peakRss),
      baseline_vm_hwm_mib: mib(base.hwm),
      flood_peak_rss_mib: mib(flood.peakRss),
      flood_vm_hwm_mib: mib(flood.hwm),
      flood_over_baseline_hwm: Math.round((flood.hwm / base.hwm) * 100) / 100,
      flood_growth_over_baseline_mib: mib(flood.hwm - base.hwm),
      flood_seconds: Math.round(flood.seconds * 10) / 10,
      flood_output_mb_per_second: Math.round((BUILDS * BYTES) / 1e6 / flood.seconds),
      max_stored_bytes: Math.max(...flood.stored),
      stored_within_cap: flood.stored.every((b) => b <= CAP),
    };
    console.log(
      `log cap (${DIALECT}): ${BUILDS} builds × ${BYTES} bytes on one line: server VmHWM ${result.flood_vm_hwm_mib} MiB (peak VmRSS ${result.flood_peak_rss_mib}) ` +
        `vs ${result.baseline_vm_hwm_mib} MiB for ${BUILDS} builds printing nothing (×${result.flood_over_baseline_hwm}, +${result.flood_growth_over_baseline_mib} MiB); ` +
        `${result.flood_seconds} s, ${result.flood_output_mb_per_second} MB/s of output; largest stored log ${result.max_stored_bytes} bytes (cap ${CAP})`,
    );
    return result;
  } finally {
    repo.cleanup();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  console.log(JSON.stringify(await benchLogCap(), null, 2));
}

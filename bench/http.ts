/**
 * Authenticated reads on `kiln serve` (SQLite, metrics on, default logging) against a bare
 * node:http server answering the same bytes, measured in the same run with the same load
 * generator: token verify, the scripts list, one build, a Worker's builds (50 a page).
 *
 * The load generator is autocannon's CLI in its own process, apart from both servers, and the
 * server's log goes to a file: a log piped into the generator's process (as the bench once did)
 * made the generator parse Kiln's log lines while loading Kiln only, which halved Kiln's figure.
 * Rounds alternate so machine noise hits both sides alike.
 *
 * BENCH_LOG_LEVEL=debug logs every request (the default logs successful reads at debug);
 * BENCH_ENDPOINTS=verify,scripts picks endpoints; BENCH_HOLD=1 prints the seeded URLs and keeps the
 * server up until Ctrl-C (for perf or strace by hand); BENCH_NODE_ARGS="--cpu-prof …" adds node flags to
 * the server.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { sql } from "kysely";
import { openStore } from "../src/store/index.ts";
import { loadSecretKey } from "../src/secret-key.ts";
import { newUuid } from "../src/domain/ids.ts";
import { cleanEnv, kiln, KILN_BIN } from "../test/helpers/cli.ts";

const DURATION = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WARMUP = 2;
const CONNECTIONS = 10;
const AUTOCANNON = path.resolve("node_modules/autocannon/autocannon.js");

/** One autocannon run in a child process: average requests per second. */
function load(url: string, headers: Record<string, string>, seconds = DURATION): Promise<number> {
  const args = [AUTOCANNON, "-c", String(CONNECTIONS), "-d", String(seconds), "-p", "1", "-j"];
  for (const [k, v] of Object.entries(headers)) args.push("-H", `${k}=${v}`);
  args.push(url);
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { maxBuffer: 16 * 1024 * 1024 }, (error, stdout) => {
      if (error) return reject(error);
      const result = JSON.parse(stdout) as { requests: { average: number }; non2xx: number; errors: number };
      if (result.non2xx > 0 || result.errors > 0) return reject(new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`));
      resolve(result.requests.average);
    });
  });
}

/** Server CPU time (user + system, µs) from /proc/<pid>/stat, clock ticks of 1/100 s. */
function cpuMicros(pid: number | undefined): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/** Runs one load round, recording the server's CPU µs per request into `cpu`; returns req/s. */
async function measured(child: ChildProcess, cpu: number[], round: () => Promise<number>): Promise<number> {
  const before = cpuMicros(child.pid);
  const rps = await round();
  cpu.push((cpuMicros(child.pid) - before) / (rps * DURATION));
  return rps;
}

async function bare(body: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ["bench/bare-server.mjs"], { env: { ...process.env, BARE_BODY: body }, stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<string>((resolve) => child.stdout?.once("data", (d: Buffer) => resolve(d.toString().trim())));
  return { child, url: `http://127.0.0.1:${port}` };
}

/** `kiln serve` with its log (stderr) going to a file, as a service manager would write it. */
async function serve(dataDir: string, logFile: string, level: string | undefined): Promise<{ child: ChildProcess; base: string; stdout: () => string; exited: Promise<unknown> }> {
  const log = fs.openSync(logFile, "w");
  const nodeArgs = process.env.BENCH_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
  const args = [...nodeArgs, KILN_BIN, "serve", "--port", "0", "--data-dir", dataDir, ...(level ? ["--log-level", level] : [])];
  const child = spawn(process.execPath, args, { env: cleanEnv(), stdio: ["ignore", "pipe", log] });
  fs.closeSync(log);
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise((resolve) => child.on("exit", resolve));
  for (let i = 0; i < 1500; i++) {
    const m = /"url":"(http:\/\/[^"]+)\/client\/v4","msg":"listening"/.exec(fs.readFileSync(logFile, "utf8"));
    if (m?.[1] && out.includes("curl")) return { child, base: m[1], stdout: () => out, exited };
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`server did not start:\n${fs.readFileSync(logFile, "utf8")}`);
}

const BUILD_METADATA = {
  build_trigger_source: "push", branch: "main", commit_hash: "a".repeat(40), commit_message: "A commit message of ordinary length", author: "dev@example.com",
  build_command: "npm run build", deploy_command: "npx wrangler deploy", root_directory: "/", build_caching_enabled: false,
  provider_type: "github", provider_account_id: "1", provider_account_name: "acme", repo_id: "1", repo_name: "app",
};

/** A trigger on Worker `tag` and 60 stopped builds of it (written straight to the database). */
async function seedBuilds(dataDir: string, base: string, account: string, tag: string, headers: Record<string, string>): Promise<string[]> {
  const store = await openStore({ dataDir, secretKey: loadSecretKey({ dataDir, secretKey: undefined }) });
  try {
    const now = new Date().toISOString();
    const connection = { repo_connection_uuid: newUuid(), account_id: account, provider_type: "github" as const, provider_account_id: "1", provider_account_name: "acme", repo_id: "1", repo_name: "app", grant_id: null, created_on: now, modified_on: now, deleted_on: null };
    const buildToken = { build_token_uuid: newUuid(), account_id: account, build_token_name: "deploy", cloudflare_token_id: "cf", owner_type: "user" as const, created_on: now, modified_on: now, deleted_on: null };
    await store.transaction(async (r) => {
      await r.repoConnections.insert(connection);
      await r.buildTokens.insert(buildToken, "cf-secret");
    });
    const response = await fetch(`${base}/client/v4/accounts/${account}/builds/triggers`, {
      method: "POST",
      headers: { ...headers, "content-type": "application/json" },
      body: JSON.stringify({
        external_script_id: tag, trigger_name: "Deploy main", repo_connection_uuid: connection.repo_connection_uuid, build_token_uuid: buildToken.build_token_uuid,
        build_command: "npm run build", deploy_command: "npx wrangler deploy", root_directory: "/", branch_includes: ["main"], branch_excludes: [], path_includes: ["*"], path_excludes: [],
      }),
    });
    const trigger = ((await response.json()) as { result: { trigger_uuid: string } }).result.trigger_uuid;
    const uuids: string[] = [];
    for (let i = 0; i < 60; i++) {
      const uuid = newUuid();
      const t = new Date(Date.parse("2026-01-01T00:00:00.000Z") + i * 60_000).toISOString();
      const metadata = JSON.stringify({ ...BUILD_METADATA, build_token_uuid: buildToken.build_token_uuid, build_token_name: buildToken.build_token_name });
      await sql`insert into builds (uuid, account_id, worker_tag, trigger_uuid, status, build_outcome, created_on, initializing_on, running_on, stopped_on, modified_on, metadata, branch, commit_hash)
        values (${uuid}, ${account}, ${tag}, ${trigger}, 'stopped', 'success', ${t}, ${t}, ${t}, ${t}, ${t}, ${metadata}, 'main', ${"a".repeat(40)})`.execute(store.db.kysely);
      uuids.push(uuid);
    }
    return uuids;
  } finally {
    await store.close();
  }
}

export async function benchHttp(): Promise<Record<string, unknown>> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-bench-"));
  const logFile = path.join(dataDir, "server.log");
  const server = await serve(dataDir, logFile, process.env.BENCH_LOG_LEVEL);
  try {
    const token = /^token=(\S+)$/m.exec(server.stdout())?.[1] ?? "";
    const account = /^account_id=(\S+)$/m.exec(server.stdout())?.[1] ?? "";
    const headers = { authorization: `Bearer ${token}` };
    const tags: string[] = [];
    for (const name of ["api", "web", "cron"]) {
      const created = await kiln(["worker", "create", "--account", account, "--name", name, "--data-dir", dataDir, "--json"]);
      tags.push((JSON.parse(created.stdout) as { tag: string }).tag);
    }
    const builds = await seedBuilds(dataDir, server.base, account, tags[0] ?? "", headers);
    const endpoints: [string, string][] = [
      ["verify", "/client/v4/user/tokens/verify"],
      ["scripts", `/client/v4/accounts/${account}/workers/scripts`],
      ["build", `/client/v4/accounts/${account}/builds/builds/${builds[7]}`],
      ["builds_list", `/client/v4/accounts/${account}/builds/workers/${tags[0]}/builds?per_page=50`],
    ];
    if (process.env.BENCH_HOLD) {
      // For profiling by hand (perf, strace): the seeded server stays up until this process is stopped.
      console.log(JSON.stringify({ pid: server.child.pid, headers, urls: Object.fromEntries(endpoints.map(([l, r]) => [l, server.base + r])) }));
      await new Promise((resolve) => process.once("SIGINT", resolve));
      return { held: true };
    }
    const only = process.env.BENCH_ENDPOINTS?.split(",");
    const results: Record<string, unknown> = { log_level: process.env.BENCH_LOG_LEVEL ?? "default", rounds: ROUNDS, seconds: DURATION, connections: CONNECTIONS };
    for (const [label, route] of endpoints) {
      if (only && !only.includes(label)) continue;
      const response = await fetch(server.base + route, { headers });
      const body = await response.text();
      if (response.status !== 200) throw new Error(`${label}: ${response.status} ${body.slice(0, 300)}`);
      const baseline = await bare(body);
      const kilnRps: number[] = [];
      const bareRps: number[] = [];
      const kilnCpu: number[] = [];
      const bareCpu: number[] = [];
      try {
        // Not counted: the first seconds of a fresh server are spent compiling (tsx, the JIT).
        await load(server.base + route, headers, WARMUP);
        await load(baseline.url + route, headers, WARMUP);
        for (let round = 0; round < ROUNDS; round++) {
          bareRps.push(await measured(baseline.child, bareCpu, () => load(baseline.url + route, headers)));
          kilnRps.push(await measured(server.child, kilnCpu, () => load(server.base + route, headers)));
        }
      } finally {
        baseline.child.kill("SIGTERM");
      }
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      const ratios = kilnRps.map((k, i) => Math.round((k / (bareRps[i] ?? 1)) * 100) / 100);
      results[label] = {
        ratio: Math.round((mean(kilnRps) / mean(bareRps)) * 100) / 100,
        round_ratios: ratios,
        kiln_rps: Math.round(mean(kilnRps)),
        bare_rps: Math.round(mean(bareRps)),
        body_bytes: body.length,
        // CPU the server process spent per request (user + system): less swayed than req/s by
        // what else runs on the machine, and what the ratio comes down to when the server is
        // the bottleneck.
        kiln_cpu_us: Math.round(mean(kilnCpu) * 10) / 10,
        bare_cpu_us: Math.round(mean(bareCpu) * 10) / 10,
      };
      console.log(`${label}: ratio ${(mean(kilnRps) / mean(bareRps)).toFixed(2)} (rounds ${ratios.join(", ")}; kiln ${Math.round(mean(kilnRps))} req/s, bare ${Math.round(mean(bareRps))} req/s, ${body.length} B; server CPU a request: kiln ${mean(kilnCpu).toFixed(1)} µs, bare ${mean(bareCpu).toFixed(1)} µs)`);
    }
    results.log_bytes = fs.statSync(logFile).size;
    return results;
  } finally {
    server.child.kill("SIGTERM");
    await server.exited;
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

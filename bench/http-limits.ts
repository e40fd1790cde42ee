/**
 * What abusive clients cost everybody else, on `kiln serve` with its default limits:
 * a bystander account's latency (GET its scripts list, 4 at a time) alone, beside 32 clients
 * posting 1 MiB bodies without a token, and beside 3,000 live log streams opened by one read
 * token; then slowloris (2,000 partial-header and 1,100 slow-body sockets) on a server whose
 * open-file limit is 1,024 and cannot be raised, and how many of 20 fresh requests are answered.
 *
 * Each phase also reports the server's CPU time while it lasted (what the attack costs it, apart
 * from the attackers' own CPU on a shared machine).
 *
 * Run alone: `node --import tsx bench/http-limits.ts` (BENCH_SECONDS per phase, default 5;
 * BENCH_DATABASE=postgres with KILN_TEST_DATABASE_URL for PostgreSQL). The
 * servers are `bin/kiln` of the current directory, so the same file measures another checkout:
 * `cd <old checkout> && node --import tsx /path/to/bench/http-limits.ts`.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import { once } from "node:events";
import { pathToFileURL } from "node:url";
import { kiln, startServer } from "../test/helpers/cli.ts";
import { makeDatabase, type TestDatabase } from "../test/helpers/databases.ts";
import { makeRepo } from "../test/helpers/git-repos.ts";
import { httpTrigger } from "../test/helpers/served-builds.ts";
import { dribble, get, hold, holdMany, percentile, portOf, type Held } from "../test/helpers/raw-http.ts";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);

/** 32 loops POSTing 1 MiB to argv[1] without credentials; on SIGTERM prints what was answered. */
const UPLOAD_FLOOD = `
const url = process.argv[1];
const body = Buffer.from(JSON.stringify({ build_token_name: "x", pad: "y".repeat(1024 * 1024 - 40) }));
let answered = 0, cut = 0, stop = false;
const loop = async () => {
  while (!stop) {
    try {
      const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
      await r.arrayBuffer();
      answered++;
    } catch {
      cut++;
    }
  }
};
for (let i = 0; i < 32; i++) loop();
process.on("SIGTERM", () => { stop = true; process.stdout.write(JSON.stringify({ uploads_answered: answered, uploads_cut: cut }), () => process.exit(0)); });
`;

async function admin(db: TestDatabase, args: string[]): Promise<Record<string, string>> {
  const r = await kiln([...args, ...db.flags, "--json"]);
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as Record<string, string>;
}

/** CPU time (user + system) a process has used, in ms (Linux; clock ticks of 10 ms). */
function cpuMs(pid: number | undefined): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}

/** The bystander: 4 loops of GET scripts for `seconds`; latencies in ms. */
async function bystander(base: string, account: string, token: string, seconds: number): Promise<{ p50: number; p99: number; max: number; requests: number; failed: number }> {
  const times: number[] = [];
  let failed = 0;
  const until = Date.now() + seconds * 1000;
  const loop = async () => {
    while (Date.now() < until) {
      const t0 = performance.now();
      try {
        const r = await fetch(`${base}/client/v4/accounts/${account}/workers/scripts`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) });
        await r.arrayBuffer();
        if (r.status !== 200) failed++;
      } catch {
        failed++;
      }
      times.push(performance.now() - t0);
    }
  };
  await Promise.all([loop(), loop(), loop(), loop()]);
  const r1 = (x: number) => Math.round(x * 10) / 10;
  return { p50: r1(percentile(times, 50)), p99: r1(percentile(times, 99)), max: r1(Math.max(...times)), requests: times.length, failed };
}

export async function benchHttpLimits(): Promise<Record<string, unknown>> {
  const db = await makeDatabase(process.env.BENCH_DATABASE === "postgres" ? "postgres" : "sqlite");
  const repo = makeRepo({ name: "bench-limits", files: { "package.json": "{}" } });
  const results: Record<string, unknown> = {};
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  let lowFd: Awaited<ReturnType<typeof startServer>> | undefined;
  try {
    const account = (await admin(db, ["account", "create", "--name", "attacker"])).id as string;
    const write = (await admin(db, ["token", "create", "--account", account, "--name", "w", "--permission", "Workers CI Write"])).value as string;
    const read = (await admin(db, ["token", "create", "--account", account, "--name", "r", "--permission", "Workers CI Read"])).value as string;
    const other = (await admin(db, ["account", "create", "--name", "bystander"])).id as string;
    const otherToken = (await admin(db, ["token", "create", "--account", other, "--name", "o", "--permission", "Workers CI Read"])).value as string;
    const tag = (await admin(db, ["worker", "create", "--account", account, "--name", "app"])).tag as string;
    for (const name of ["api", "web", "cron"]) await admin(db, ["worker", "create", "--account", other, "--name", name]);

    server = await startServer([...db.flags, "--no-runner", "--git-url-template", repo.template]);
    const base = server.base;
    const pid = server.child.pid;
    let cpu = cpuMs(pid);
    const serverCpu = () => {
      const before = cpu;
      cpu = cpuMs(pid);
      return { server_cpu_ms: cpu - before };
    };
    results.alone = { ...(await bystander(base, other, otherToken, SECONDS)), ...serverCpu() };
    console.log("bystander alone", results.alone);

    // 32 clients posting 1 MiB without credentials, as fast as they are answered, from a process
    // of their own (in this one they would slow the bystander's own event loop).
    {
      const flood = spawn(process.execPath, ["--input-type=module", "-e", UPLOAD_FLOOD, `${base}/client/v4/accounts/${account}/builds/tokens`], { stdio: ["ignore", "pipe", "inherit"] });
      let report = "";
      flood.stdout?.on("data", (d: Buffer) => (report += d.toString()));
      await new Promise((r) => setTimeout(r, 500));
      serverCpu();
      const measured = { ...(await bystander(base, other, otherToken, SECONDS)), ...serverCpu() };
      flood.kill("SIGTERM");
      await once(flood, "exit");
      results.unauthenticated_uploads = { ...measured, ...(JSON.parse(report || "{}") as object) };
      console.log("bystander beside 32 unauthenticated 1 MiB uploaders", results.unauthenticated_uploads);
    }

    // 3,000 live log streams from one read token on a queued build (no runner: it stays queued).
    {
      const { api, triggerUuid } = await httpTrigger(base, write, account, { workerTag: tag, repoId: "b-1", repoName: "bench-limits" });
      const build = (await api(`/triggers/${triggerUuid}/builds`, "POST", { branch: "main" })).build_uuid as string;
      const path = `/client/v4/accounts/${account}/builds/builds/${build}/logs/stream`;
      const streams: Held[] = [];
      try {
        for (let i = 0; i < 3000; i += 100) {
          streams.push(...(await Promise.all(Array.from({ length: 100 }, () => hold(portOf(base), get(path, read).replace("Connection: close\r\n", ""))))));
        }
        await new Promise((r) => setTimeout(r, 1000));
        const open = streams.filter((s) => s.received().startsWith("HTTP/1.1 200")).length;
        const refused = streams.filter((s) => s.received().startsWith("HTTP/1.1 429")).length;
        serverCpu();
        const measured = { ...(await bystander(base, other, otherToken, SECONDS)), ...serverCpu() };
        results.live_streams = { ...measured, streams_open: open, streams_refused_429: refused };
        console.log("bystander beside 3,000 live streams of one token", results.live_streams);
      } finally {
        for (const s of streams) s.socket.destroy();
      }
    }
    server.child.kill("SIGTERM");
    await server.exited;
    server = undefined;

    // Slowloris on 1,024 descriptors that cannot be raised.
    lowFd = await startServer([...db.flags, "--no-runner"], {}, { prefix: ["prlimit", "--nofile=1024:1024"] });
    {
      const port = portOf(lowFd.base);
      const partial = await holdMany(port, 2000, (i) => `GET /client/v4/user/tokens/verify HTTP/1.1\r\nHost: kiln\r\nX-Slow-${i}: `);
      const slow = await holdMany(
        port,
        1100,
        () => `POST /client/v4/accounts/${account}/builds/tokens HTTP/1.1\r\nHost: kiln\r\nAuthorization: Bearer ${write}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{`,
      );
      const stop = dribble([...partial, ...slow], "a", 500);
      try {
        await new Promise((r) => setTimeout(r, 1000));
        const times: number[] = [];
        let unanswered = 0;
        for (let i = 0; i < 20; i++) {
          const t0 = performance.now();
          try {
            const h = await hold(port, get("/client/v4/user/tokens/verify", write));
            const a = await Promise.race([h.answer, new Promise<undefined>((r) => setTimeout(r, 5000))]);
            h.socket.destroy();
            if (a?.status === 200) times.push(performance.now() - t0);
            else unanswered++;
          } catch {
            unanswered++;
          }
        }
        const open = [...partial, ...slow].filter((h) => h.closedAt === undefined).length;
        results.slowloris = { fresh_answered: times.length, fresh_unanswered: unanswered, fresh_max_ms: times.length ? Math.round(Math.max(...times)) : null, attack_sockets_open: open };
        console.log("slowloris, 3,100 sockets, open-file limit 1,024", results.slowloris);
      } finally {
        stop();
        for (const h of [...partial, ...slow]) h.socket.destroy();
      }
    }
    return results;
  } finally {
    for (const s of [server, lowFd]) {
      if (!s) continue;
      s.child.kill("SIGTERM");
      await s.exited;
    }
    repo.cleanup();
    await db.cleanup();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  console.log(JSON.stringify(await benchHttpLimits(), null, 2));
}

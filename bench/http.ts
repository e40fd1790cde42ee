/**
 * Authenticated GET /user/tokens/verify and the scripts list on `kiln serve` (SQLite),
 * against a bare node:http server answering the same bytes, measured in the same run with
 * the same load generator. Rounds alternate so machine noise hits both sides alike.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import autocannon from "autocannon";
import { kiln, startServer } from "../test/helpers/cli.ts";

const DURATION = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const CONNECTIONS = 10;

async function load(url: string, headers: Record<string, string>): Promise<number> {
  const result = await autocannon({ url, headers, connections: CONNECTIONS, duration: DURATION, pipelining: 1 });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return result.requests.average;
}

async function bare(body: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ["bench/bare-server.mjs"], { env: { ...process.env, BARE_BODY: body }, stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<string>((resolve) => child.stdout?.once("data", (d: Buffer) => resolve(d.toString().trim())));
  return { child, url: `http://127.0.0.1:${port}` };
}

export async function benchHttp(): Promise<Record<string, unknown>> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-bench-"));
  // Default log level (info: one JSON line per request), as `npm start` runs.
  const server = await startServer(["--data-dir", dataDir]);
  try {
    while (!server.stdout().includes("curl")) await new Promise((r) => setTimeout(r, 20));
    const token = /^token=(\S+)$/m.exec(server.stdout())?.[1] ?? "";
    const account = /^account_id=(\S+)$/m.exec(server.stdout())?.[1] ?? "";
    for (const name of ["api", "web", "cron"]) await kiln(["worker", "create", "--account", account, "--name", name, "--data-dir", dataDir]);
    const headers = { authorization: `Bearer ${token}` };
    const results: Record<string, unknown> = {};
    for (const [label, route] of [
      ["verify", "/client/v4/user/tokens/verify"],
      ["scripts", `/client/v4/accounts/${account}/workers/scripts`],
    ] as const) {
      const body = await (await fetch(server.base + route, { headers })).text();
      const baseline = await bare(body);
      const kilnRps: number[] = [];
      const bareRps: number[] = [];
      try {
        for (let round = 0; round < ROUNDS; round++) {
          bareRps.push(await load(baseline.url + route, headers));
          kilnRps.push(await load(server.base + route, headers));
        }
      } finally {
        baseline.child.kill("SIGTERM");
      }
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      results[label] = {
        kiln_rps: Math.round(mean(kilnRps)),
        bare_rps: Math.round(mean(bareRps)),
        ratio: Math.round((mean(kilnRps) / mean(bareRps)) * 100) / 100,
        body_bytes: body.length,
      };
      console.log(`${label}: kiln ${Math.round(mean(kilnRps))} req/s, bare ${Math.round(mean(bareRps))} req/s, ratio ${(mean(kilnRps) / mean(bareRps)).toFixed(2)}`);
    }
    return results;
  } finally {
    server.child.kill("SIGTERM");
    await server.exited;
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * `npm run bench [-- name…]`: runs the benchmarks (all by default: http, logs, cancel, sandbox, builds, cache, fleet, table, limits, logcap, create)
 * and prints one JSON summary. Figures go to docs/benchmarks.md.
 */
import os from "node:os";

const suites: Record<string, () => Promise<Record<string, unknown>>> = {
  http: async () => (await import("./http.ts")).benchHttp(),
  logs: async () => (await import("./logs.ts")).benchLogs(),
  cancel: async () => (await import("./cancel.ts")).benchCancel(),
  sandbox: async () => (await import("./sandbox.ts")).benchSandbox(),
  builds: async () => (await import("./builds.ts")).benchBuilds(),
  cache: async () => (await import("./cache.ts")).benchCache(),
  fleet: async () => (await import("./fleet.ts")).benchFleet(),
  table: async () => (await import("./big-table.ts")).benchBigTable(),
  limits: async () => (await import("./http-limits.ts")).benchHttpLimits(),
  logcap: async () => (await import("./log-cap.ts")).benchLogCap(),
  create: async () => (await import("./create.ts")).benchCreate(),
};

const wanted = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const unknown = wanted.filter((w) => !(w in suites));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(", ")}; choose from ${Object.keys(suites).join(", ")}`);
  process.exit(2);
}
const summary: Record<string, unknown> = {
  date: new Date().toISOString(),
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version },
};
for (const name of wanted.length > 0 ? wanted : Object.keys(suites)) {
  console.log(`== ${name}`);
  const run = suites[name];
  if (run) summary[name] = await run();
}
console.log(JSON.stringify(summary, null, 2));

/**
 * docs/api.md is generated from the route table: `node --import tsx scripts/api-doc.ts`
 * writes it, and test/docs.test.ts fails when the committed file differs (so it stays true).
 */
import fs from "node:fs";
import { routes } from "../src/api/routes/index.ts";

/** Cloudflare's 38 Workers Builds endpoints (https://developers.cloudflare.com/api/resources/workers_builds/), numbered as docs/api.md shows them. */
export const CLOUDFLARE: [number, string, string][] = [
  [1, "GET", "getAccountLimits"], [2, "GET", "getBuildsByVersionIds"], [3, "GET", "getLatestBuildsByScripts"],
  [4, "GET", "getBuildByUuid"], [5, "PUT", "cancelBuildByUuid"], [6, "GET", "getBuildLogs"],
  [7, "PUT", "upsertRepoConnection"], [8, "DELETE", "deleteRepoConnection"], [9, "GET", "getWorkerConfigAutofill"],
  [10, "GET", "listBuildTokens"], [11, "POST", "createBuildToken"], [12, "DELETE", "deleteBuildToken"],
  [13, "POST", "createTrigger"], [14, "PATCH", "updateTrigger"], [15, "DELETE", "deleteTrigger"],
  [16, "POST", "createManualBuild"], [17, "POST", "purgeBuildCache"], [18, "GET", "listEnvironmentVariables"],
  [19, "PATCH", "upsertEnvironmentVariables"], [20, "DELETE", "deleteEnvironmentVariable"], [21, "GET", "listBuildsByScript"],
  [22, "GET", "listTriggersByScript"], [23, "POST", "createWorkerBuild"], [24, "GET", "getWorkerBuild"],
  [25, "PATCH", "updateWorkerBuild"], [26, "DELETE", "deleteWorkerBuild"], [27, "POST", "migrateWorkerToPreviews"],
  [28, "GET", "listWorkerPreviews"], [29, "GET", "getWorkerPreview"], [30, "PATCH", "updateWorkerPreview"],
  [31, "GET", "listBuildsByPreview"], [32, "POST", "createPreviewBuild"], [33, "GET", "listDeployHooks"],
  [34, "POST", "createDeployHook"], [35, "GET", "getDeployHook"], [36, "PUT", "updateDeployHook"],
  [37, "DELETE", "deleteDeployHook"], [38, "POST", "triggerDeployHook"],
];

const access = (auth: string) =>
  ({
    read: "Workers CI Read or Write",
    write: "Workers CI Write",
    queues_read: "Queues Read or Write (or Workers CI Write)",
    queues_write: "Queues Write (or Workers CI Write)",
    authenticated: "any valid credentials",
    none: "none",
  })[auth] ?? auth;

export function renderApiDoc(): string {
  const byOp = new Map(routes.map((r) => [r.operationId, r]));
  const lines = [
    "# API",
    "",
    "Generated from the route table by `scripts/api-doc.ts` (do not edit by hand; `test/docs.test.ts` checks it).",
    "Base URL: `http://<kiln>/client/v4`. The OpenAPI 3.1 document of the same routes is served at `/client/v4/openapi.json`.",
    "",
    "## Cloudflare's Workers Builds endpoints",
    "",
    "| # | method | path | operationId | permission | Kiln status |",
    "|---|---|---|---|---|---|",
  ];
  for (const [n, method, op] of CLOUDFLARE) {
    const r = byOp.get(op);
    const status = r ? (r.kilnStatus ?? "implemented") : "not yet";
    const path = r ? `\`${r.path.replace(/:(\w+)/g, "{$1}")}\`` : "—";
    lines.push(`| ${n} | ${r?.method ?? method} | ${path} | \`${op}\` | ${r ? access(r.auth) : "—"} | ${status} |`);
  }
  const cloudflareOps = new Set(CLOUDFLARE.map(([, , op]) => op));
  lines.push("", "## Other endpoints", "", "| method | path | operationId | permission | Kiln status |", "|---|---|---|---|---|");
  for (const r of routes.filter((x) => !cloudflareOps.has(x.operationId))) {
    lines.push(`| ${r.method} | \`${r.path.replace(/:(\w+)/g, "{$1}")}\` | \`${r.operationId}\` | ${access(r.auth)} | ${r.kilnStatus ?? "implemented"} |`);
  }
  lines.push("| GET | `/openapi.json` | — | none | extension |", "");
  lines.push("Outside `/client/v4`: `GET /healthz`, `GET /metrics` (Prometheus).", "");
  lines.push("Status: *implemented* follows the shapes of Cloudflare's API reference; *inferred* fills a gap the public sources leave (each inference is listed in", "[compatibility.md](compatibility.md)); *extension* is Kiln's own; *not yet* is not served (400 7003/7000).", "");
  return lines.join("\n");
}

if (process.argv[1]?.endsWith("api-doc.ts")) {
  fs.writeFileSync("docs/api.md", renderApiDoc());
  console.log("wrote docs/api.md");
}

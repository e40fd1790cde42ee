/**
 * The program behind test/helpers/fake-cloudflare.ts: an HTTP server answering the few Cloudflare
 * API calls `wrangler deploy` and `wrangler versions upload` make for a Worker that already
 * exists (Kiln's Workers are registered before they build), in Cloudflare's envelope
 * (https://developers.cloudflare.com/fundamentals/api/how-to/make-api-calls/). Run in a test
 * network namespace by startPeer; configured by the environment:
 *
 *   PORT            where to listen (all addresses)
 *   FAKE_CLOUDFLARE JSON {"subdomain": "…", "accounts": {"<id>": {"token": "…", "workers": {"<name>": "<tag>"}}}}
 *
 * Prints `LISTENING` once it accepts connections, then one `EXCHANGE <json>` line per request:
 * what was asked (method, path, query, Authorization, content type, body) and what was answered
 * (status and envelope), so the test sees every call, the credentials it carried and the ids
 * this server chose.
 *
 * Answers follow Cloudflare's API reference (https://developers.cloudflare.com/api/resources/workers/):
 *   GET   /accounts/{a}/workers/services/{w}                  the Worker; its tag is what wrangler
 *                                                             checks WRANGLER_CI_MATCH_TAG against
 *   GET   /accounts/{a}/workers/scripts/{w}/settings          no bindings
 *   GET   /accounts/{a}/workers/scripts/{w}/deployments       the deployments made here, newest first
 *   POST  /accounts/{a}/workers/scripts/{w}/versions          a new version (random UUID, has_preview)
 *   POST  /accounts/{a}/workers/scripts/{w}/deployments       100 % of traffic to the versions named
 *   PATCH /accounts/{a}/workers/scripts/{w}/script-settings   echoed
 *   GET   /accounts/{a}/workers/subdomain                     the account's workers.dev subdomain
 *   GET   /accounts/{a}/workers/scripts/{w}/subdomain         workers.dev and preview URLs enabled
 *   POST  /accounts/{a}/workers/scripts/{w}/subdomain         updated
 * A wrong or missing bearer token, or an account it does not know, is 403 10000; an unknown
 * Worker 404 10007 (the code wrangler reads as "not found"); any other route 400 7003 + 7000.
 */
import { randomUUID } from "node:crypto";
import http from "node:http";

interface AccountConfig {
  token: string;
  workers: Record<string, string>;
}
interface Config {
  subdomain: string;
  accounts: Record<string, AccountConfig>;
}

const config = JSON.parse(process.env.FAKE_CLOUDFLARE ?? "{}") as Config;
const MAX_RECORDED_BODY = 64 * 1024;

interface Deployment {
  id: string;
  source: string;
  strategy: string;
  author_email: string;
  created_on: string;
  annotations: Record<string, string>;
  versions: { version_id: string; percentage: number }[];
}
interface WorkerState {
  versions: string[];
  deployments: Deployment[];
  subdomain: { enabled: boolean; previews_enabled: boolean };
}
const state = new Map<string, WorkerState>();
const stateOf = (account: string, worker: string): WorkerState => {
  const key = `${account}/${worker}`;
  let s = state.get(key);
  if (!s) {
    s = { versions: [], deployments: [], subdomain: { enabled: true, previews_enabled: true } };
    state.set(key, s);
  }
  return s;
};

type Envelope = { success: boolean; errors: { code: number; message: string }[]; messages: unknown[]; result: unknown };
const ok = (result: unknown): [number, Envelope] => [200, { success: true, errors: [], messages: [], result }];
const fail = (status: number, ...errors: { code: number; message: string }[]): [number, Envelope] => [status, { success: false, errors, messages: [], result: null }];

function answer(method: string, path: string, headers: http.IncomingHttpHeaders, body: Buffer): [number, Envelope] {
  const route = /^\/client\/v4\/accounts\/([^/]+)\/workers\/(.*)$/.exec(path);
  if (!route) return fail(400, { code: 7003, message: `Could not route to ${path}, perhaps your object identifier is invalid?` }, { code: 7000, message: "No route for that URI" });
  const [, accountId = "", rest = ""] = route;
  const account = config.accounts[accountId];
  // One answer for every credential problem, as wrangler reports it ("Authentication error [code: 10000]").
  if (!account || headers.authorization !== `Bearer ${account.token}`) return fail(403, { code: 10000, message: "Authentication error" });
  if (rest === "subdomain" && method === "GET") return ok({ subdomain: config.subdomain });

  const worker = /^(services|scripts)\/([^/]+)(?:\/(.*))?$/.exec(rest);
  if (!worker) return fail(400, { code: 7003, message: `Could not route to ${path}, perhaps your object identifier is invalid?` }, { code: 7000, message: "No route for that URI" });
  const [, kind, name = "", sub = ""] = worker;
  const tag = account.workers[name];
  if (tag === undefined) return fail(404, { code: 10007, message: "This Worker does not exist on your account." });
  const s = stateOf(accountId, name);
  const now = new Date().toISOString();
  const json = (): Record<string, unknown> => (body.length ? (JSON.parse(body.toString("utf8")) as Record<string, unknown>) : {});

  if (kind === "services" && sub === "" && method === "GET") {
    const script = { id: name, tag, etag: `etag-${s.versions.length}`, handlers: ["fetch"], created_on: now, modified_on: now, last_deployed_from: "wrangler" };
    return ok({ id: name, created_on: now, modified_on: now, default_environment: { environment: "production", created_on: now, modified_on: now, script } });
  }
  if (kind !== "scripts") return fail(400, { code: 7003, message: `Could not route to ${path}, perhaps your object identifier is invalid?` }, { code: 7000, message: "No route for that URI" });

  switch (`${method} ${sub}`) {
    case "GET settings":
      return ok({ bindings: [], compatibility_date: "2025-01-01", compatibility_flags: [], logpush: false, tail_consumers: null, observability: { enabled: false } });
    case "GET deployments":
      return ok({ deployments: [...s.deployments].reverse() });
    case "POST versions": {
      // The upload is multipart: a "metadata" part and the modules; only its size matters here.
      if (!String(headers["content-type"] ?? "").startsWith("multipart/form-data")) return fail(400, { code: 10021, message: "Expected a multipart upload" });
      const id = randomUUID();
      s.versions.push(id);
      return ok({
        id,
        number: s.versions.length,
        metadata: { author_email: "kiln-test@example.com", author_id: "kiln-test", created_on: now, modified_on: now, source: "wrangler", has_preview: true },
        annotations: {},
        resources: { script: { etag: `etag-${s.versions.length}`, handlers: ["fetch"], last_deployed_from: "wrangler" }, script_runtime: { usage_model: "standard" }, bindings: [] },
        startup_time_ms: 1,
      });
    }
    case "POST deployments": {
      const asked = json() as { strategy?: string; versions?: { version_id: string; percentage: number }[]; annotations?: Record<string, string> };
      const unknown = (asked.versions ?? []).filter((v) => !s.versions.includes(v.version_id));
      if (unknown.length) return fail(400, { code: 10250, message: `Unknown version ${unknown[0]?.version_id}` });
      const deployment: Deployment = {
        id: randomUUID(),
        source: "wrangler",
        strategy: asked.strategy ?? "percentage",
        author_email: "kiln-test@example.com",
        created_on: now,
        annotations: asked.annotations ?? {},
        versions: asked.versions ?? [],
      };
      s.deployments.push(deployment);
      return ok(deployment);
    }
    case "PATCH script-settings":
      return ok(json());
    case "GET subdomain":
      return ok(s.subdomain);
    case "POST subdomain": {
      const asked = json() as { enabled?: boolean; previews_enabled?: boolean };
      if (typeof asked.enabled === "boolean") s.subdomain.enabled = asked.enabled;
      if (typeof asked.previews_enabled === "boolean") s.subdomain.previews_enabled = asked.previews_enabled;
      return ok(s.subdomain);
    }
  }
  return fail(400, { code: 7003, message: `Could not route to ${path}, perhaps your object identifier is invalid?` }, { code: 7000, message: "No route for that URI" });
}

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks);
    const url = new URL(req.url ?? "/", "http://fake");
    let status: number;
    let envelope: Envelope;
    try {
      [status, envelope] = answer(req.method ?? "GET", url.pathname, req.headers, body);
    } catch (error) {
      [status, envelope] = fail(400, { code: 10001, message: `Malformed request: ${(error as Error).message}` });
    }
    const record = {
      method: req.method,
      path: url.pathname,
      query: url.search,
      authorization: req.headers.authorization ?? null,
      contentType: req.headers["content-type"] ?? null,
      bodyBytes: body.length,
      body: body.subarray(0, MAX_RECORDED_BODY).toString("utf8"),
      status,
      answer: envelope,
    };
    console.log(`EXCHANGE ${JSON.stringify(record)}`);
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(envelope));
  });
});
server.listen(Number(process.env.PORT), "0.0.0.0", () => console.log("LISTENING"));

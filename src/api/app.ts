/**
 * The HTTP app factory: builds a Fastify instance from the route table, without listening,
 * so tests can drive it in-process (inject) and `kiln serve` only binds the port.
 *
 * Every answer under /client/v4 is the Cloudflare envelope: routes go through one wrapper
 * (auth → params → query → body → handler → envelope), and every failure, including
 * Fastify's own (body too large, bad URL), goes through one error handler; what Node's HTTP
 * parser and timeouts refuse before Fastify sees a request is written in the envelope too
 * (client-errors.ts).
 *
 * Credentials are checked before the body is read (an onRequest hook on routes with a body): a
 * caller without them costs a lookup, never a 1 MiB read and parse.
 */
import { randomUUID } from "node:crypto";
import http, { type IncomingMessage } from "node:http";
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { authenticate, authorize } from "../domain/auth.ts";
import type { Principal } from "../domain/types.ts";
import { errors, KilnError } from "../errors.ts";
import { WEBHOOK_USER_AGENT_PREFIX } from "../domain/standard-webhooks.ts";
import { isUniqueViolation, storageFailureOf } from "../store/database.ts";
import { readCredential } from "./credentials.ts";
import type { AppDeps } from "./deps.ts";
import { answerClientError, MAX_URL_LENGTH } from "./client-errors.ts";
import { performance } from "node:perf_hooks";
import { AnswerCache, callerKey } from "./answer-cache.ts";
import { callerIdOf, JSON_TYPE, reuseFront } from "./reuse-front.ts";
import { continueBody } from "./continue.ts";
import { lazyChildLogger } from "./lazy-logger.ts";
import { failure, success } from "./envelope.ts";
import { createHttpMetrics, type HttpMetrics } from "./metrics.ts";
import { openApiDocument } from "./openapi.ts";
import type { RouteSpec } from "./route.ts";
import { routes as defaultRoutes } from "./routes/index.ts";
import { parsePart } from "./validation.ts";

export const API_PREFIX = "/client/v4";
export const BODY_LIMIT = 1024 * 1024;
/** Routes anyone may call (the deploy-hook trigger) take no body worth reading. */
export const UNAUTHENTICATED_BODY_LIMIT = 16 * 1024;

export interface AppOptions {
  /** Check every answer against its route's result schema (tests turn this on). */
  validateResponses?: boolean;
  routes?: RouteSpec[];
  /** Routes outside the Cloudflare API (the webhook endpoints), registered with the same error handling. */
  plugins?: ((fastify: FastifyInstance, deps: AppDeps) => Promise<void>)[];
}

export interface KilnApp {
  fastify: FastifyInstance;
  metrics: HttpMetrics;
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;
/** The caller's x-request-id when it is a sane one, else a new one. */
const requestIdOf = (req: IncomingMessage): string => {
  const incoming = req.headers["x-request-id"];
  return typeof incoming === "string" && REQUEST_ID.test(incoming) ? incoming : randomUUID();
};

/** Who the auth hook found the caller to be, for the route's handler. */
const principals = new WeakMap<FastifyRequest, Principal>();

export async function createApp(deps: AppDeps, options: AppOptions = {}): Promise<KilnApp> {
  const routes = options.routes ?? defaultRoutes;
  const metrics = createHttpMetrics();
  const limits = deps.config;
  const headersTimeout = Math.round(limits.headersTimeout * 1000);
  const requestTimeout = Math.round(limits.requestTimeout * 1000);
  const keepAliveTimeout = Math.round(limits.keepAliveTimeout * 1000);
  const idleTimeout = Math.round(limits.idleTimeout * 1000);
  // Slow clients (slowloris): the headers, then the whole request, must arrive in time, or the
  // client gets 408 and is disconnected. Both cover only receiving the request; an answer, a
  // live log stream included, may take as long as it needs. Node checks every
  // connectionsCheckingInterval (30 s by default, which let a 20 s limit run to 50).
  const httpOptions = { headersTimeout, requestTimeout, connectionsCheckingInterval: Math.min(1000, Math.max(100, Math.round(headersTimeout / 4))) };
  // One per app: entries are keyed by URL, and every route's URLs differ.
  const answers = new AnswerCache();
  // Requests that still arrive on open connections once close() began (Fastify marks them
  // Connection: close) are refused, as Fastify would, but in the envelope.
  let closing = false;
  const changes = deps.store.changes;
  const front =
    changes && deps.store.credentials.generation
      ? reuseFront({
          cache: answers,
          changes,
          credentials: deps.store.credentials,
          metrics,
          logger: deps.logger,
          requestId: requestIdOf,
          // What the onRequest hook below would refuse, and requests with a body to come.
          passOn: (req) =>
            closing ||
            req.httpVersionMajor !== 1 ||
            (req.url?.length ?? 0) > MAX_URL_LENGTH ||
            req.headers.expect !== undefined ||
            req.headers["user-agent"]?.startsWith(WEBHOOK_USER_AGENT_PREFIX) === true,
        })
      : undefined;
  const fastify = Fastify({
    // The server Fastify would make, with the reused answers in front of Fastify's handler.
    ...(front
      ? {
          serverFactory: (handler: http.RequestListener) => {
            const server = http.createServer(httpOptions, (req, res) => {
              if (!front(req, res)) handler(req, res);
            });
            // What Fastify sets on a server it makes itself.
            server.keepAliveTimeout = keepAliveTimeout;
            server.requestTimeout = requestTimeout;
            server.setTimeout(idleTimeout);
            return server;
          },
        }
      : {}),
    // pino's Logger and Fastify's base logger type differ only in generics.
    loggerInstance: deps.logger as FastifyBaseLogger,
    // One line per request is logged in onResponse below, without headers (credentials).
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: lazyChildLogger,
    bodyLimit: BODY_LIMIT,
    http: httpOptions,
    requestTimeout,
    keepAliveTimeout,
    // Fastify's connectionTimeout is the socket's inactivity timeout (0: none).
    connectionTimeout: idleTimeout,
    // Fastify's own 503 while closing is not the envelope; the onRequest hook below answers it.
    return503OnClosing: false,
    clientErrorHandler: (error, socket) => {
      const status = answerClientError(error, socket);
      if (status !== undefined) metrics.refused(String(status));
    },
    routerOptions: { ignoreTrailingSlash: true },
    requestIdHeader: false,
    // A path Fastify cannot decode (`%`, `%zz`) never reaches the error handler: answered here,
    // in the envelope, as the unknown route it is.
    frameworkErrors: (_error, req, reply) => {
      const e = errors.noRoute((req.url.split("?")[0] ?? "").slice(0, 200));
      void (reply as FastifyReply).code(e.status).send(failure(e.errors));
    },
    genReqId: requestIdOf,
  });

  // Bodies are JSON whatever the Content-Type says (Cloudflare's clients are not all
  // careful about it); an empty body is no body.
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser("*", { parseAs: "string" }, (_req, body, done) => {
    const text = typeof body === "string" ? body : body.toString("utf8");
    if (text.trim() === "") return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      done(errors.invalidBody("body", "malformed JSON"), undefined);
    }
  });

  fastify.addHook("preClose", (done) => {
    closing = true;
    done();
  });
  // Callback-style hooks: they run on every request, and the async form costs a promise each.
  fastify.addHook("onRequest", (req, reply, done) => {
    void reply.header("x-request-id", req.id);
    if (closing) return done(errors.unavailable());
    // The parser takes any HTTP/d.d; only 1.x is spoken here.
    if (req.raw.httpVersionMajor !== 1) return done(errors.httpVersionNotSupported());
    if (req.url.length > MAX_URL_LENGTH) return done(errors.uriTooLong(MAX_URL_LENGTH));
    // Kiln's own webhook deliveries never reach Kiln's routes (a deploy hook would build in a loop).
    if (req.headers["user-agent"]?.startsWith(WEBHOOK_USER_AGENT_PREFIX)) return done(errors.ownWebhookRefused());
    // An unknown route is answered now: Fastify would otherwise read and parse its body first.
    if (req.is404) return done(notFound(req));
    done();
  });
  // Node answers `Expect: 100-continue` with 100 Continue before any hook runs (so the client
  // sends its body to a request about to be refused) unless the server handles checkContinue:
  // here Continue goes out only once the request passed its checks (continueBody).
  fastify.server.on("checkContinue", (req, res) => fastify.server.emit("request", req, res));
  // Every request is counted in the metrics; its log line is at info for writes and failures,
  // at debug for successful reads (GET, HEAD): the line cost 6-8 µs of a ~40 µs cached read
  // whatever its destination (docs/benchmarks.md "HTTP"). --log-level debug logs them all.
  fastify.addHook("onResponse", (req, reply, done) => {
    const route = req.routeOptions.url ?? "unmatched";
    const status = reply.statusCode;
    metrics.observe(req.method, route, status, reply.elapsedTime / 1000);
    const read = status < 400 && (req.method === "GET" || req.method === "HEAD");
    if (!read || req.log.level === "debug" || req.log.level === "trace") {
      req.log[read ? "debug" : "info"]({ method: req.method, route, status, ms: Math.round(reply.elapsedTime * 100) / 100 }, "request");
    }
    done();
  });

  fastify.setErrorHandler((error: FastifyError | KilnError, req, reply) => {
    const kilnError = toKilnError(error);
    if (kilnError.kind === "system") req.log.error({ err: error }, "request failed");
    // Refused before its body arrived (credentials, 404): closing beats reading it to keep the connection.
    if (req.raw.complete === false) void reply.header("connection", "close");
    void reply.code(kilnError.status).headers(kilnError.headers).send(failure(kilnError.errors));
  });

  const patterns = routes.map((r) => pathPattern(API_PREFIX + r.path));
  const notFound = (req: FastifyRequest): KilnError => {
    const path = req.url.split("?")[0] ?? req.url;
    return patterns.some((p) => p.test(path)) ? errors.methodNotAllowed() : errors.noRoute(path);
  };
  // Unknown routes are answered by the onRequest hook above; this stays for reply.callNotFound().
  fastify.setNotFoundHandler((req, reply) => {
    const error = notFound(req);
    void reply.code(error.status).send(failure(error.errors));
  });

  for (const spec of routes) registerRoute(fastify, spec, deps, options.validateResponses ?? false, answers, metrics);
  for (const plugin of options.plugins ?? []) await plugin(fastify, deps);

  const document = openApiDocument(routes);
  fastify.get(`${API_PREFIX}/openapi.json`, async () => document);

  fastify.get("/healthz", async (_req, reply) => {
    try {
      await deps.store.ping();
      // After a failed write, a real (tiny) write tells whether space came back.
      if (deps.health.storage) await deps.store.probeWrite().catch(() => undefined);
      const storage = deps.health.storage;
      if (storage) {
        const e = errors.storageFailed(storage.code, storage.message);
        return reply.code(e.status).send({ ...failure(e.errors), result: { status: "storage_error", database: deps.store.db.dialect, storage } });
      }
      if (deps.health.draining) {
        const e = errors.draining();
        return reply.code(e.status).send({ ...failure(e.errors), result: { status: "draining", database: deps.store.db.dialect } });
      }
      return success({ status: "ok", database: deps.store.db.dialect });
    } catch (error) {
      deps.logger.error({ err: error }, "health check failed");
      const e = errors.unavailable();
      return reply.code(e.status).send(failure(e.errors));
    }
  });
  fastify.get("/metrics", async (_req, reply) => {
    void reply.header("content-type", metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  await fastify.ready();
  return { fastify, metrics };
}

function registerRoute(fastify: FastifyInstance, spec: RouteSpec, deps: AppDeps, validateResponses: boolean, answerCache: AnswerCache, metrics: HttpMetrics): void {
  const auth = spec.auth;
  // The one credential check of the API. Routes with a body run it in an onRequest hook, before
  // the body is read (params are known by then); GET has no body (Fastify never reads one), so it
  // runs first thing in the handler: an async hook on every GET cost 5–8% of token-verify
  // throughput (autocannon, alternating with the previous build).
  const check =
    auth === "none"
      ? undefined
      : async (request: FastifyRequest): Promise<Principal> => {
          const principal = await authenticate(deps.store.credentials, readCredential(request.headers));
          if (auth !== "authenticated") authorize(principal, accountIdOf(request), auth);
          return principal;
        };
  const beforeBody = check !== undefined && spec.method !== "GET";
  const answers =
    spec.reuseAnswer && spec.method === "GET" && deps.store.changes
      ? { cache: answerCache, changes: deps.store.changes, perCaller: spec.reuseAnswer === "per-caller" }
      : undefined;
  const route = API_PREFIX + spec.path;
  fastify.route({
    method: spec.method,
    url: API_PREFIX + spec.path,
    ...(check === undefined
      ? {
          bodyLimit: UNAUTHENTICATED_BODY_LIMIT,
          onRequest: (_request: FastifyRequest, reply: FastifyReply, done: () => void) => {
            continueBody(reply);
            done();
          },
        }
      : beforeBody
        ? {
            onRequest: async (request: FastifyRequest, reply: FastifyReply) => {
              principals.set(request, await check(request));
              continueBody(reply);
            },
          }
        : {}),
    handler: async (request, reply) => {
      // Taken before the credential check: a look at the database after this instant sees every
      // commit that returned before the client sent the request.
      const arrived = answers ? performance.now() : 0;
      const principal = check === undefined ? undefined : beforeBody ? principals.get(request) : await check(request);
      if (check !== undefined && !principal) throw new Error(`${spec.operationId}: no principal from the auth hook`);
      // PostgreSQL text cannot hold NUL (SQLite can): refused up front, the same on both.
      const nulParam = nulField(request.params, "");
      if (nulParam !== undefined) throw errors.invalidBody(nulParam, "must not contain NUL characters");
      const nulQuery = nulField(request.query, "");
      if (nulQuery !== undefined) throw errors.invalidQuery(nulQuery, "must not contain NUL characters");
      const nulBody = nulField(request.body, "body");
      if (nulBody !== undefined) throw errors.invalidBody(nulBody, "must not contain NUL characters");
      const params = spec.params ? parsePart(spec.params, request.params, "params") : request.params;
      const query = spec.query ? parsePart(spec.query, request.query, "query") : {};
      const body = spec.body ? parsePart(spec.body, request.body, "body") : undefined;
      const epoch = answers?.changes.observeSince(arrived);
      const answerKey = answers && epoch !== undefined ? (answers.perCaller && principal ? callerKey(request.url, callerIdOf(principal)) : request.url) : undefined;
      if (answerKey !== undefined && epoch !== undefined) {
        const reused = answers?.cache.get(answerKey, epoch);
        if (reused) {
          metrics.reused("route");
          return reply.code(200).type(JSON_TYPE).send(reused.body);
        }
      }
      const out = await spec.handler({ params, query, body, principal, deps, request, reply });
      // Escape hatch: a handler that hijacked the reply (the SSE log stream) answered on its own.
      if (reply.sent) return reply;
      if (validateResponses) {
        const checked = spec.result.safeParse(out.result);
        if (!checked.success) {
          throw new Error(`answer of ${spec.operationId} does not match its schema: ${checked.error.message}`);
        }
      }
      if (answers && answerKey !== undefined && epoch !== undefined) {
        const body = Buffer.from(JSON.stringify(success(out.result, out.result_info, out.messages)));
        answers.cache.set(answerKey, epoch, { body, route, auth, accountId: accountIdOf(request) });
        return reply.code(spec.status ?? 200).type(JSON_TYPE).send(body);
      }
      return reply.code(spec.status ?? 200).send(success(out.result, out.result_info, out.messages));
    },
  });
}

/** The first field (dotted path) whose key or string value holds a NUL character, if any. */
function nulField(value: unknown, at: string, depth = 0): string | undefined {
  if (typeof value === "string") return value.includes("\u0000") ? at || "request" : undefined;
  if (value === null || typeof value !== "object" || depth > 64) return undefined;
  for (const [key, v] of Object.entries(value)) {
    const here = at ? `${at}.${key}` : key;
    if (key.includes("\u0000")) return at || "request";
    const found = nulField(v, here, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

function accountIdOf(request: FastifyRequest): string {
  const params = request.params as Record<string, string | undefined>;
  return params.account_id ?? "";
}

/** `/a/:b/c` → a regular expression matching concrete paths of that route. */
function pathPattern(path: string): RegExp {
  const source = path
    .split("/")
    .map((segment) => (segment.startsWith(":") ? "[^/]+" : segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
    .join("/");
  return new RegExp(`^${source}/?$`);
}

function toKilnError(error: FastifyError | KilnError): KilnError {
  if (error instanceof KilnError) return error;
  if (isUniqueViolation(error)) return errors.alreadyExists();
  const storage = storageFailureOf(error);
  if (storage) return errors.storageFailed(storage.code, storage.message);
  const status = error.statusCode ?? 500;
  if (error.code === "FST_ERR_CTP_BODY_TOO_LARGE" || status === 413) return errors.bodyTooLarge();
  if (status >= 400 && status < 500) return errors.invalidBody("request", error.message);
  return errors.internal();
}

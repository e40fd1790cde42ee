/**
 * Reused answers sent before Fastify sees the request. A GET whose answer is in the answer cache
 * (api/answer-cache.ts), from a caller the credential cache already knows as valid and allowed,
 * is answered here: the same status, headers and bytes Fastify would send, the same metrics, in
 * about the CPU of a bare node:http answer. Routing, hooks, the request and reply objects and the
 * route wrapper cost more than the rest of such a request together (docs/benchmarks.md "HTTP").
 *
 * Anything else — an entry missing or made before the last commit, credentials not in the cache
 * or refused, a missing permission, a server closing — goes on to Fastify untouched, which
 * answers it in full, refusals included. So this can only ever answer what the full path would
 * answer the same way at that instant. At `--log-level debug` an answer from here has the same
 * request line the route's onResponse hook writes.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import { authorize, cachedPrincipal } from "../domain/auth.ts";
import type { CredentialLookup } from "../domain/ports.ts";
import type { Principal } from "../domain/types.ts";
import type { ChangeSignal } from "../store/change-signal.ts";
import { callerKey, type AnswerCache } from "./answer-cache.ts";
import { readCredential } from "./credentials.ts";
import type { HttpMetrics } from "./metrics.ts";

/** What Fastify sends for a serialised object, so a reused answer reads the same. */
export const JSON_TYPE = "application/json; charset=utf-8";

/** Who a cached answer about the caller is for. */
export const callerIdOf = (principal: Principal): string => (principal.kind === "token" ? `t${principal.token.id}` : `u${principal.user.id}`);

export interface ReuseFrontOptions {
  cache: AnswerCache;
  changes: ChangeSignal;
  credentials: CredentialLookup;
  metrics: HttpMetrics;
  logger: Logger;
  /** The request id Fastify would give the request (x-request-id). */
  requestId(req: IncomingMessage): string;
  /** Whether the request is one Fastify's onRequest checks would refuse or the server is closing. */
  passOn(req: IncomingMessage): boolean;
}

/** Answers the request and says true, or leaves it alone and says false. */
export type ReuseFront = (req: IncomingMessage, res: ServerResponse) => boolean;

export function reuseFront(options: ReuseFrontOptions): ReuseFront {
  const { cache, changes, credentials, metrics, logger } = options;
  return (req, res) => {
    if (req.method !== "GET" || options.passOn(req)) return false;
    const started = performance.now();
    const url = req.url ?? "";
    let principal: Principal | undefined;
    try {
      // The credential check looks at the change signal first: the epoch below is that look's.
      principal = cachedPrincipal(credentials, readCredential(req.headers));
    } catch {
      return false;
    }
    if (!principal) return false;
    const epoch = changes.observeSince(started);
    if (epoch === undefined) return false;
    const entry = cache.get(url, epoch) ?? cache.get(callerKey(url, callerIdOf(principal)), epoch);
    if (!entry) return false;
    if (entry.auth === "read" || entry.auth === "write") {
      try {
        authorize(principal, entry.accountId, entry.auth);
      } catch {
        return false;
      }
    }
    const reqId = options.requestId(req);
    res.writeHead(200, { "x-request-id": reqId, "content-type": JSON_TYPE, "content-length": entry.body.length });
    res.end(entry.body);
    const ms = performance.now() - started;
    metrics.reused("front");
    metrics.observe("GET", entry.route, 200, ms / 1000);
    if (logger.isLevelEnabled("debug")) logger.debug({ reqId, method: "GET", route: entry.route, status: 200, ms: Math.round(ms * 100) / 100 }, "request");
    return true;
  };
}

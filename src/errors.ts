/**
 * The one error catalog. Every error Kiln answers with is built here, so the status, the
 * Cloudflare code and the message of each case live in exactly one place (docs/errors.md
 * lists the same table for users). Domain code throws these; the HTTP layer only maps them
 * onto the envelope, and the CLI onto an exit code.
 */

export interface ErrorDetail {
  code: number;
  message: string;
  error_chain?: { code: number; message: string }[];
}

/** Whether a failure is the caller's (4xx) or ours (5xx): only system errors are logged as errors. */
export type ErrorKind = "user" | "system";

export class KilnError extends Error {
  readonly status: number;
  readonly errors: ErrorDetail[];
  readonly kind: ErrorKind;
  /** Extra response headers, e.g. Retry-After on 429. */
  readonly headers: Record<string, string>;

  constructor(status: number, errors: ErrorDetail[], headers: Record<string, string> = {}) {
    super(errors.map((e) => `${e.code}: ${e.message}`).join("; "));
    this.name = "KilnError";
    this.status = status;
    this.errors = errors;
    this.kind = status >= 500 ? "system" : "user";
    this.headers = headers;
  }

  /** The first (primary) code, handy for tests and logs. */
  get code(): number {
    return this.errors[0]?.code ?? 0;
  }
}

const one = (status: number, code: number, message: string, extra: Partial<ErrorDetail> = {}) =>
  new KilnError(status, [{ code, message, ...extra }]);

export const errors = {
  /** No route matches the path (Cloudflare answers 400 with these two codes). */
  noRoute: (path: string) =>
    new KilnError(400, [
      { code: 7003, message: `Could not route to ${path}, perhaps your object identifier is invalid?` },
      { code: 7000, message: "No route for that URI" },
    ]),
  methodNotAllowed: () => one(405, 10405, "Method not allowed"),
  bodyTooLarge: () => one(413, 10413, "Request body too large"),
  // What Node's HTTP parser and the server's timeouts refuse before any route runs.
  malformedRequest: () => one(400, 10400, "Malformed HTTP request"),
  requestTimeout: () => one(408, 10408, "Request timeout: the request did not arrive in time"),
  uriTooLong: (max: number) => one(414, 10414, `URI too long (at most ${max} bytes)`),
  headersTooLarge: () => one(431, 10431, "Request headers too large"),
  httpVersionNotSupported: () => one(505, 10505, "HTTP version not supported (HTTP/1.0 and HTTP/1.1 are)"),
  /** Bad request body or JSON: the field is always named so the caller knows what to fix. */
  invalidBody: (field: string, problem: string) =>
    one(400, 12002, `Invalid request body: ${field ? `${field}: ` : ""}${problem}`),
  /**
   * A query parameter that is missing or does not parse. Cloudflare answered config autofill
   * without `branch` with 12013 "Invalid query parameter"; Kiln adds the name and the problem.
   */
  invalidQuery: (name: string, problem: string) =>
    one(400, 12013, `Invalid query parameter: ${name ? `${name}: ` : ""}${problem}`),
  notFound: () => one(404, 12000, "Not found"),
  missingAuth: () => one(400, 9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers"),
  badAuthorizationHeader: () =>
    one(400, 6003, "Invalid request headers", {
      error_chain: [{ code: 6111, message: "Invalid format for Authorization header" }],
    }),
  badAuthKeyHeader: () =>
    one(400, 6003, "Invalid request headers", {
      error_chain: [{ code: 6103, message: "Invalid format for X-Auth-Key header" }],
    }),
  /** Unknown, revoked or expired credentials. */
  unauthenticated: () => one(401, 10000, "Authentication error"),
  /** Valid credentials without the permission group or the account. */
  forbidden: () => one(403, 10000, "Authentication error"),
  tooManyRequests: (retryAfterSeconds: number) =>
    new KilnError(429, [{ code: 10429, message: "Too many requests" }], {
      "retry-after": String(Math.max(1, Math.ceil(retryAfterSeconds))),
    }),
  /** A cap on concurrent live log streams (`scope` says which: this token, this user, this account). */
  tooManyLogStreams: (scope: string, max: number) =>
    new KilnError(429, [{ code: 10429, message: `Too many live log streams for ${scope} (at most ${max} at once)` }], {
      "retry-after": "10",
    }),
  /** The same caps, for the account event stream. */
  tooManyEventStreams: (scope: string, max: number) =>
    new KilnError(429, [{ code: 10429, message: `Too many live event streams for ${scope} (at most ${max} at once)` }], {
      "retry-after": "10",
    }),
  internal: () => one(500, 10500, "Internal error"),
  unavailable: () => one(503, 10503, "Service unavailable"),
  /** /healthz while the node shuts down: a load balancer moves traffic away; the API still answers. */
  draining: () => one(503, 10503, "Service unavailable: the server is shutting down (draining its builds)"),
  /** A write the database refused for lack of space (or an I/O error): nothing was stored. */
  storageFailed: (code: string, message: string) => one(503, 10503, `Service unavailable: the database cannot store data (${code}: ${message})`),
  // Builds API codes (Cloudflare's, as its API answers them; docs/errors.md).
  noBuildConfig: () =>
    one(404, 12040, "No build configuration associated with that script tag was found for this account"),
  previewsWithLegacyTrigger: () =>
    one(
      400,
      12048,
      "Cannot enable preview settings while a non-production trigger exists. Use the migrate_to_previews endpoint instead.",
    ),
  buildAlreadyStopped: () => one(409, 12009, "Build has already stopped"),
  alreadyExists: () => one(409, 12010, "Already exists"),
  triggerLimit: () => one(409, 12011, "Trigger limit reached"),
  // Kiln's own (fleet only); 12013 is Cloudflare's code for a bad query parameter.
  cancelNotConfirmed: () => one(503, 10503, "Cancel not confirmed yet"),
  // Webhooks (docs/webhooks.md): the same answer for a wrong secret and an unknown account.
  webhookUnauthorized: () => one(401, 10401, "Webhook signature or token is missing or does not match"),
  webhookPayload: (problem: string) => one(400, 10400, `Malformed webhook payload: ${problem}`),
  // Queues and event subscriptions: 11000 is Cloudflare's Queues code for a missing queue.
  queueNotFound: () => one(404, 11000, "Queue not found"),
  queueNameTaken: (name: string) => one(409, 11009, `A queue named ${JSON.stringify(name)} already exists in this account`),
  consumerNotFound: () => one(404, 12000, "Consumer not found"),
  subscriptionNotFound: () => one(404, 12000, "Event subscription not found"),
  /** A webhook destination refused when subscribing (docs/events.md "Webhooks"). */
  webhookDestinationRefused: (reason: string) => one(400, 12002, `Invalid request body: destination.url: ${reason}`),
  webhookDeliveryNotFound: () => one(404, 12000, "Webhook delivery not found"),
  /** A request from Kiln's own webhook deliverer (its user agent): Kiln is never a destination. */
  ownWebhookRefused: () => one(403, 10403, "Kiln's webhook deliveries are not accepted by Kiln's API (a webhook destination must not be Kiln itself)"),
  /** An event subscription's source names a Worker the account does not have. */
  unknownSourceWorker: (name: string) => one(400, 12002, `Invalid request body: source.worker_name: no Worker named ${JSON.stringify(name)} in this account`),
} as const;

export type ErrorName = keyof typeof errors;

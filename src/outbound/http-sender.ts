/**
 * One HTTP POST of a webhook delivery, over node:http(s), to addresses already checked by the
 * address guard: the socket's lookup is pinned to them, so nothing is resolved again between the
 * check and the connection. A redirect is never followed (a 3xx is a failed attempt, like any
 * non-2xx), the whole exchange has one deadline (connect, headers and body), and at most
 * RESPONSE_EXCERPT bytes of the answer are read — kept for the delivery log — before the
 * connection is dropped. The request carries only the signed headers: the secret never gets here.
 */
import http from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import type { ResolvedAddress } from "./address-guard.ts";

/** What the delivery log keeps of a receiver's answer. */
export const RESPONSE_EXCERPT = 1024;

export interface WebhookPost {
  url: URL;
  addresses: ResolvedAddress[];
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
}

export interface WebhookAnswer {
  /** The receiver's status, or undefined when no answer came (timeout, connection refused…). */
  status: number | undefined;
  /** 2xx. */
  ok: boolean;
  /** What went wrong, for the delivery log: `HTTP 500`, `timed out after 10000 ms`, `connect ECONNREFUSED …`. */
  error: string | undefined;
  /** The first bytes of the answer's body (UTF-8, possibly cut mid-character). */
  responseBody: string;
  durationMs: number;
}

/** A lookup that answers the checked addresses, as one or all, whatever the family asked for. */
function pinnedLookup(addresses: ResolvedAddress[]): LookupFunction {
  return (_hostname, options, callback) => {
    const wanted = options.family === 4 || options.family === 6 ? addresses.filter((a) => a.family === options.family) : addresses;
    const list = wanted.length > 0 ? wanted : addresses;
    if (options.all) (callback as unknown as (err: null, all: ResolvedAddress[]) => void)(null, list);
    else callback(null, list[0]?.address ?? "", list[0]?.family ?? 4);
  };
}

export function postWebhook(post: WebhookPost): Promise<WebhookAnswer> {
  const started = performance.now();
  const transport = post.url.protocol === "https:" ? https : http;
  return new Promise<WebhookAnswer>((resolve) => {
    let settled = false;
    const finish = (answer: Omit<WebhookAnswer, "durationMs" | "ok">) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      request.destroy();
      const ok = answer.status !== undefined && answer.status >= 200 && answer.status < 300;
      resolve({ ...answer, ok, durationMs: Math.round(performance.now() - started) });
    };
    const request = transport.request(post.url, {
      method: "POST",
      agent: false,
      lookup: pinnedLookup(post.addresses),
      headers: {
        ...post.headers,
        "content-type": "application/json",
        "content-length": Buffer.byteLength(post.body).toString(),
        "user-agent": "Kiln-Webhooks/1",
      },
    });
    const deadline = setTimeout(() => finish({ status: undefined, error: `timed out after ${post.timeoutMs} ms`, responseBody: "" }), post.timeoutMs);
    request.on("error", (error: NodeJS.ErrnoException) => finish({ status: undefined, error: error.message || error.code || "request failed", responseBody: "" }));
    request.on("response", (response) => {
      const status = response.statusCode ?? 0;
      const error =
        status >= 300 && status < 400
          ? `HTTP ${status}: redirects are not followed${response.headers.location ? ` (to ${response.headers.location.slice(0, 200)})` : ""}`
          : status >= 200 && status < 300
            ? undefined
            : `HTTP ${status}`;
      const chunks: Buffer[] = [];
      let size = 0;
      const done = () => finish({ status, error, responseBody: Buffer.concat(chunks).subarray(0, RESPONSE_EXCERPT).toString("utf8") });
      response.on("data", (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
        if (size >= RESPONSE_EXCERPT) done();
      });
      response.on("end", done);
      // The answer's status is known: a body cut short does not make the attempt fail.
      response.on("error", done);
      response.on("aborted", done);
    });
    request.end(post.body);
  });
}

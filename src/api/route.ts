/**
 * How an endpoint is declared: method, Cloudflare path, operationId, the access it needs
 * and zod schemas for its params, query, body and result. The same declaration registers
 * the Fastify route, validates requests (and, in tests, every answer), and produces the
 * OpenAPI document, so the contract has one source.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import type { z } from "zod";
import type { Access, Principal } from "../domain/types.ts";
import type { ResultInfo } from "./envelope.ts";
import type { AppDeps } from "./deps.ts";

/**
 * - `read` / `write`: account-scoped, needs `:account_id` in the path and that permission.
 * - `authenticated`: any valid credentials (token verify, accounts list).
 * - `none`: no credentials (the deploy-hook trigger; its UUID is the secret).
 */
export type RouteAuth = Access | "authenticated" | "none";

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface HandlerContext<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  /** Undefined only on `auth: "none"` routes. */
  principal: Principal | undefined;
  deps: AppDeps;
  request: FastifyRequest;
  reply: FastifyReply;
}

export interface HandlerResult<R> {
  result: R;
  result_info?: ResultInfo;
  /** The envelope's `messages` (warnings about a request that succeeded). */
  messages?: string[];
}

export interface RouteSpec<
  P extends z.ZodType = z.ZodType,
  Q extends z.ZodType = z.ZodType,
  B extends z.ZodType = z.ZodType,
  R extends z.ZodType = z.ZodType,
> {
  method: HttpMethod;
  /** Fastify path under /client/v4, with `:param` placeholders. */
  path: string;
  operationId: string;
  summary: string;
  tag: string;
  auth: RouteAuth;
  params?: P;
  query?: Q;
  body?: B;
  result: R;
  /** Success status; 200 unless said. */
  status?: number;
  /**
   * A hot read whose answer depends only on its URL (`true`) or on its URL and who asks
   * (`"per-caller"`): on SQLite the serialised answer is reused until the next commit to the
   * database (api/answer-cache.ts, api/reuse-front.ts). Credentials are checked first.
   */
  reuseAnswer?: boolean | "per-caller";
  /**
   * The success answer's media type when it is not the envelope (a handler that hijacks the reply
   * and writes a stream or a file): the OpenAPI document describes it as a string of that type.
   */
  contentType?: "text/event-stream" | "text/plain";
  /** Kiln extension or inferred shape, for docs/api.md and the OpenAPI document. */
  kilnStatus?: "implemented" | "inferred" | "extension";
  handler(ctx: HandlerContext<z.output<P>, z.output<Q>, z.output<B>>): Promise<HandlerResult<z.input<R>>>;
}

/** Identity function that keeps each route's schema types tied to its handler. */
export function defineRoute<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType, R extends z.ZodType>(
  spec: RouteSpec<P, Q, B, R>,
): RouteSpec {
  return spec as unknown as RouteSpec;
}

export const ok = <R>(result: R, result_info?: ResultInfo): HandlerResult<R> =>
  result_info ? { result, result_info } : { result };

/**
 * The OpenAPI 3.1 document served at /client/v4/openapi.json, generated from the route table:
 * the same zod schemas that validate requests and answers describe them here, so the
 * document cannot drift from what the server does.
 */
import { z } from "zod";
import type { RouteSpec } from "./route.ts";
import { grantsOf } from "../domain/auth.ts";

type JsonSchema = Record<string, unknown>;

const toSchema = (schema: z.ZodType, io: "input" | "output"): JsonSchema => {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: "any" }) as JsonSchema;
  return rest;
};

const errorSchema: JsonSchema = {
  type: "object",
  required: ["code", "message"],
  properties: {
    code: { type: "integer" },
    message: { type: "string" },
    error_chain: { type: "array", items: { type: "object", properties: { code: { type: "integer" }, message: { type: "string" } } } },
  },
};

const envelope = (result: JsonSchema): JsonSchema => ({
  type: "object",
  required: ["success", "errors", "messages", "result"],
  properties: {
    success: { type: "boolean" },
    errors: { type: "array", items: errorSchema },
    messages: { type: "array", items: { type: "string" } },
    result,
    result_info: {
      type: "object",
      properties: Object.fromEntries(
        ["page", "per_page", "count", "total_count", "total_pages"].map((k) => [k, { type: "integer" }]).concat([["next_page", { type: "boolean" }]]),
      ),
    },
  },
});

export function openApiDocument(routes: RouteSpec[]): JsonSchema {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = route.path.replace(/:(\w+)/g, "{$1}");
    const parameters: JsonSchema[] = [];
    for (const [location, schema] of [
      ["path", route.params],
      ["query", route.query],
    ] as const) {
      if (!schema) continue;
      const json = toSchema(schema, "input");
      const properties = (json.properties ?? {}) as Record<string, JsonSchema>;
      const required = new Set((json.required ?? []) as string[]);
      for (const [name, property] of Object.entries(properties)) {
        parameters.push({ name, in: location, required: location === "path" || required.has(name), schema: property });
      }
    }
    const security =
      route.auth === "none"
        ? []
        : [{ api_token: [] }, { api_email: [], api_key: [] }];
    const operation: JsonSchema = {
      operationId: route.operationId,
      summary: route.summary,
      tags: [route.tag],
      security,
      parameters,
      responses: {
        [String(route.status ?? 200)]: {
          description: "Success",
          content: route.contentType
            ? { [route.contentType]: { schema: { type: "string" } } }
            : { "application/json": { schema: envelope(toSchema(route.result, "output")) } },
        },
        default: {
          description: "Error (Cloudflare envelope with success: false)",
          content: { "application/json": { schema: envelope({ type: "null" }) } },
        },
      },
    };
    if (route.auth !== "none" && route.auth !== "authenticated") operation["x-api-token-group"] = [...grantsOf(route.auth)].reverse();
    if (route.kilnStatus && route.kilnStatus !== "implemented") operation["x-kiln-status"] = route.kilnStatus;
    if (route.body) {
      operation.requestBody = { required: true, content: { "application/json": { schema: toSchema(route.body, "input") } } };
    }
    paths[path] = { ...(paths[path] ?? {}), [route.method.toLowerCase()]: operation };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Kiln — Workers Builds compatible API",
      version: "1",
      description: "Cloudflare Workers Builds REST API as served by Kiln. Base URL: http://<kiln>/client/v4",
    },
    servers: [{ url: "/client/v4" }],
    components: {
      securitySchemes: {
        api_token: { type: "http", scheme: "bearer" },
        api_email: { type: "apiKey", in: "header", name: "X-Auth-Email" },
        api_key: { type: "apiKey", in: "header", name: "X-Auth-Key" },
      },
    },
    paths,
  };
}

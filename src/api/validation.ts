/**
 * Turns zod's verdict on a request part into Kiln's errors: a body answers 400 12002 naming
 * the field, a query 400 12013 naming the parameter (Cloudflare's code for a bad query
 * parameter); a malformed path id is indistinguishable from a missing resource (404 12000),
 * as Cloudflare answers.
 */
import type { z } from "zod";
import { errors } from "../errors.ts";

export type RequestPart = "params" | "query" | "body";

export function parsePart<S extends z.ZodType>(schema: S, value: unknown, part: RequestPart): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  if (part === "params") throw errors.notFound();
  const issue = parsed.error.issues[0];
  const field = issue ? issue.path.map(String).join(".") : "";
  const problem = issue ? describeIssue(issue) : "invalid";
  if (part === "query") throw errors.invalidQuery(field, problem);
  throw errors.invalidBody(field || "body", problem);
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === "invalid_type" && issue.input === undefined) return "required";
  return issue.message;
}

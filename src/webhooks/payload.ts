/** Shared pieces of the providers' payload parsers. */
import { z } from "zod";
import { errors } from "../errors.ts";

/** A payload's field problems become one 400 naming the first bad field. */
export function parsePayload<T>(schema: z.ZodType<T>, payload: unknown): T {
  const parsed = schema.safeParse(payload);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue?.path.length ? issue.path.join(".") : "payload";
  throw errors.webhookPayload(`${where}: ${issue?.message ?? "invalid"}`);
}

/** Provider ids are numbers in payloads and strings in repo connections. */
export const numericId = z.union([z.number().int().nonnegative(), z.string().regex(/^\d{1,20}$/)]).transform(String);
export const sha = z.string().regex(/^[0-9a-f]{40}$/i, "must be a 40-character commit hash").transform((s) => s.toLowerCase());
export const ZERO_SHA = "0".repeat(40);
export const paths = z.array(z.string()).default([]);
export const person = z.object({ name: z.string().optional(), email: z.string().optional() }).partial().nullish();

/** The e-mail when there is one (Cloudflare shows an e-mail), else the name. */
export const authorOf = (p: z.infer<typeof person>): string => p?.email || p?.name || "";

/** A timestamp as ISO 8601; GitLab's older `2013-12-03 17:23:34 UTC` form included. */
export function isoDate(value: string | undefined): string {
  const ms = value === undefined ? NaN : Date.parse(value.replace(/ UTC$/, "Z").replace(/^(\d{4}-\d\d-\d\d) /, "$1T"));
  return Number.isNaN(ms) ? new Date().toISOString() : new Date(ms).toISOString();
}

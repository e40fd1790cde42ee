/** Page-based pagination: `page` ≥ 1 (default 1), `per_page` 1–200 (default 50). */
import { z } from "zod";
import { resultInfo, type ResultInfo } from "./envelope.ts";
import type { Page, Paged } from "../domain/types.ts";

const integer = (name: string, min: number, max: number | undefined, fallback: number) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value === "") return fallback;
      const n = Number(value);
      if (!/^\d+$/.test(value) || n < min || (max !== undefined && n > max)) {
        ctx.addIssue({
          code: "custom",
          message: max === undefined ? `must be an integer ≥ ${min}` : `must be an integer from ${min} to ${max}`,
        });
        return z.NEVER;
      }
      return n;
    })
    .describe(name);

export const pageQuery = z.object({
  page: integer("page", 1, undefined, 1),
  per_page: integer("per_page", 1, 200, 50),
});

export const pagedInfo = (page: Page, paged: Paged<unknown>): ResultInfo =>
  resultInfo(page.page, page.per_page, paged.items.length, paged.total);

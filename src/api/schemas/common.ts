/** Schema pieces shared by many endpoints. */
import { z } from "zod";

export const isoDate = z.string().describe("ISO 8601 date-time, e.g. 2026-09-30T08:15:08.207Z");
export const uuid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, "must be a UUID");
export const accountId = z.string().describe("Account id (32 hex characters)");

export const accountParams = z.object({ account_id: accountId });

import { z } from "zod";
import { errors } from "../../errors.ts";
import { defineRoute, ok } from "../route.ts";
import { isoDate } from "../schemas/common.ts";

const tokenStatus = z.object({
  id: z.string(),
  status: z.literal("active"),
  expires_on: isoDate.optional(),
});

/** @see https://developers.cloudflare.com/api/resources/user/subresources/tokens/methods/verify/ */
export const verifyToken = defineRoute({
  method: "GET",
  path: "/user/tokens/verify",
  operationId: "verifyToken",
  summary: "Verify the API token in the Authorization header",
  tag: "User",
  auth: "authenticated",
  result: tokenStatus,
  // Its answer is the caller's token: reused per token until the next commit (a revocation is one).
  reuseAnswer: "per-caller",
  async handler({ principal }) {
    // A global key is valid credentials but not a token: Cloudflare answers 401 here.
    if (principal?.kind !== "token") throw errors.unauthenticated();
    const { token } = principal;
    return ok({ id: token.id, status: "active" as const, ...(token.expires_on ? { expires_on: token.expires_on } : {}) });
  },
});

export const userRoutes = [verifyToken];

/**
 * `Expect: 100-continue`: the client waits for 100 Continue before sending its body. The server
 * handles 'checkContinue' itself (app.ts) so that Node does not send it up front; the checks made
 * before the body (credentials, a webhook's secret) send it once they pass.
 */
import type { FastifyReply } from "fastify";

/**
 * Sends 100 Continue to a client waiting for it, once its request passed the checks made before
 * the body. Called at the end of those checks rather than from a global preParsing hook, which
 * every request (GETs included) would pay for.
 */
export function continueBody(reply: FastifyReply): void {
  if (reply.request.headers.expect?.toLowerCase() === "100-continue" && !reply.raw.headersSent && !reply.raw.destroyed) reply.raw.writeContinue();
}

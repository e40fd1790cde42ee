/**
 * The check of a webhook destination when a subscription is created or changed: the URL's host
 * is resolved and refused when it reaches a loopback, private or link-local address (unless
 * `--webhook-allow-private`) or Kiln's own API — by its public URL, its listening address, or the
 * very origin this request came in on. The deliverer checks again before every attempt.
 */
import type { FastifyRequest } from "fastify";
import { WEBHOOK_DESTINATION } from "../domain/webhook-deliveries.ts";
import { errors } from "../errors.ts";
import { checkDestination, DestinationRefused, ownApiOf } from "../outbound/address-guard.ts";
import type { AppDeps } from "./deps.ts";

export async function checkWebhookDestination(deps: AppDeps, request: FastifyRequest, destination: { type: string; url?: unknown } | undefined): Promise<void> {
  if (destination?.type !== WEBHOOK_DESTINATION) return;
  const own = ownApiOf(deps.config.publicUrl, deps.config.host, request.socket.localPort ?? deps.config.port);
  if (request.host) {
    try {
      // As URL writes origins: "http://localhost:80" is "http://localhost".
      own.origins.push(new URL(`${request.protocol}://${request.host}`).origin);
    } catch {
      // A Host header that is no host: nothing to compare with.
    }
  }
  try {
    await checkDestination(String(destination.url), { allowPrivate: deps.config.webhookAllowPrivate, ownApi: own });
  } catch (error) {
    if (error instanceof DestinationRefused) throw errors.webhookDestinationRefused(error.reason);
    throw error;
  }
}

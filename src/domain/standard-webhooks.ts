/**
 * Signing per the Standard Webhooks specification (https://www.standardwebhooks.com/, the scheme
 * Svix and others use), so receivers can verify Kiln's deliveries with any of its libraries:
 *
 *   webhook-id:        the message id, the same on every attempt (the receiver's idempotency key)
 *   webhook-timestamp: integer seconds since the epoch, of this attempt
 *   webhook-signature: "v1,<base64 HMAC-SHA256 of `${id}.${timestamp}.${body}`>"
 *
 * keyed with the bytes of the secret, which is written `whsec_<base64>`. node:crypto does the
 * HMAC; the tests verify with the `standardwebhooks` npm library, an independent implementation.
 */
import { createHmac, randomBytes } from "node:crypto";

const PREFIX = "whsec_";
/** The specification asks for 24 to 64 random bytes; 32 is what Svix issues. */
const KEY_BYTES = 32;

export const newWebhookSecret = (): string => PREFIX + randomBytes(KEY_BYTES).toString("base64");

export const WEBHOOK_SECRET_FORMAT = /^whsec_[A-Za-z0-9+/]{32,88}={0,2}$/;

export interface SignedHeaders {
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
}

function keyOf(secret: string): Buffer {
  if (!WEBHOOK_SECRET_FORMAT.test(secret)) throw new Error("not a whsec_ secret");
  return Buffer.from(secret.slice(PREFIX.length), "base64");
}

/** The three headers for one attempt of one message. */
export function signWebhook(secret: string, messageId: string, timestamp: Date, body: string): SignedHeaders {
  const seconds = Math.floor(timestamp.getTime() / 1000).toString();
  const signature = createHmac("sha256", keyOf(secret)).update(`${messageId}.${seconds}.${body}`).digest("base64");
  return { "webhook-id": messageId, "webhook-timestamp": seconds, "webhook-signature": `v1,${signature}` };
}

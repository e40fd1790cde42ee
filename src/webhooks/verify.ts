/** Verifying who sent a delivery, in constant time (docs/webhooks.md). */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

/** GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`. */
export function githubSignatureValid(secret: string, rawBody: Buffer, header: string | undefined): boolean {
  if (!header?.startsWith("sha256=")) return false;
  const given = Buffer.from(header.slice("sha256=".length), "hex");
  const expected = createHmac("sha256", secret).update(rawBody).digest();
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Whether the header could be a valid signature at all (checked before the body is read). */
export function githubSignatureWellFormed(header: string | undefined): boolean {
  // The same decoding as githubSignatureValid, so nothing it would accept is refused here.
  return header?.startsWith("sha256=") === true && Buffer.from(header.slice("sha256=".length), "hex").length === 32;
}

/** GitLab: `X-Gitlab-Token` is the secret itself; compared through digests so the length leaks nothing either. */
export function gitlabTokenValid(secret: string, header: string | undefined): boolean {
  if (header === undefined || header === "") return false;
  const digest = (v: string) => createHash("sha256").update(v, "utf8").digest();
  return timingSafeEqual(digest(secret), digest(header));
}

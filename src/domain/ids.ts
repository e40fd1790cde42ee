/** Identifier and secret formats (Cloudflare's: 32-hex ids, 40-character tokens; docs/errors.md). */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";

/** 32 lowercase hex characters: account ids, Worker tags, API token ids. */
export const newHexId = (): string => randomBytes(16).toString("hex");

export const newUuid = (): string => randomUUID();

/** An API token value: 40 characters of [A-Za-z0-9_-] (30 random bytes, base64url). */
export const newTokenValue = (): string => randomBytes(30).toString("base64url");

/** A user's global API key: 37 lowercase hex characters. */
export const newGlobalKey = (): string => randomBytes(19).toString("hex").slice(0, 37);

export const TOKEN_FORMAT = /^[A-Za-z0-9_-]{40}$/;
export const GLOBAL_KEY_FORMAT = /^[0-9a-f]{37}$/;
export const HEX_ID_FORMAT = /^[0-9a-f]{32}$/;
export const UUID_FORMAT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Secrets are stored as sha256 digests. Token values and keys are 150+ random bits, so a
 * fast hash is enough (no dictionary to attack) and keeps authentication cheap per request.
 */
export const hashSecret = (value: string): string => createHash("sha256").update(value).digest("hex");

/** Compares two hex digests in constant time. */
export function sameDigest(a: string, b: string): boolean {
  const x = Buffer.from(a, "hex");
  const y = Buffer.from(b, "hex");
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

export const nowIso = (): string => new Date().toISOString();

/**
 * Reads credentials from request headers, checking only their form (docs/errors.md):
 * a missing pair is 400 9106, a malformed header is 400 6003 with the error chain that
 * names the header. Whether the credentials are valid is the domain's call.
 */
import type { Credential } from "../domain/auth.ts";
import { GLOBAL_KEY_FORMAT, TOKEN_FORMAT } from "../domain/ids.ts";
import { errors } from "../errors.ts";

type Headers = Record<string, string | string[] | undefined>;

const first = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value[0] : value);

export function readCredential(headers: Headers): Credential {
  const authorization = first(headers.authorization);
  if (authorization !== undefined) {
    const match = /^Bearer +(\S*)\s*$/i.exec(authorization);
    const value = match?.[1];
    if (!value || !TOKEN_FORMAT.test(value)) throw errors.badAuthorizationHeader();
    return { kind: "token", value };
  }
  const email = first(headers["x-auth-email"])?.trim();
  const key = first(headers["x-auth-key"])?.trim();
  if (!email || !key) throw errors.missingAuth();
  if (!GLOBAL_KEY_FORMAT.test(key.toLowerCase())) throw errors.badAuthKeyHeader();
  return { kind: "key", email, key: key.toLowerCase() };
}

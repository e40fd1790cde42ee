/**
 * Verifies credentials and decides access (design brief §2.1). Well-formed but unknown,
 * revoked or expired credentials are 401; valid credentials that lack the permission group
 * or the account are 403. Nothing is cached, so a revocation takes effect on the next request.
 */
import { errors } from "../errors.ts";
import { hashSecret, sameDigest } from "./ids.ts";
import type { CredentialLookup } from "./ports.ts";
import type { Access, ApiToken, PermissionGroup, Principal } from "./types.ts";

export type Credential = { kind: "token"; value: string } | { kind: "key"; email: string; key: string };

export async function authenticate(lookup: CredentialLookup, credential: Credential, now = new Date()): Promise<Principal> {
  if (credential.kind === "token") {
    const hash = hashSecret(credential.value);
    const token = await lookup.findTokenByHash(hash);
    if (!token || !sameDigest(token.value_hash, hash) || !isTokenActive(token, now)) throw errors.unauthenticated();
    const { value_hash: _ignored, ...rest } = token;
    return { kind: "token", token: rest };
  }
  const user = await lookup.findUserByEmail(credential.email);
  // Hash even when the user is unknown, so timing does not tell which emails exist.
  const hash = hashSecret(credential.key);
  if (!user || !sameDigest(user.api_key_hash, hash)) throw errors.unauthenticated();
  return { kind: "user", user: { id: user.id, email: user.email, created_on: user.created_on }, account_ids: user.account_ids };
}

export function isTokenActive(token: Pick<ApiToken, "revoked_on" | "expires_on">, now = new Date()): boolean {
  if (token.revoked_on) return false;
  return !(token.expires_on && Date.parse(token.expires_on) <= now.getTime());
}

const GRANTS: Record<Access, PermissionGroup[]> = {
  // Write implies Read.
  read: ["Workers CI Read", "Workers CI Write"],
  write: ["Workers CI Write"],
};

/** Accounts the principal may act on. */
export function principalAccounts(principal: Principal): string[] {
  return principal.kind === "token" ? principal.token.account_ids : principal.account_ids;
}

/** Throws 403 10000 unless the principal covers `accountId` with the needed access. */
export function authorize(principal: Principal, accountId: string, access: Access): void {
  if (!principalAccounts(principal).includes(accountId)) throw errors.forbidden();
  // A global key carries every permission on its user's accounts.
  if (principal.kind === "user") return;
  const granted = principal.token.permission_groups;
  if (!GRANTS[access].some((group) => granted.includes(group))) throw errors.forbidden();
}

/** How a principal is named in logs and audit lines (never a secret). */
export function describePrincipal(principal: Principal): string {
  return principal.kind === "token"
    ? `token ${principal.token.id} (${principal.token.name})`
    : `user ${principal.user.email}`;
}

/**
 * Verifies credentials and decides access (docs/errors.md). Well-formed but unknown,
 * revoked or expired credentials are 401; valid credentials that lack the permission group
 * or the account are 403.
 *
 * What a lookup found is kept while the store's credential generation stays the same (the
 * store changes it on any write to tokens, users or memberships, from any process, checked on
 * every request), so a revocation takes effect on the next request; expiry is checked against
 * the clock on every request, cached or not. Without a generation nothing is kept.
 */
import { errors } from "../errors.ts";
import { hashSecret, sameDigest } from "./ids.ts";
import type { CredentialLookup } from "./ports.ts";
import type { Access, ApiToken, PermissionGroup, Principal } from "./types.ts";

export type Credential = { kind: "token"; value: string } | { kind: "key"; email: string; key: string };

/** Past this many credentials the cache starts over (only credentials that were found are kept). */
const CACHE_LIMIT = 10_000;

interface Cache {
  generation: number;
  /** By the credential itself (no hashing on a hit): a token's row, or a user's principal. */
  entries: Map<string, { kind: "token"; token: ApiToken } | { kind: "user"; principal: Principal }>;
}

const caches = new WeakMap<CredentialLookup, Cache>();

/** The cache of the lookup's current generation (undefined: the lookup keeps nothing). */
function currentCache(lookup: CredentialLookup): Cache | undefined {
  // Read before any lookup: whatever they read is at least as new as this generation.
  const generation = lookup.generation?.();
  if (generation === undefined) return undefined;
  let cache = caches.get(lookup);
  if (!cache || cache.generation !== generation) caches.set(lookup, (cache = { generation, entries: new Map() }));
  return cache;
}

const credentialKey = (credential: Credential): string =>
  credential.kind === "token" ? `t${credential.value}` : `k${credential.email}\n${credential.key}`;

/**
 * The principal of credentials the current generation already found valid and active, without
 * a read or a hash; undefined otherwise (not seen, refused, or a lookup that keeps nothing),
 * where `authenticate` gives the answer. For callers that answer only the common case (api's
 * reused answers) and leave every other to the full path.
 */
export function cachedPrincipal(lookup: CredentialLookup, credential: Credential, now = new Date()): Principal | undefined {
  const hit = currentCache(lookup)?.entries.get(credentialKey(credential));
  if (hit?.kind === "user") return hit.principal;
  if (hit?.kind === "token" && isTokenActive(hit.token, now)) return { kind: "token", token: hit.token };
  return undefined;
}

export async function authenticate(lookup: CredentialLookup, credential: Credential, now = new Date()): Promise<Principal> {
  const cache = currentCache(lookup);
  const key = credentialKey(credential);
  const hit = cache?.entries.get(key);
  if (hit?.kind === "token") {
    if (!isTokenActive(hit.token, now)) throw errors.unauthenticated();
    return { kind: "token", token: hit.token };
  }
  if (hit?.kind === "user") return hit.principal;
  const remember = (entry: Cache["entries"] extends Map<string, infer E> ? E : never) => {
    if (!cache) return;
    if (cache.entries.size >= CACHE_LIMIT) cache.entries.clear();
    cache.entries.set(key, entry);
  };
  if (credential.kind === "token") {
    const hash = hashSecret(credential.value);
    const token = await lookup.findTokenByHash(hash);
    if (!token || !sameDigest(token.value_hash, hash)) throw errors.unauthenticated();
    const { value_hash: _ignored, ...rest } = token;
    // Kept revoked or expired too: a revoked token stays refused without a read.
    const kept = freezeToken(rest);
    remember({ kind: "token", token: kept });
    if (!isTokenActive(kept, now)) throw errors.unauthenticated();
    return { kind: "token", token: kept };
  }
  const user = await lookup.findUserByEmail(credential.email);
  // Hash even when the user is unknown, so timing does not tell which emails exist.
  const hash = hashSecret(credential.key);
  if (!user || !sameDigest(user.api_key_hash, hash)) throw errors.unauthenticated();
  const principal: Principal = Object.freeze({
    kind: "user" as const,
    user: Object.freeze({ id: user.id, email: user.email, created_on: user.created_on }),
    account_ids: Object.freeze([...user.account_ids]) as string[],
  });
  remember({ kind: "user", principal });
  return principal;
}

/** Cached principals are shared by concurrent requests: frozen, so none can change another's. */
function freezeToken(token: ApiToken): ApiToken {
  Object.freeze(token.permission_groups);
  Object.freeze(token.account_ids);
  return Object.freeze(token);
}

export function isTokenActive(token: Pick<ApiToken, "revoked_on" | "expires_on">, now = new Date()): boolean {
  if (token.revoked_on) return false;
  return !(token.expires_on && Date.parse(token.expires_on) <= now.getTime());
}

const GRANTS: Record<Access, PermissionGroup[]> = {
  // Write implies Read.
  read: ["Workers CI Read", "Workers CI Write"],
  write: ["Workers CI Write"],
  // Kiln's queues and subscriptions carry build events only: whoever may run the account's
  // builds (Workers CI Write) may also subscribe to and consume their events.
  queues_read: ["Queues Read", "Queues Write", "Workers CI Write"],
  queues_write: ["Queues Write", "Workers CI Write"],
};

/** The permission groups that grant `access` (the OpenAPI document lists them). */
export const grantsOf = (access: Access): readonly PermissionGroup[] => GRANTS[access];

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

/** What the principal may do on `accountId` (the permissions extension; a global key has both groups). */
export function accessOf(principal: Principal, accountId: string): { read: boolean; write: boolean; permission_groups: PermissionGroup[] } {
  const covered = principalAccounts(principal).includes(accountId);
  const groups: PermissionGroup[] = principal.kind === "user" ? [...GRANTS.read] : [...principal.token.permission_groups];
  const has = (access: Access) => covered && GRANTS[access].some((group) => groups.includes(group));
  return { read: has("read"), write: has("write"), permission_groups: groups };
}

/** How a principal is named in logs and audit lines (never a secret). */
export function describePrincipal(principal: Principal): string {
  return principal.kind === "token"
    ? `token ${principal.token.id} (${principal.token.name})`
    : `user ${principal.user.email}`;
}

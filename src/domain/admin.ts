/**
 * Administrative operations shared by the CLI and the first-start bootstrap: accounts,
 * users, API tokens and Workers. Secrets are generated here, returned once, and stored
 * only as digests.
 */
import { randomBytes } from "node:crypto";
import { HEX_ID_FORMAT, hashSecret, newGlobalKey, newHexId, newTokenValue, newUuid, nowIso } from "./ids.ts";
import type { Repositories, StorePort } from "./ports.ts";
import type { Account, ApiToken, PermissionGroup, Worker } from "./types.ts";

/** A failure of an admin command that is the caller's (exit code 1), with a plain message. */
export class AdminError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AdminError";
  }
}

/**
 * `id`: the team's real Cloudflare account id (32 lowercase hex), so that clients keep the ids
 * they hold and a build's CLOUDFLARE_ACCOUNT_ID names the real account; a new random one otherwise.
 */
export async function createAccount(repos: Repositories, name: string, id?: string): Promise<Account> {
  if (id !== undefined) {
    if (!HEX_ID_FORMAT.test(id)) throw new AdminError(`invalid account id ${JSON.stringify(id)}: an account id is 32 lowercase hex characters`);
    if (await repos.accounts.get(id)) throw new AdminError(`an account with id ${id} already exists`);
  }
  const account: Account = { id: id ?? newHexId(), name, created_on: nowIso() };
  await repos.accounts.create(account);
  // Every account gets its own webhook secret: no tenant verifies another's pushes.
  await repos.accounts.setWebhookSecret(account.id, newWebhookSecret());
  return account;
}

const newWebhookSecret = (): string => randomBytes(32).toString("base64url");

/**
 * The account's webhook secret, shown to its operator: made when missing (accounts created
 * before webhooks existed), replaced with `rotate` (deliveries signed with the old one then fail).
 */
export async function accountWebhookSecret(repos: Repositories, accountId: string, rotate: boolean): Promise<{ account_id: string; webhook_secret: string; rotated: boolean }> {
  await requireAccount(repos, accountId);
  const current = await repos.accounts.webhookSecret(accountId);
  if (current !== undefined && !rotate) return { account_id: accountId, webhook_secret: current, rotated: false };
  const secret = newWebhookSecret();
  await repos.accounts.setWebhookSecret(accountId, secret);
  return { account_id: accountId, webhook_secret: secret, rotated: current !== undefined };
}

async function requireAccount(repos: Repositories, id: string): Promise<Account> {
  const account = await repos.accounts.get(id);
  if (!account) throw new AdminError(`no account with id ${id}`);
  return account;
}

export interface NewToken {
  accountIds: string[];
  name: string;
  permissionGroups: PermissionGroup[];
  expiresOn?: string | undefined;
}

export async function createToken(repos: Repositories, input: NewToken): Promise<{ token: ApiToken; value: string }> {
  for (const id of input.accountIds) await requireAccount(repos, id);
  const now = nowIso();
  const value = newTokenValue();
  const token: ApiToken = {
    id: newHexId(),
    name: input.name,
    permission_groups: [...new Set(input.permissionGroups)],
    account_ids: [...new Set(input.accountIds)],
    expires_on: input.expiresOn ?? null,
    revoked_on: null,
    created_on: now,
    modified_on: now,
  };
  await repos.tokens.create(token, hashSecret(value));
  return { token, value };
}

export async function revokeToken(repos: Repositories, id: string): Promise<ApiToken> {
  const token = await repos.tokens.get(id);
  if (!token) throw new AdminError(`no token with id ${id}`);
  if (!token.revoked_on) await repos.tokens.revoke(id, nowIso());
  return (await repos.tokens.get(id)) ?? token;
}

export async function createUser(repos: Repositories, email: string, accountIds: string[]): Promise<{ email: string; api_key: string }> {
  for (const id of accountIds) await requireAccount(repos, id);
  if (await repos.users.getByEmail(email)) throw new AdminError(`a user with email ${email} already exists`);
  const apiKey = newGlobalKey();
  await repos.users.create({ id: newUuid(), email, created_on: nowIso() }, hashSecret(apiKey), [...new Set(accountIds)]);
  return { email, api_key: apiKey };
}

/** `tag`: the Worker's real Cloudflare tag (32 lowercase hex), unique across accounts as on Cloudflare; a new random one otherwise. */
export async function createWorker(repos: Repositories, accountId: string, name: string, tag?: string): Promise<Worker> {
  await requireAccount(repos, accountId);
  if (await repos.workers.getByName(accountId, name)) {
    throw new AdminError(`a Worker named ${name} already exists in account ${accountId}`);
  }
  if (tag !== undefined) {
    if (!HEX_ID_FORMAT.test(tag)) throw new AdminError(`invalid Worker tag ${JSON.stringify(tag)}: a tag is 32 lowercase hex characters`);
    if (await repos.workers.tagExists(tag)) throw new AdminError(`a Worker with tag ${tag} already exists`);
  }
  const now = nowIso();
  const worker: Worker = { tag: tag ?? newHexId(), account_id: accountId, name, created_on: now, modified_on: now };
  await repos.workers.create(worker);
  return worker;
}

export interface Bootstrap {
  account: Account;
  token: ApiToken;
  value: string;
}

/**
 * On an empty database, creates a default account and a Workers CI Write token, once.
 * Runs in one write transaction so two servers starting together bootstrap only once.
 */
export async function bootstrapIfEmpty(store: StorePort): Promise<Bootstrap | undefined> {
  return store.transaction(async (repos) => {
    if ((await repos.accounts.count()) > 0) return undefined;
    const account = await createAccount(repos, "default");
    const { token, value } = await createToken(repos, {
      accountIds: [account.id],
      name: "bootstrap",
      permissionGroups: ["Workers CI Write"],
    });
    return { account, token, value };
  });
}

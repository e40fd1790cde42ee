/**
 * What the domain needs from storage, as interfaces the domain owns. The store implements
 * them on SQLite and PostgreSQL; the rules never see SQL.
 */
import type { Account, ApiToken, Page, Paged, User, Worker } from "./types.ts";

export interface CredentialLookup {
  /** The token whose value hashes to `valueHash`, revoked or expired ones included. */
  findTokenByHash(valueHash: string): Promise<(ApiToken & { value_hash: string }) | undefined>;
  findUserByEmail(email: string): Promise<(User & { api_key_hash: string; account_ids: string[] }) | undefined>;
}

export interface AccountRepository {
  create(account: Account): Promise<void>;
  get(id: string): Promise<Account | undefined>;
  list(page?: Page, onlyIds?: string[]): Promise<Paged<Account>>;
  count(): Promise<number>;
}

export interface TokenRepository {
  create(token: ApiToken, valueHash: string): Promise<void>;
  get(id: string): Promise<ApiToken | undefined>;
  listForAccount(accountId: string): Promise<ApiToken[]>;
  revoke(id: string, at: string): Promise<boolean>;
}

export interface UserRepository {
  create(user: User, apiKeyHash: string, accountIds: string[]): Promise<void>;
  getByEmail(email: string): Promise<User | undefined>;
}

export interface WorkerRepository {
  create(worker: Worker): Promise<void>;
  getByName(accountId: string, name: string): Promise<Worker | undefined>;
  getByTag(accountId: string, tag: string): Promise<Worker | undefined>;
  list(accountId: string): Promise<Worker[]>;
}

/** The unit of work: repositories bound to one transaction. */
export interface Repositories {
  accounts: AccountRepository;
  tokens: TokenRepository;
  users: UserRepository;
  workers: WorkerRepository;
}

export interface StorePort extends Repositories {
  credentials: CredentialLookup;
  /** Runs `fn` in one write transaction; every write in it lands, or none does. */
  transaction<T>(fn: (repos: Repositories) => Promise<T>): Promise<T>;
}

/**
 * What the domain needs from storage, as interfaces the domain owns. The store implements
 * them on SQLite and PostgreSQL; the rules never see SQL.
 */
import type {
  BuildSettings,
  BuildToken,
  DeployHook,
  EnvOwnerKind,
  EnvVar,
  Preview,
  RepoConnection,
  Trigger,
  WorkerPreviews,
} from "./config-types.ts";
import type { Account, ApiToken, Page, Paged, User, Worker } from "./types.ts";
import type { BuildRepository } from "./build-ports.ts";
import type { DeliveryRepository } from "./delivery-types.ts";
import type { BuildEventReader, EventSubscriptionRepository, QueueRepository } from "./event-ports.ts";
import type { WebhookDeliveryRepository } from "./webhook-deliveries.ts";

export interface CredentialLookup {
  /** The token whose value hashes to `valueHash`, revoked or expired ones included. */
  findTokenByHash(valueHash: string): Promise<(ApiToken & { value_hash: string }) | undefined>;
  findUserByEmail(email: string): Promise<(User & { api_key_hash: string; account_ids: string[] }) | undefined>;
  /**
   * A number that changes whenever any credential may have changed (a token, a user, a
   * membership written by any process), read before the lookups it vouches for; undefined when
   * no such check exists or holds right now: then nothing read may be reused.
   */
  generation?(): number | undefined;
}

export interface AccountRepository {
  create(account: Account): Promise<void>;
  get(id: string): Promise<Account | undefined>;
  list(page?: Page, onlyIds?: string[]): Promise<Paged<Account>>;
  count(): Promise<number>;
  setLimits(id: string, limits: { build_minutes_limit?: number | null; concurrency_limit?: number | null }): Promise<void>;
  limits(id: string): Promise<{ build_minutes_limit: number | null; concurrency_limit: number | null } | undefined>;
  /** The opened webhook secret; undefined when the account has none (or does not exist). */
  webhookSecret(id: string): Promise<string | undefined>;
  /** False when the account does not exist. */
  setWebhookSecret(id: string, secret: string): Promise<boolean>;
}

export interface RepoConnectionRepository {
  /** Including soft-deleted rows (a trigger still shows its connection). */
  get(accountId: string, uuid: string): Promise<RepoConnection | undefined>;
  findByRepo(accountId: string, providerType: string, repoId: string): Promise<RepoConnection | undefined>;
  /** Live connections of a provider repository: in one account, or in every account. */
  liveByRepo(providerTypes: readonly string[], repoId: string, accountId?: string): Promise<RepoConnection[]>;
  /** False when a connection for the same repository already exists (a concurrent upsert won). */
  insert(connection: RepoConnection): Promise<boolean>;
  update(connection: RepoConnection): Promise<void>;
}

export interface BuildTokenRepository {
  /** Including soft-deleted rows. */
  get(accountId: string, uuid: string): Promise<BuildToken | undefined>;
  /** The opened secret of a live token (for builds only). */
  secret(accountId: string, uuid: string): Promise<string | undefined>;
  list(accountId: string, page: Page): Promise<Paged<BuildToken>>;
  insert(token: BuildToken, secret: string): Promise<void>;
  softDelete(accountId: string, uuid: string, at: string): Promise<boolean>;
}

export interface TriggerRepository {
  /** Including soft-deleted triggers. */
  get(accountId: string, uuid: string): Promise<Trigger | undefined>;
  /** Every trigger of a Worker, soft-deleted ones included, oldest first. */
  listByWorker(accountId: string, workerTag: string): Promise<Trigger[]>;
  /** Live triggers building from a repository connection, by Worker, oldest first. */
  liveByConnection(accountId: string, connectionUuid: string): Promise<Trigger[]>;
  insert(trigger: Trigger): Promise<void>;
  update(trigger: Trigger): Promise<void>;
  softDelete(accountId: string, uuid: string, at: string): Promise<boolean>;
  bumpCacheGeneration(accountId: string, uuid: string, at: string): Promise<void>;
}

export interface EnvVarRepository {
  list(kind: EnvOwnerKind, ownerId: string): Promise<EnvVar[]>;
  /** Inserts or replaces by key; keeps created_on of an existing key. */
  upsert(kind: EnvOwnerKind, ownerId: string, vars: EnvVar[]): Promise<void>;
  remove(kind: EnvOwnerKind, ownerId: string, key: string): Promise<boolean>;
  removeAll(kind: EnvOwnerKind, ownerId: string): Promise<void>;
}

export interface WorkerPreviewsRepository {
  get(accountId: string, workerTag: string): Promise<WorkerPreviews | undefined>;
  put(previews: WorkerPreviews): Promise<void>;
  remove(accountId: string, workerTag: string): Promise<void>;
}

export interface PreviewRepository {
  get(accountId: string, workerTag: string, previewId: string): Promise<Preview | undefined>;
  findByBranch(accountId: string, workerTag: string, branch: string): Promise<Preview | undefined>;
  list(accountId: string, workerTag: string, page?: Page): Promise<Paged<Preview>>;
  insert(preview: Preview): Promise<void>;
  update(preview: Preview): Promise<void>;
  removeAllOfWorker(accountId: string, workerTag: string): Promise<void>;
}

export interface DeployHookRepository {
  get(accountId: string, workerTag: string, uuid: string): Promise<DeployHook | undefined>;
  /** By UUID alone (the unauthenticated trigger endpoint). */
  getByUuid(uuid: string): Promise<DeployHook | undefined>;
  findByName(accountId: string, workerTag: string, name: string): Promise<DeployHook | undefined>;
  list(accountId: string, workerTag: string): Promise<DeployHook[]>;
  insert(hook: DeployHook): Promise<void>;
  update(hook: DeployHook): Promise<void>;
  remove(accountId: string, uuid: string): Promise<boolean>;
}

export type { BuildSettings };

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
  /** Whether any account has a Worker with this tag (tags are unique across accounts). */
  tagExists(tag: string): Promise<boolean>;
  list(accountId: string): Promise<Worker[]>;
}

/** The unit of work: repositories bound to one transaction. */
export interface Repositories {
  accounts: AccountRepository;
  tokens: TokenRepository;
  users: UserRepository;
  workers: WorkerRepository;
  repoConnections: RepoConnectionRepository;
  buildTokens: BuildTokenRepository;
  triggers: TriggerRepository;
  envVars: EnvVarRepository;
  workerPreviews: WorkerPreviewsRepository;
  previews: PreviewRepository;
  deployHooks: DeployHookRepository;
  builds: BuildRepository;
  deliveries: DeliveryRepository;
  buildEvents: BuildEventReader;
  queues: QueueRepository;
  eventSubscriptions: EventSubscriptionRepository;
  webhookDeliveries: WebhookDeliveryRepository;
}

export interface StorePort extends Repositories {
  credentials: CredentialLookup;
  /**
   * `listener` hears the account of every build event once the transaction that wrote it has
   * committed (in this process; store/notify.ts carries it to a fleet). Returns an unsubscribe.
   */
  onEventsCommitted(listener: (accountId: string) => void): () => void;
  /** Runs `fn` in one write transaction; every write in it lands, or none does. */
  transaction<T>(fn: (repos: Repositories) => Promise<T>): Promise<T>;
}

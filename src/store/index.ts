/**
 * The store: the domain's ports implemented with Kysely on SQLite or PostgreSQL.
 */
import type { Repositories, StorePort } from "../domain/ports.ts";
import { accountRepository } from "./accounts.ts";
import { sqliteChangeSignal, type ChangeSignal } from "./change-signal.ts";
import { storeCredentials } from "./credentials.ts";
import { openDatabase, storageFailureOf, type Db, type DialectName, type OpenOptions } from "./database.ts";
import { ServiceHealth } from "../domain/health.ts";
import { sql } from "kysely";
import { EventEmitter } from "node:events";
import { migrate } from "./migrate.ts";
import { tokenRepository } from "./tokens.ts";
import { writeTransaction, type Tx } from "./transaction.ts";
import { userRepository } from "./users.ts";
import { workerRepository } from "./workers.ts";
import { repoConnectionRepository } from "./repo-connections.ts";
import { buildTokenRepository } from "./build-tokens.ts";
import { triggerRepository } from "./triggers.ts";
import { envVarRepository } from "./env-vars.ts";
import { previewRepository, workerPreviewsRepository } from "./previews.ts";
import { deployHookRepository } from "./deploy-hooks.ts";
import { buildRepository } from "./builds.ts";
import { deliveryRepository } from "./deliveries.ts";
import { buildEventReader } from "./build-events.ts";
import { queueRepository } from "./queues.ts";
import { eventSubscriptionRepository } from "./event-subscriptions.ts";
import type { SecretBox } from "../domain/secrets.ts";
import { secretBox } from "../domain/secrets.ts";
import { webhookDeliveryRepository } from "./event-deliveries.ts";

export interface Store extends StorePort {
  db: Db;
  /** Cheap liveness probe for /healthz. */
  ping(): Promise<void>;
  /**
   * A small real write that needs space (SQLite: one row rewritten, a WAL page; PostgreSQL: 64 KiB
   * into a temporary table of its own): whether the database can store data again after a
   * storage failure. The only thing that clears the failure, when it succeeds.
   */
  probeWrite(): Promise<void>;
  /** Storage failures seen by writes (and whether the node drains), for /healthz. */
  health: ServiceHealth;
  /**
   * SQLite: whether anything was committed since a look, by any process (one `pread`); what
   * lets answers be reused until the next commit. Undefined on PostgreSQL, where the same
   * certainty would cost the round trip it saves.
   */
  changes?: ChangeSignal;
  close(): Promise<void>;
}

/** How a set of repositories runs a read that needs its own transaction, and hears of events written. */
interface Binding {
  transaction: <T>(fn: (tx: Tx) => Promise<T>) => Promise<T>;
  noteEvent: (accountId: string) => void;
}

function repositories(tx: Tx, box: SecretBox, dialect: DialectName, binding: Binding, sqlite?: Db["sqlite"]): Repositories {
  return {
    accounts: accountRepository(tx, box),
    tokens: tokenRepository(tx),
    users: userRepository(tx),
    workers: workerRepository(tx, sqlite),
    repoConnections: repoConnectionRepository(tx, sqlite),
    buildTokens: buildTokenRepository(tx, box, sqlite),
    triggers: triggerRepository(tx, sqlite),
    envVars: envVarRepository(tx, box, sqlite),
    workerPreviews: workerPreviewsRepository(tx),
    previews: previewRepository(tx),
    deployHooks: deployHookRepository(tx),
    builds: buildRepository(tx, dialect, binding.noteEvent, sqlite),
    deliveries: deliveryRepository(tx),
    buildEvents: buildEventReader(tx, dialect, binding.transaction),
    queues: queueRepository(tx, dialect),
    eventSubscriptions: eventSubscriptionRepository(tx),
    webhookDeliveries: webhookDeliveryRepository(tx, dialect, box, binding.transaction),
  };
}

export function createStore(db: Db, secretKey: Buffer): Store {
  const box = secretBox(secretKey);
  const health = new ServiceHealth();
  // Every write transaction that the database could not store for lack of space (or a failing
  // disk) marks the health; only probeWrite clears it. Other writes succeeding prove nothing:
  // on PostgreSQL an update rewrites its row in the page it is on, and a lease renewal or the
  // old probe went through while every log line was refused for want of a new page.
  const watched = async <T>(write: Promise<T>): Promise<T> => {
    try {
      return await write;
    } catch (error) {
      const failure = storageFailureOf(error);
      if (failure) health.storageFailed(failure.code, failure.message);
      throw error;
    }
  };
  const committed = new EventEmitter();
  committed.setMaxListeners(0);
  const announce = (accounts: Iterable<string>) => {
    for (const account of accounts) committed.emit("events", account);
  };
  // Outside a transaction every statement commits on its own.
  const top: Binding = { transaction: (fn) => writeTransaction(db, fn), noteEvent: (a) => announce([a]) };
  const changes = db.sqlite ? sqliteChangeSignal(db.sqlite) : undefined;
  return {
    db,
    ...repositories(db.kysely, box, db.dialect, top, db.sqlite),
    credentials: storeCredentials(db, changes),
    health,
    ...(changes ? { changes } : {}),
    async transaction(fn) {
      const accounts = new Set<string>();
      const result = await watched(
        writeTransaction(db, (tx) => fn(repositories(tx, box, db.dialect, { transaction: (inner) => inner(tx), noteEvent: (a) => accounts.add(a) }))),
      );
      announce(accounts);
      return result;
    },
    onEventsCommitted(listener) {
      committed.on("events", listener);
      return () => void committed.off("events", listener);
    },
    async ping() {
      await db.kysely.selectFrom("kiln_migrations").select("name").limit(1).execute();
    },
    async probeWrite() {
      await watched(
        writeTransaction(db, async (tx) => {
          if (db.dialect === "postgres") {
            // A file of its own that must grow by 64 KiB (8 pages; rows under 2 KB are stored as
            // they are, not compressed), in the database's tablespace, dropped at commit: it
            // fails with 53100 while no new page can be had, as log lines then do.
            await sql`create temporary table kiln_storage_probe (t text) on commit drop`.execute(tx);
            await sql`insert into kiln_storage_probe select repeat(md5(g::text), 32) from generate_series(1, 64) g`.execute(tx);
          } else {
            // SQLite: the page goes to the end of the WAL, which the disk must hold.
            await sql`update kiln_migrations set name = name where name = (select min(name) from kiln_migrations)`.execute(tx);
          }
        }),
      );
      health.storageRecovered();
    },
    close: () => db.close(),
  };
}

/** Opens the database, applies pending migrations, and returns the store. */
export async function openStore(options: OpenOptions & { secretKey: Buffer }): Promise<Store> {
  const db = openDatabase(options);
  try {
    await migrate(db);
  } catch (error) {
    await db.close();
    throw error;
  }
  return createStore(db, options.secretKey);
}

export type { Db, OpenOptions };

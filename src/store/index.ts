/**
 * The store: the domain's ports implemented with Kysely on SQLite or PostgreSQL.
 */
import type { Repositories, StorePort } from "../domain/ports.ts";
import { accountRepository } from "./accounts.ts";
import { credentialLookup } from "./credentials.ts";
import { openDatabase, type Db, type OpenOptions } from "./database.ts";
import { migrate } from "./migrate.ts";
import { tokenRepository } from "./tokens.ts";
import { writeTransaction, type Tx } from "./transaction.ts";
import { userRepository } from "./users.ts";
import { workerRepository } from "./workers.ts";

export interface Store extends StorePort {
  db: Db;
  /** Cheap liveness probe for /healthz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

function repositories(tx: Tx): Repositories {
  return {
    accounts: accountRepository(tx),
    tokens: tokenRepository(tx),
    users: userRepository(tx),
    workers: workerRepository(tx),
  };
}

export function createStore(db: Db): Store {
  return {
    db,
    ...repositories(db.kysely),
    credentials: credentialLookup(db.kysely),
    transaction: (fn) => writeTransaction(db, (tx) => fn(repositories(tx))),
    async ping() {
      await db.kysely.selectFrom("kiln_migrations").select("name").limit(1).execute();
    },
    close: () => db.close(),
  };
}

/** Opens the database, applies pending migrations, and returns the store. */
export async function openStore(options: OpenOptions): Promise<Store> {
  const db = openDatabase(options);
  try {
    await migrate(db);
  } catch (error) {
    await db.close();
    throw error;
  }
  return createStore(db);
}

export type { Db, OpenOptions };

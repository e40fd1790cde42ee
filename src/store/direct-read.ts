/**
 * Reads on the request path, run as statements prepared once on the store's own SQLite
 * connection. Kysely builds and compiles a query anew on every call, which cost more than
 * running these small indexed reads (docs/benchmarks.md "HTTP").
 *
 * Only outside a transaction: inside one, Kysely holds the connection for the transaction's
 * own queries (a direct read then could see its uncommitted writes), so the repository takes
 * Kysely's path. `undefined` from `reader` (PostgreSQL, or a repository made for a transaction)
 * means always Kysely's path.
 */
import type SQLite from "better-sqlite3";

export interface DirectRead<P extends unknown[], R> {
  /** Whether a direct read may run now. */
  usable(): boolean;
  get(...params: P): R | undefined;
  all(...params: P): R[];
}

/**
 * `fromValues`: rows are read as arrays and made into objects by it (better-sqlite3 sets an
 * object row's columns one by one from C++, dear on wide rows).
 */
export function directRead<P extends unknown[], R>(sqlite: SQLite.Database | undefined, source: string, fromValues?: (values: unknown[]) => R): DirectRead<P, R> | undefined {
  if (!sqlite) return undefined;
  if (fromValues) {
    let statement: SQLite.Statement<P, unknown[]> | undefined;
    const prepared = () => (statement ??= sqlite.prepare<P, unknown[]>(source).raw(true));
    return {
      usable: () => !sqlite.inTransaction,
      get: (...params) => {
        const values = prepared().get(...params);
        return values === undefined ? undefined : fromValues(values);
      },
      all: (...params) => prepared().all(...params).map(fromValues),
    };
  }
  let statement: SQLite.Statement<P, R> | undefined;
  const prepared = () => (statement ??= sqlite.prepare<P, R>(source));
  return {
    usable: () => !sqlite.inTransaction,
    get: (...params) => prepared().get(...params),
    all: (...params) => prepared().all(...params),
  };
}

/**
 * What `/healthz` reports beyond "the database answers": a node that is shutting down
 * (draining: a load balancer should move traffic away while its builds finish) and a store
 * that cannot write (a full disk). Neither knows of HTTP or SQL: the store records storage
 * failures here, the server its drain, and the health route reads both.
 */
export interface StorageFailure {
  /** The driver's code: SQLITE_FULL, ENOSPC, 53100 (PostgreSQL disk_full)… */
  code: string;
  message: string;
  /** When the first failing write of this spell happened (ISO 8601). */
  since: string;
}

export class ServiceHealth {
  draining = false;
  private failure: StorageFailure | undefined;

  get storage(): StorageFailure | undefined {
    return this.failure;
  }

  storageFailed(code: string, message: string): void {
    this.failure ??= { code, message, since: new Date().toISOString() };
  }

  storageRecovered(): void {
    this.failure = undefined;
  }
}

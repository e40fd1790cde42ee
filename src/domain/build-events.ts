/**
 * Signals between the API and the runners: a build was queued (wake the schedulers), a cancel
 * was requested (abort that build's one AbortController), log lines were stored (wake live
 * readers), a build stopped (release whoever waits on it), build events of an account were
 * committed (wake its event stream and deliverers). In one process they are an
 * EventEmitter (`localSignals`); in a fleet on PostgreSQL the same interface is carried by
 * LISTEN/NOTIFY (store/notify.ts). Storage stays the source of truth: every waiter also polls
 * it, so a lost signal only delays, never loses, what it announces.
 */
import { EventEmitter } from "node:events";

export interface BuildSignals {
  queued(buildUuid: string): void;
  onQueued(listener: () => void): () => void;
  cancel(buildUuid: string): void;
  onCancel(listener: (buildUuid: string) => void): () => void;
  /** New log lines of a build are stored. */
  logs(buildUuid: string): void;
  onLogs(buildUuid: string, listener: () => void): () => void;
  stopped(buildUuid: string): void;
  onStopped(buildUuid: string, listener: () => void): () => void;
  /** Build events of this account were committed (store.onEventsCommitted raises it). */
  events(accountId: string): void;
  onEvents(accountId: string, listener: () => void): () => void;
  /** Any account's (a fleet-wide deliverer). */
  onAnyEvents(listener: (accountId: string) => void): () => void;
  /**
   * Resolves true as soon as `isStopped()` holds (checked at once, on every `stopped`
   * signal for this build and every `pollMs`), or false after `timeoutMs`.
   */
  waitStopped(buildUuid: string, isStopped: () => Promise<boolean>, timeoutMs: number, pollMs?: number): Promise<boolean>;
}

/** The in-process bus, also what a fleet transport delivers into (`deliver`). */
export interface LocalSignals extends BuildSignals {
  /** Raises a signal in this process only (a fleet transport's incoming notifications). */
  deliver(kind: SignalKind, buildUuid: string): void;
}

export type SignalKind = "queued" | "cancel" | "logs" | "stopped" | "events";

export function localSignals(): LocalSignals {
  const bus = new EventEmitter();
  bus.setMaxListeners(0);
  const on = <T extends unknown[]>(event: string, listener: (...args: T) => void) => {
    bus.on(event, listener as (...args: unknown[]) => void);
    return () => void bus.off(event, listener as (...args: unknown[]) => void);
  };
  const deliver = (kind: SignalKind, uuid: string) => {
    if (kind === "queued" || kind === "cancel") bus.emit(kind, uuid);
    else bus.emit(`${kind}:${uuid}`);
    if (kind === "events") bus.emit("events", uuid);
  };
  return {
    deliver,
    queued: (uuid) => deliver("queued", uuid),
    onQueued: (listener) => on("queued", listener),
    cancel: (uuid) => deliver("cancel", uuid),
    onCancel: (listener) => on("cancel", listener),
    logs: (uuid) => deliver("logs", uuid),
    onLogs: (uuid, listener) => on(`logs:${uuid}`, listener),
    stopped: (uuid) => deliver("stopped", uuid),
    onStopped: (uuid, listener) => on(`stopped:${uuid}`, listener),
    events: (accountId) => deliver("events", accountId),
    onEvents: (accountId, listener) => on(`events:${accountId}`, listener),
    onAnyEvents: (listener) => on("events", listener),
    async waitStopped(uuid, isStopped, timeoutMs, pollMs = 100) {
      if (await isStopped()) return true;
      return new Promise<boolean>((resolve) => {
        let done = false;
        let checking = false;
        const finish = (value: boolean) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          clearInterval(poll);
          off();
          resolve(value);
        };
        const check = () => {
          if (checking || done) return;
          checking = true;
          isStopped()
            .then((stopped) => stopped && finish(true))
            .catch(() => undefined)
            .finally(() => (checking = false));
        };
        const timer = setTimeout(() => {
          // One last look: the outcome may have landed just now.
          void isStopped().then(finish, () => finish(false));
        }, timeoutMs);
        const poll = setInterval(check, pollMs);
        const off = on(`stopped:${uuid}`, check);
      });
    },
  };
}

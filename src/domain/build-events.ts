/**
 * In-process signals between the API and the embedded runner: a build was queued (wake the
 * scheduler), a cancel was requested (abort that build's one AbortController), a build
 * stopped (release whoever waits on it). In a fleet the same interface is carried by
 * PostgreSQL LISTEN/NOTIFY; storage stays the source of truth and waiters also poll it.
 */
import { EventEmitter } from "node:events";

export interface BuildSignals {
  queued(buildUuid: string): void;
  onQueued(listener: () => void): () => void;
  cancel(buildUuid: string): void;
  onCancel(listener: (buildUuid: string) => void): () => void;
  stopped(buildUuid: string): void;
  /**
   * Resolves true as soon as `isStopped()` holds (checked at once, on every `stopped`
   * signal for this build and every `pollMs`), or false after `timeoutMs`.
   */
  waitStopped(buildUuid: string, isStopped: () => Promise<boolean>, timeoutMs: number, pollMs?: number): Promise<boolean>;
}

export function localSignals(): BuildSignals {
  const bus = new EventEmitter();
  bus.setMaxListeners(0);
  const on = <T extends unknown[]>(event: string, listener: (...args: T) => void) => {
    bus.on(event, listener as (...args: unknown[]) => void);
    return () => void bus.off(event, listener as (...args: unknown[]) => void);
  };
  return {
    queued: (uuid) => void bus.emit("queued", uuid),
    onQueued: (listener) => on("queued", listener),
    cancel: (uuid) => void bus.emit("cancel", uuid),
    onCancel: (listener) => on("cancel", listener),
    stopped: (uuid) => void bus.emit(`stopped:${uuid}`),
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
          bus.off(`stopped:${uuid}`, check);
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
        bus.on(`stopped:${uuid}`, check);
      });
    },
  };
}

/**
 * `work`'s answer, or a rejection as soon as `signal` fires: whoever waits never waits for what
 * it no longer needs (a git server that does not answer, a slow disk, a database that hangs).
 * `work` itself goes on until it ends by itself (its rejection is then ignored), so what it
 * starts must be bounded on its own: git and tool probes are killed by the same signal,
 * tenant-file reads time out, cache copies stop at the next file.
 */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  work.catch(() => undefined);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error(String(signal.reason ?? "aborted")));
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

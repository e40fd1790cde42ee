/**
 * A background job that runs in passes: woken by a signal and by a poll, never two passes at
 * once, and a wake during a pass runs one more right after it (so nothing signalled mid-pass
 * waits for the next poll). The webhook deliverer and the provider status reporter are both this.
 */
export class PassLoop {
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private halted = false;

  constructor(
    private readonly pass: () => Promise<void>,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Whether stop() was called since the last start (a long pass checks it between batches). */
  get stopped(): boolean {
    return this.halted;
  }

  /** `subscribe` hands back its unsubscribe; the poll timer keeps nothing alive. */
  start(pollMs: number, subscribe: (wake: () => void) => () => void): void {
    this.halted = false;
    this.unsubscribe = subscribe(() => this.wake());
    this.timer = setInterval(() => this.wake(), pollMs);
    this.timer.unref();
  }

  /** Runs a pass now (or right after the one in progress); nothing once stopped. */
  wake(): void {
    if (this.halted) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pass()
      .catch(this.onError)
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.wake();
        }
      });
  }

  /** No more passes; resolves once the one in progress is over. */
  async stop(): Promise<void> {
    this.halted = true;
    clearInterval(this.timer);
    this.unsubscribe?.();
    await this.running;
  }
}

/**
 * SIGTERM / SIGINT for `kiln serve` and `kiln runner`, one behaviour for both:
 *
 *   first signal   stop claiming, let running builds finish for up to --drain-timeout while
 *                  everything else keeps working (the API answers status, logs and cancels;
 *                  /healthz says 503 `draining` so a load balancer moves traffic away), and
 *                  say on the terminal what is awaited and how to cut it short;
 *   second signal  terminate the builds still running now, store their outcomes, then exit;
 *   third signal   exit at once (outcomes not stored are reaped by the next start or another
 *                  node when the lease runs out).
 */
import type { Logger } from "pino";

export interface ShutdownPlan {
  logger: Logger;
  /** Builds this process is running now (0 for an API-only node). */
  running: () => number;
  drainSeconds: number;
  /** The whole orderly stop: drain, terminate the rest, close everything. */
  stop: () => Promise<void>;
  /** Cuts the drain short: builds still running are terminated at once. */
  endDrain: () => void;
  /** Called once at the first signal, before the drain (e.g. /healthz starts answering draining). */
  onFirst?: () => void;
  /** Where the human-readable notes go; the JSON log line is written whatever it is. */
  terminal?: NodeJS.WriteStream;
}

export function handleShutdownSignals(plan: ShutdownPlan): void {
  const terminal = plan.terminal ?? process.stderr;
  // Plain text only for a person at a terminal: piped stderr is the JSON log, kept parseable.
  const say = (text: string) => {
    if (terminal.isTTY) terminal.write(`${text}\n`);
  };
  let received = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    received++;
    if (received === 1) {
      plan.onFirst?.();
      const builds = plan.running();
      const waits = builds > 0 && plan.drainSeconds > 0;
      plan.logger.info({ signal, builds, drain_s: waits ? plan.drainSeconds : 0 }, waits ? "shutting down: waiting for running builds (a second signal terminates them now)" : "shutting down");
      if (waits) {
        // One write: the JSON log line, written asynchronously, must not land between the two.
        say(
          `Kiln is shutting down: waiting up to ${plan.drainSeconds} s for ${builds} running build${builds === 1 ? "" : "s"} to finish (the API keeps answering).\n` +
            "Press Ctrl-C again (or send SIGTERM again) to terminate them now.",
        );
      }
      plan
        .stop()
        .then(() => {
          plan.logger.info("stopped");
          plan.logger.flush();
          process.exitCode = 0;
        })
        .catch((error: unknown) => {
          plan.logger.error({ err: error }, "shutdown failed");
          plan.logger.flush();
          process.exit(1);
        });
    } else if (received === 2) {
      const builds = plan.running();
      plan.logger.warn({ signal, builds }, "second signal: terminating the running builds now");
      if (builds > 0) say(`Terminating ${builds} build${builds === 1 ? "" : "s"} now and storing their outcome; a third signal exits at once.`);
      plan.endDrain();
    } else {
      plan.logger.error({ signal, builds: plan.running() }, "third signal: exiting without waiting");
      plan.logger.flush();
      process.exit(130);
    }
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}

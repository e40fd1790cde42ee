/**
 * Delivers build events to webhook destinations. Every API node runs one; the store's leases
 * keep them apart: a node claims due deliveries (SKIP LOCKED on PostgreSQL), holds each for the
 * request's deadline plus a margin, and records the attempt only while its lease stands — so an
 * event is sent by one node at a time, and one that died mid-send is taken over once its lease
 * runs out. At least once: a receiver may see an event again (same `webhook-id`) when a node dies
 * between the receiver's 2xx and the record of it.
 *
 * Per attempt: the event is read from the outbox and wrapped in its subscription's envelope, the
 * URL is checked again (DNS may have changed since the subscription was made) and the request
 * goes to exactly the addresses checked, signed per Standard Webhooks. The log names the
 * delivery, the URL's origin (a path can hold a receiver's own token, Slack's do) and the result;
 * never the secret.
 *
 * It wakes when the outbox commits events (LISTEN/NOTIFY in a fleet) and polls every `pollMs`
 * for retries coming due.
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { BuildSignals } from "../domain/build-events.ts";
import { PassLoop } from "../domain/pass-loop.ts";
import { envelopeOf } from "../domain/event-envelope.ts";
import type { BuildEventReader } from "../domain/event-ports.ts";
import { signWebhook, WEBHOOK_SECRET_FORMAT } from "../domain/standard-webhooks.ts";
import { DEFAULT_RETRY_SCHEDULE_MS, retryDelayMs } from "../domain/webhook-backoff.ts";
import type { AttemptOutcome, ClaimedDelivery, WebhookAttempt, WebhookDeliveryRepository } from "../domain/webhook-deliveries.ts";
import { checkDestination, DestinationRefused, type OwnApi, type Resolver } from "./address-guard.ts";
import { postWebhook } from "./http-sender.ts";

export interface DelivererOptions {
  allowPrivate: boolean;
  /** Kiln's own API (never a valid destination); `kiln serve` updates it once listening. */
  ownApi: OwnApi;
  timeoutMs: number;
  /** Waits before each retry (domain/webhook-backoff.ts). */
  schedule?: readonly number[];
  pollMs?: number;
  /** Deliveries in flight at once on this node. */
  batch?: number;
  resolver?: Resolver;
  /** Identifies this node in leases and the attempt log (default: random). */
  node?: string;
}

export interface DelivererStore {
  webhookDeliveries: WebhookDeliveryRepository;
  buildEvents: BuildEventReader;
}

/** Beyond the request's own deadline: time to record the attempt before another node may take it. */
const LEASE_MARGIN_MS = 30_000;

export type AttemptResult = "delivered" | "retry" | "failed";

export class WebhookDeliverer {
  readonly node: string;
  ownApi: OwnApi;
  /** Hears the result of every attempt this node recorded (`kiln serve` counts them in /metrics). */
  onAttempt: (result: AttemptResult) => void = () => undefined;
  private readonly loop = new PassLoop(
    () => this.pass(),
    (error) => this.logger.warn({ err: error }, "webhook delivery pass failed"),
  );

  constructor(
    private readonly store: DelivererStore,
    private readonly signals: BuildSignals,
    private readonly options: DelivererOptions,
    private readonly logger: Logger,
  ) {
    this.node = options.node ?? `node-${randomBytes(4).toString("hex")}`;
    this.ownApi = options.ownApi;
  }

  start(): void {
    this.loop.start(this.options.pollMs ?? 1000, (wake) => this.signals.onAnyEvents(wake));
    this.loop.wake();
  }

  /** Stops claiming; resolves once the attempts in flight are recorded. */
  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** Runs a pass now (or right after the one in progress). */
  wake(): void {
    this.loop.wake();
  }

  /** Claims and sends every due delivery; resolves when each is recorded (tests await it). */
  async pass(): Promise<void> {
    const batch = this.options.batch ?? 16;
    const leaseMs = this.options.timeoutMs + LEASE_MARGIN_MS;
    while (!this.loop.stopped) {
      const claimed = await this.store.webhookDeliveries.claimDue(this.node, Date.now(), leaseMs, batch);
      // Settled, not all: one failing (the database refusing its record) must not leave the
      // others running unawaited while stop() thinks the pass is over.
      const results = await Promise.allSettled(claimed.map((c) => this.deliver(c)));
      for (const r of results) if (r.status === "rejected") this.logger.warn({ err: r.reason }, "webhook delivery attempt could not be recorded (retried once its lease runs out)");
      if (claimed.length < batch) return;
    }
  }

  private async deliver(c: ClaimedDelivery): Promise<void> {
    const started = new Date();
    const attempt = (fields: Pick<WebhookAttempt, "status" | "error" | "response_body" | "duration_ms">): WebhookAttempt => ({
      attempt: c.attempt,
      started_on: started.toISOString(),
      node: this.node,
      ...fields,
    });
    let result: WebhookAttempt;
    const [event] = await this.store.buildEvents.byIds([c.event_id]);
    if (!event) {
      // Pruned before it could be delivered: nothing is left to send.
      if (await this.store.webhookDeliveries.recordAttempt(c.id, c.lease, attempt({ status: null, error: "the event is no longer stored (pruned)", response_body: "", duration_ms: 0 }), { state: "failed" })) this.onAttempt("failed");
      return;
    }
    const body = JSON.stringify(envelopeOf(event, c.subscription_id));
    let origin = "";
    if (!WEBHOOK_SECRET_FORMAT.test(c.secret)) {
      // Only a row written around the API can lack one; nothing unsigned is ever sent.
      result = attempt({ status: null, error: "the subscription has no signing secret", response_body: "", duration_ms: 0 });
      if (await this.store.webhookDeliveries.recordAttempt(c.id, c.lease, result, { state: "failed" })) this.onAttempt("failed");
      this.logger.warn({ delivery: c.id, subscription: c.subscription_id }, "webhook delivery given up: the subscription has no signing secret");
      return;
    }
    try {
      const destination = await checkDestination(c.url, { allowPrivate: this.options.allowPrivate, ownApi: this.ownApi, ...(this.options.resolver ? { resolver: this.options.resolver } : {}) });
      origin = destination.url.origin;
      const answer = await postWebhook({
        url: destination.url,
        addresses: destination.addresses,
        headers: { ...signWebhook(c.secret, c.id, started, body) },
        body,
        timeoutMs: this.options.timeoutMs,
      });
      result = attempt({ status: answer.status ?? null, error: answer.error ?? null, response_body: answer.responseBody, duration_ms: answer.durationMs });
    } catch (error) {
      if (!(error instanceof DestinationRefused)) throw error;
      result = attempt({ status: null, error: `destination refused: ${error.reason}`, response_body: "", duration_ms: Date.now() - started.getTime() });
    }
    const delivered = result.error === null;
    let outcome: AttemptOutcome;
    if (delivered) outcome = { state: "delivered" };
    else {
      const wait = retryDelayMs(c.failures + 1, this.options.schedule ?? DEFAULT_RETRY_SCHEDULE_MS);
      outcome = wait === undefined ? { state: "failed" } : { state: "pending", next_attempt_ms: Date.now() + wait };
    }
    const kept = await this.store.webhookDeliveries.recordAttempt(c.id, c.lease, result, outcome);
    if (kept) this.onAttempt(outcome.state === "pending" ? "retry" : outcome.state);
    const log = { delivery: c.id, subscription: c.subscription_id, event: event.type, build: event.build_uuid, destination: origin || undefined, attempt: c.attempt, status: result.status ?? undefined, error: result.error ?? undefined, ms: result.duration_ms };
    if (!kept) this.logger.warn(log, "webhook delivery lease lost before its attempt was recorded (another node may send it again)");
    else if (outcome.state === "delivered") this.logger.info(log, "webhook delivered");
    else if (outcome.state === "failed") this.logger.warn(log, "webhook delivery given up");
    else this.logger.info({ ...log, retry_at: new Date(outcome.next_attempt_ms).toISOString() }, "webhook delivery failed; will retry");
  }
}

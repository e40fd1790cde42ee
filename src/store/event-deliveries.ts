/**
 * Webhook deliveries of build events: the fan-out (called by the outbox in the transaction that
 * wrote the event), the leases nodes take on due deliveries, each attempt's record, and the
 * delivery log the API answers.
 */
import { randomBytes } from "node:crypto";
import { sql, type Selectable } from "kysely";
import type { SecretBox } from "../domain/secrets.ts";
import {
  WEBHOOK_DESTINATION,
  type ClaimedDelivery,
  type WebhookDelivery,
  type WebhookDeliveryRepository,
  type WebhookDeliveryState,
} from "../domain/webhook-deliveries.ts";
import type { DialectName } from "./database.ts";
import { fromJson } from "./json.ts";
import type { EventDeliveriesTable } from "./schema.ts";
import type { Tx } from "./transaction.ts";

/** 32 random hex characters, made by the database so the fan-out stays one INSERT … SELECT. */
const newId = (dialect: DialectName) => (dialect === "postgres" ? sql<string>`replace(gen_random_uuid()::text, '-', '')` : sql<string>`lower(hex(randomblob(16)))`);

/**
 * One pending delivery per enabled webhook subscription of this Worker naming this event type —
 * matched exactly as the queue fan-out matches (store/build-events.ts).
 */
export async function fanOutToWebhooks(db: Tx, dialect: DialectName, accountId: string, workerName: string, type: string, eventId: number, buildUuid: string, at: string): Promise<void> {
  const nowMs = Date.parse(at);
  await sql`
    insert into event_deliveries (id, subscription_id, account_id, event_id, event_type, build_uuid, state, attempts, failures, next_attempt_ms, created_on)
    select ${newId(dialect)}, s.id, ${accountId}, ${eventId}, ${type}, ${buildUuid}, 'pending', 0, 0, ${nowMs}, ${at}
    from event_subscriptions s
    where s.account_id = ${accountId} and s.worker_name = ${workerName} and s.enabled = 1
      and s.destination_type = ${WEBHOOK_DESTINATION} and s.events like ${`%${JSON.stringify(type)}%`}`.execute(db);
}

const iso = (ms: number | string | null): string | null => (ms === null ? null : new Date(Number(ms)).toISOString());

const toDelivery = (r: Selectable<EventDeliveriesTable>): WebhookDelivery => ({
  id: r.id,
  subscription_id: r.subscription_id,
  event_id: Number(r.event_id),
  event_type: r.event_type,
  build_uuid: r.build_uuid,
  state: r.state as WebhookDeliveryState,
  attempts: Number(r.attempts),
  created_on: r.created_on,
  next_attempt_on: r.state === "pending" ? iso(r.next_attempt_ms) : null,
  last_attempt_on: r.last_attempt_on,
  delivered_on: r.delivered_on,
  last_status: r.last_status === null ? null : Number(r.last_status),
  last_error: r.last_error,
});

export function webhookDeliveryRepository(db: Tx, dialect: DialectName, box: SecretBox, transaction: <T>(fn: (tx: Tx) => Promise<T>) => Promise<T>): WebhookDeliveryRepository {
  const ofSubscription = (tx: Tx, accountId: string, subscriptionId: string) =>
    tx.selectFrom("event_deliveries").where("account_id", "=", accountId).where("subscription_id", "=", subscriptionId);
  return {
    async setSecret(accountId, subscriptionId, secret) {
      await db.updateTable("event_subscriptions").set({ webhook_secret: box.seal(secret) }).where("account_id", "=", accountId).where("id", "=", subscriptionId).execute();
    },
    async claimDue(node, nowMs, leaseMs, limit) {
      // Every node asks every second: a plain read first, so an idle one never takes SQLite's
      // write lock (or opens a PostgreSQL transaction) for nothing.
      const due = await db
        .selectFrom("event_deliveries")
        .select("id")
        .where("state", "=", "pending")
        .where("next_attempt_ms", "<=", nowMs)
        .where((eb) => eb.or([eb("lease_expires_ms", "is", null), eb("lease_expires_ms", "<=", nowMs)]))
        .limit(1)
        .executeTakeFirst();
      if (!due) return [];
      return transaction(async (tx) => {
        // Event N+1 of a build waits while N of the same subscription is still pending.
        const rows = await sql<{ id: string; subscription_id: string; account_id: string; event_id: string | number; attempts: number; failures: number; destination: string; webhook_secret: string | null }>`
          select d.id, d.subscription_id, d.account_id, d.event_id, d.attempts, d.failures, s.destination, s.webhook_secret
          from event_deliveries d join event_subscriptions s on s.id = d.subscription_id
          where d.state = 'pending' and d.next_attempt_ms <= ${nowMs}
            and (d.lease_expires_ms is null or d.lease_expires_ms <= ${nowMs})
            and s.enabled = 1
            and not exists (
              select 1 from event_deliveries p
              where p.subscription_id = d.subscription_id and p.build_uuid = d.build_uuid and p.event_id < d.event_id and p.state = 'pending')
          order by d.next_attempt_ms, d.event_id
          limit ${limit}
          ${dialect === "postgres" ? sql`for update of d skip locked` : sql``}`.execute(tx);
        if (rows.rows.length === 0) return [];
        const lease = `${node}.${randomBytes(8).toString("hex")}`;
        await tx
          .updateTable("event_deliveries")
          .set({ lease, lease_expires_ms: nowMs + leaseMs, attempts: sql<number>`attempts + 1` })
          .where("id", "in", rows.rows.map((r) => r.id))
          .execute();
        const claimed: ClaimedDelivery[] = [];
        for (const r of rows.rows) {
          const destination = fromJson<{ url?: unknown }>(r.destination);
          claimed.push({
            id: r.id,
            lease,
            subscription_id: r.subscription_id,
            account_id: r.account_id,
            event_id: Number(r.event_id),
            attempt: Number(r.attempts) + 1,
            failures: Number(r.failures),
            url: typeof destination.url === "string" ? destination.url : "",
            secret: r.webhook_secret === null ? "" : box.open(r.webhook_secret),
          });
        }
        return claimed;
      });
    },
    recordAttempt(id, lease, attempt, outcome) {
      return transaction(async (tx) => {
        const result = await tx
          .updateTable("event_deliveries")
          .set({
            state: outcome.state,
            failures: outcome.state === "delivered" ? sql<number>`failures` : sql<number>`failures + 1`,
            ...(outcome.state === "pending" ? { next_attempt_ms: outcome.next_attempt_ms } : {}),
            ...(outcome.state === "delivered" ? { delivered_on: new Date().toISOString() } : {}),
            lease: null,
            lease_expires_ms: null,
            last_attempt_on: attempt.started_on,
            last_status: attempt.status,
            last_error: attempt.error,
          })
          .where("id", "=", id)
          .where("lease", "=", lease)
          .executeTakeFirst();
        if (Number(result.numUpdatedRows) !== 1) return false;
        await tx.insertInto("event_delivery_attempts").values({ delivery_id: id, ...attempt }).execute();
        return true;
      });
    },
    async list(accountId, subscriptionId, page) {
      const [rows, count] = await Promise.all([
        ofSubscription(db, accountId, subscriptionId)
          .selectAll()
          .orderBy("event_id", "desc")
          .limit(page.per_page)
          .offset((page.page - 1) * page.per_page)
          .execute(),
        ofSubscription(db, accountId, subscriptionId).select((eb) => eb.fn.countAll().as("n")).executeTakeFirst(),
      ]);
      return { items: rows.map(toDelivery), total: Number(count?.n ?? 0) };
    },
    async get(accountId, subscriptionId, deliveryId) {
      const row = await ofSubscription(db, accountId, subscriptionId).selectAll().where("id", "=", deliveryId).executeTakeFirst();
      if (!row) return undefined;
      const attempts = await db.selectFrom("event_delivery_attempts").selectAll().where("delivery_id", "=", deliveryId).orderBy("attempt").orderBy("id").execute();
      return {
        ...toDelivery(row),
        attempt_log: attempts.map((a) => ({
          attempt: Number(a.attempt),
          started_on: a.started_on,
          duration_ms: Number(a.duration_ms),
          status: a.status === null ? null : Number(a.status),
          error: a.error,
          response_body: a.response_body,
          node: a.node,
        })),
      };
    },
    async redeliver(accountId, subscriptionId, deliveryId, nowMs) {
      const row = await db
        .updateTable("event_deliveries")
        .set({ state: "pending", failures: 0, next_attempt_ms: nowMs })
        .where("account_id", "=", accountId)
        .where("subscription_id", "=", subscriptionId)
        .where("id", "=", deliveryId)
        .returningAll()
        .executeTakeFirst();
      return row ? toDelivery(row) : undefined;
    },
  };
}

/**
 * Queues and their messages (the HTTP pull consumer). A pull is one write transaction:
 * dead-letter the exhausted, drop the expired, then one UPDATE … RETURNING leasing the oldest
 * visible messages. On PostgreSQL the rows it leases are chosen FOR UPDATE SKIP LOCKED, so two
 * nodes pulling at once lease disjoint batches without waiting on each other; on SQLite the
 * write transaction (BEGIN IMMEDIATE) serializes pulls.
 */
import { sql, type Selectable } from "kysely";
import type { LeasedMessage, Queue, QueueRepository } from "../domain/event-ports.ts";
import { toStoredEvent } from "./build-events.ts";
import type { DialectName } from "./database.ts";
import type { QueuesTable } from "./schema.ts";
import type { Tx } from "./transaction.ts";

const toQueue = (r: Selectable<QueuesTable>): Queue => ({
  queue_id: r.id,
  account_id: r.account_id,
  queue_name: r.name,
  created_on: r.created_on,
  modified_on: r.modified_on,
  delivery_delay: Number(r.delivery_delay),
  message_retention_period: Number(r.message_retention_period),
  max_retries: Number(r.max_retries),
  dead_letter_queue: r.dead_letter_queue,
  batch_size: Number(r.consumer_batch_size),
  visibility_timeout_ms: Number(r.consumer_visibility_timeout_ms),
  retry_delay: Number(r.consumer_retry_delay),
});

/** Message ids are the row's integer id, as a decimal string; anything else matches nothing. */
const ids = (messageIds: string[]): number[] => messageIds.filter((id) => /^[1-9][0-9]{0,17}$/.test(id)).map(Number);

export function queueRepository(db: Tx, dialect: DialectName): QueueRepository {
  const skipLocked = dialect === "postgres" ? sql` for update skip locked` : sql``;
  return {
    async insert(q) {
      const result = await db
        .insertInto("queues")
        .values({
          id: q.queue_id,
          account_id: q.account_id,
          name: q.queue_name,
          created_on: q.created_on,
          modified_on: q.modified_on,
          delivery_delay: q.delivery_delay,
          message_retention_period: q.message_retention_period,
          max_retries: q.max_retries,
          dead_letter_queue: q.dead_letter_queue,
          consumer_batch_size: q.batch_size,
          consumer_visibility_timeout_ms: q.visibility_timeout_ms,
          consumer_retry_delay: q.retry_delay,
        })
        .onConflict((oc) => oc.columns(["account_id", "name"]).doNothing())
        .returning("id")
        .executeTakeFirst();
      return result !== undefined;
    },
    async get(accountId, queueId) {
      const row = await db.selectFrom("queues").selectAll().where("account_id", "=", accountId).where("id", "=", queueId).executeTakeFirst();
      return row && toQueue(row);
    },
    async getByName(accountId, name) {
      const row = await db.selectFrom("queues").selectAll().where("account_id", "=", accountId).where("name", "=", name).executeTakeFirst();
      return row && toQueue(row);
    },
    async list(accountId) {
      const rows = await db.selectFrom("queues").selectAll().where("account_id", "=", accountId).orderBy("created_on").orderBy("id").execute();
      return rows.map(toQueue);
    },
    async updateConsumer(q) {
      await db
        .updateTable("queues")
        .set({
          max_retries: q.max_retries,
          dead_letter_queue: q.dead_letter_queue,
          consumer_batch_size: q.batch_size,
          consumer_visibility_timeout_ms: q.visibility_timeout_ms,
          consumer_retry_delay: q.retry_delay,
          modified_on: q.modified_on,
        })
        .where("account_id", "=", q.account_id)
        .where("id", "=", q.queue_id)
        .execute();
    },
    async remove(accountId, queueId) {
      // Its messages and the subscriptions delivering into it go with it (ON DELETE CASCADE).
      const result = await db.deleteFrom("queues").where("account_id", "=", accountId).where("id", "=", queueId).executeTakeFirst();
      return Number(result.numDeletedRows) === 1;
    },
    async backlog(queueId) {
      const row = await db.selectFrom("queue_messages").select((eb) => eb.fn.countAll<number>().as("n")).where("queue_id", "=", queueId).executeTakeFirstOrThrow();
      return Number(row.n);
    },
    async metrics(queueId) {
      const row = await sql<{ n: number | string; bytes: number | string | null; oldest: number | string | null }>`
        select count(*) as n, sum(length(e.payload)) as bytes, min(m.created_ms) as oldest
        from queue_messages m join build_events e on e.id = m.event_id
        where m.queue_id = ${queueId}`.execute(db);
      const r = row.rows[0];
      return { backlog_count: Number(r?.n ?? 0), backlog_bytes: Number(r?.bytes ?? 0), oldest_message_timestamp_ms: Number(r?.oldest ?? 0) };
    },
    async pull(queue, limit, visibilityMs, nowMs, token, deadLetterQueueId) {
      const now = sql`cast(${nowMs} as bigint)`;
      // Every message is delivered at least once, max_retries 0 included.
      const deliveries = Math.max(1, queue.max_retries);
      // Visible messages whose deliveries are used up: not delivered again.
      const exhausted = sql`select id from queue_messages where queue_id = ${queue.queue_id} and visible_ms <= ${now} and attempts >= ${deliveries}${skipLocked}`;
      if (deadLetterQueueId !== null) {
        await sql`update queue_messages set queue_id = ${deadLetterQueueId}, attempts = 0, lease = null, visible_ms = ${now} where id in (${exhausted})`.execute(db);
      } else {
        await sql`delete from queue_messages where id in (${exhausted})`.execute(db);
      }
      const expiredBefore = nowMs - queue.message_retention_period * 1000;
      await sql`delete from queue_messages where id in (select id from queue_messages where queue_id = ${queue.queue_id} and created_ms < cast(${expiredBefore} as bigint)${skipLocked})`.execute(db);
      const leased = await sql<{ id: number | string; event_id: number | string; subscription_id: string; created_ms: number | string; attempts: number }>`
        update queue_messages set lease = ${token}, visible_ms = cast(${nowMs + visibilityMs} as bigint), attempts = attempts + 1
        where id in (
          select id from queue_messages
          where queue_id = ${queue.queue_id} and visible_ms <= ${now} and attempts < ${deliveries}
          order by id limit ${limit}${skipLocked})
        returning id, event_id, subscription_id, created_ms, attempts`.execute(db);
      if (leased.rows.length === 0) return [];
      const events = await db
        .selectFrom("build_events")
        .selectAll()
        .where("id", "in", leased.rows.map((r) => Number(r.event_id)))
        .execute();
      const byId = new Map(events.map((e) => [Number(e.id), toStoredEvent(e)]));
      const messages: LeasedMessage[] = [];
      for (const r of [...leased.rows].sort((a, b) => Number(a.id) - Number(b.id))) {
        const event = byId.get(Number(r.event_id));
        // The event is gone only if its account was deleted; so is the message then.
        if (!event) continue;
        messages.push({ id: String(r.id), lease: token, attempts: Number(r.attempts), timestamp_ms: Number(r.created_ms), subscription_id: r.subscription_id, event });
      }
      return messages;
    },
    async removeExpired(nowMs, limit) {
      const result = await sql`
        delete from queue_messages where id in (
          select m.id from queue_messages m join queues q on q.id = m.queue_id
          where m.created_ms < cast(${nowMs} as bigint) - q.message_retention_period * 1000
          limit ${limit}${skipLocked})`.execute(db);
      return Number(result.numAffectedRows ?? 0);
    },
    async ack(queueId, messageIds) {
      const wanted = ids(messageIds);
      if (wanted.length === 0) return [];
      const rows = await db.deleteFrom("queue_messages").where("queue_id", "=", queueId).where("id", "in", wanted).returning("id").execute();
      return rows.map((r) => String(r.id));
    },
    async retry(queueId, retries) {
      const done: string[] = [];
      for (const r of retries) {
        const [id] = ids([r.id]);
        if (id === undefined) continue;
        const row = await db
          .updateTable("queue_messages")
          .set({ lease: null, visible_ms: r.visibleMs })
          .where("queue_id", "=", queueId)
          .where("id", "=", id)
          .where("lease", "=", r.lease)
          .returning("id")
          .executeTakeFirst();
        if (row) done.push(String(row.id));
      }
      return done;
    },
  };
}

/**
 * The transactional outbox of build events. `recordBuildEvent` runs inside the transaction of
 * the build state change that raises the event (store/builds.ts calls it after each such
 * write): one INSERT of the event, then one INSERT … SELECT fanning it out into the queue of
 * every enabled subscription of that Worker that names its type. Both commit or roll back with
 * the change, so an event is never lost by a crash and never exists for a change undone.
 *
 * Ids and readers. An event's id only grows, but on PostgreSQL ids are taken when a row is
 * inserted, not when it commits: a reader of "id > n" could see 12 before a slower transaction
 * commits 11, and skip 11 for ever. So every writer holds, until its transaction ends, a shared
 * advisory lock on its account, taken before its id; a reader of the account's events takes the
 * same lock exclusively for the moment of its read, which waits out every writer that may hold
 * a smaller id. Writers never wait for one another (shared locks do not conflict), only, for the
 * length of one indexed read, for a reader. SQLite has one writer at a time: ids commit in order.
 */
import { sql } from "kysely";
import type { Build } from "../domain/build-types.ts";
import { payloadOf, type BuildEventPayload, type StoredBuildEvent } from "../domain/event-envelope.ts";
import type { BuildEventReader } from "../domain/event-ports.ts";
import type { DialectName } from "./database.ts";
import { fromJson, toJson } from "./json.ts";
import type { Selectable } from "kysely";
import type { BuildEventsTable } from "./schema.ts";
import type { Tx } from "./transaction.ts";
import { fanOutToWebhooks } from "./event-deliveries.ts";

/** First key of Kiln's per-account event locks ("kiln" in ASCII); the second is hashtext(account). */
const PG_EVENT_LOCK_CLASS = 0x6b696c6e;

/**
 * The LISTEN/NOTIFY channel of build events (store/notify.ts listens on it) and the origin its
 * payloads carry: no node's own, so every node, the writer's included, raises them.
 */
export const EVENTS_CHANNEL = "kiln_events";
export const EVENTS_ORIGIN = "db";

/** Destination types the fan-out delivers into queues; other types are delivered elsewhere. */
export const QUEUE_DESTINATION = "queues.queue";

/** Writes one event for `build` (its state after the change) and fans it out; returns its id. */
export async function recordBuildEvent(db: Tx, dialect: DialectName, build: Build, type: string, at: string): Promise<number> {
  const payload = toJson(payloadOf(build));
  // The worker's name is what subscriptions match on (Cloudflare's source.worker_name).
  const name = sql<string>`coalesce((select name from workers where tag = ${build.worker_tag}), ${build.worker_tag})`;
  const values = sql`${build.account_id}, ${build.worker_tag}, ${name}, ${build.build_uuid}, ${type}, ${at}, ${payload}`;
  const row =
    dialect === "postgres"
      ? // The shared lock is taken in the FROM clause, before the row (and its id) is made. The
        // NOTIFY rides along: PostgreSQL sends it at COMMIT, only if the transaction commits, once
        // per transaction and account (identical notifications are folded), to every node.
        await sql<{ id: string; worker_name: string }>`
          insert into build_events (account_id, worker_tag, worker_name, build_uuid, type, created_on, payload)
          select ${values} from (
            select pg_advisory_xact_lock_shared(${PG_EVENT_LOCK_CLASS}, hashtext(${build.account_id})),
                   pg_notify(${EVENTS_CHANNEL}, ${`${EVENTS_ORIGIN}:${build.account_id}`})) as locked
          returning id, worker_name`.execute(db)
      : await sql<{ id: number; worker_name: string }>`
          insert into build_events (account_id, worker_tag, worker_name, build_uuid, type, created_on, payload)
          values (${values}) returning id, worker_name`.execute(db);
  const event = row.rows[0];
  if (!event) throw new Error("build event insert returned no row");
  const id = Number(event.id);
  await fanOutToQueues(db, build.account_id, event.worker_name, type, id, Date.parse(at));
  await fanOutToWebhooks(db, dialect, build.account_id, event.worker_name, type, id, build.build_uuid, at);
  return id;
}

/** One message per enabled queue subscription of this Worker naming this event type. */
async function fanOutToQueues(db: Tx, accountId: string, workerName: string, type: string, eventId: number, nowMs: number): Promise<void> {
  // `events` is a JSON array of names without quotes or LIKE wildcards other than `_`, which
  // none has: a quoted-name LIKE matches exactly one element.
  await sql`
    insert into queue_messages (queue_id, event_id, subscription_id, created_ms, visible_ms, attempts)
    select s.queue_id, cast(${eventId} as bigint), s.id, cast(${nowMs} as bigint), cast(${nowMs} as bigint) + q.delivery_delay * 1000, 0
    from event_subscriptions s join queues q on q.id = s.queue_id
    where s.account_id = ${accountId} and s.worker_name = ${workerName} and s.enabled = 1
      and s.destination_type = ${QUEUE_DESTINATION} and s.events like ${`%${JSON.stringify(type)}%`}`.execute(db);
}

export const toStoredEvent = (r: Selectable<BuildEventsTable>): StoredBuildEvent => ({
  id: Number(r.id),
  account_id: r.account_id,
  worker_tag: r.worker_tag,
  worker_name: r.worker_name,
  build_uuid: r.build_uuid,
  type: r.type,
  created_on: r.created_on,
  payload: fromJson<BuildEventPayload>(r.payload),
});

export function buildEventReader(db: Tx, dialect: DialectName, transaction: <T>(fn: (tx: Tx) => Promise<T>) => Promise<T>): BuildEventReader {
  /** Runs `fn` once no writer that may hold a smaller id of this account is still open (PostgreSQL). */
  const settled = <T>(accountId: string, fn: (tx: Tx) => Promise<T>): Promise<T> =>
    dialect !== "postgres"
      ? fn(db)
      : transaction(async (tx) => {
          await sql`select pg_advisory_xact_lock(${PG_EVENT_LOCK_CLASS}, hashtext(${accountId}))`.execute(tx);
          return fn(tx);
        });
  return {
    async eventsAfter(accountId, afterId, limit) {
      const rows = await settled(accountId, (tx) =>
        tx.selectFrom("build_events").selectAll().where("account_id", "=", accountId).where("id", ">", afterId).orderBy("id").limit(limit).execute(),
      );
      return rows.map(toStoredEvent);
    },
    async eventsOfBuild(buildUuid) {
      const rows = await db.selectFrom("build_events").selectAll().where("build_uuid", "=", buildUuid).orderBy("id").execute();
      return rows.map(toStoredEvent);
    },
    async lastEventId(accountId) {
      const row = await settled(accountId, (tx) =>
        tx.selectFrom("build_events").select((eb) => eb.fn.max("id").as("id")).where("account_id", "=", accountId).executeTakeFirst(),
      );
      return Number(row?.id ?? 0);
    },
    async removeBefore(cutoffIso, limit) {
      // Webhook deliveries done with (delivered or given up) go with their events; a pending one keeps its event.
      await sql`
        delete from event_deliveries where id in (
          select id from event_deliveries where created_on < ${cutoffIso} and state <> 'pending' limit ${limit})`.execute(db);
      // Oldest first through the created_on index; a message still in a queue keeps its event.
      const result = await sql`
        delete from build_events where id in (
          select e.id from build_events e
          where e.created_on < ${cutoffIso} and not exists (select 1 from queue_messages m where m.event_id = e.id)
            and not exists (select 1 from event_deliveries d where d.event_id = e.id)
          order by e.created_on limit ${limit})`.execute(db);
      return Number(result.numAffectedRows ?? 0);
    },
    async byIds(ids) {
      if (ids.length === 0) return [];
      const rows = await db.selectFrom("build_events").selectAll().where("id", "in", ids).orderBy("id").execute();
      return rows.map(toStoredEvent);
    },
  };
}

/** Event subscriptions (Cloudflare's event_subscriptions API). */
import type { Selectable } from "kysely";
import type { Destination, EventSubscription, EventSubscriptionRepository } from "../domain/event-ports.ts";
import { fromJson, toJson } from "./json.ts";
import type { EventSubscriptionsTable } from "./schema.ts";
import type { Tx } from "./transaction.ts";

const toSubscription = (r: Selectable<EventSubscriptionsTable>): EventSubscription => ({
  id: r.id,
  account_id: r.account_id,
  name: r.name,
  enabled: Number(r.enabled) === 1,
  source: { type: r.source_type, worker_name: r.worker_name },
  events: fromJson<string[]>(r.events),
  destination: fromJson<Destination>(r.destination),
  created_at: r.created_at,
  modified_at: r.modified_at,
});

const columns = (s: EventSubscription) => ({
  name: s.name,
  enabled: s.enabled ? 1 : 0,
  source_type: s.source.type,
  worker_name: s.source.worker_name,
  events: toJson(s.events),
  destination_type: s.destination.type,
  destination: toJson(s.destination),
  queue_id: s.destination.type === "queues.queue" ? String(s.destination.queue_id) : null,
  modified_at: s.modified_at,
});

const ORDER_COLUMN = { created_at: "created_at", name: "name", enabled: "enabled", source: "worker_name" } as const;

export function eventSubscriptionRepository(db: Tx): EventSubscriptionRepository {
  return {
    async insert(s) {
      await db
        .insertInto("event_subscriptions")
        .values({ id: s.id, account_id: s.account_id, created_at: s.created_at, ...columns(s) })
        .execute();
    },
    async get(accountId, id) {
      const row = await db.selectFrom("event_subscriptions").selectAll().where("account_id", "=", accountId).where("id", "=", id).executeTakeFirst();
      return row && toSubscription(row);
    },
    async list(accountId, page, order, direction) {
      const counted = await db
        .selectFrom("event_subscriptions")
        .select((eb) => eb.fn.countAll<number>().as("n"))
        .where("account_id", "=", accountId)
        .executeTakeFirstOrThrow();
      const rows = await db
        .selectFrom("event_subscriptions")
        .selectAll()
        .where("account_id", "=", accountId)
        .orderBy(ORDER_COLUMN[order], direction)
        .orderBy("id", direction)
        .limit(page.per_page)
        .offset((page.page - 1) * page.per_page)
        .execute();
      return { items: rows.map(toSubscription), total: Number(counted.n) };
    },
    async update(s) {
      await db.updateTable("event_subscriptions").set(columns(s)).where("account_id", "=", s.account_id).where("id", "=", s.id).execute();
    },
    async remove(accountId, id) {
      const result = await db.deleteFrom("event_subscriptions").where("account_id", "=", accountId).where("id", "=", id).executeTakeFirst();
      return Number(result.numDeletedRows) === 1;
    },
  };
}

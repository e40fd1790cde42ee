import type { Selectable } from "kysely";
import type { Delivery, DeliveryRepository } from "../domain/delivery-types.ts";
import { fromJson, toJson } from "./json.ts";
import type { WebhookDeliveriesTable } from "./schema.ts";
import type { Tx } from "./transaction.ts";

const toDelivery = (r: Selectable<WebhookDeliveriesTable>): Delivery => ({
  id: r.id,
  account_id: r.account_id,
  provider: r.provider as Delivery["provider"],
  delivery_id: r.delivery_id,
  event: r.event,
  received_on: r.received_on,
  status: Number(r.status),
  outcome: r.outcome as Delivery["outcome"],
  result: fromJson(r.result),
});

export function deliveryRepository(db: Tx): DeliveryRepository {
  return {
    async insert(d) {
      // ON CONFLICT DO NOTHING rather than catching the violation: on PostgreSQL a failed
      // statement would abort the transaction the builds are created in.
      const result = await db
        .insertInto("webhook_deliveries")
        .values({ ...d, result: toJson(d.result) })
        .onConflict((oc) => oc.columns(["account_id", "provider", "delivery_id"]).doNothing())
        .executeTakeFirst();
      return Number(result.numInsertedOrUpdatedRows ?? 0n) > 0;
    },
    async find(accountId, provider, deliveryId) {
      const row = await db
        .selectFrom("webhook_deliveries")
        .selectAll()
        .where("account_id", "=", accountId)
        .where("provider", "=", provider)
        .where("delivery_id", "=", deliveryId)
        .executeTakeFirst();
      return row && toDelivery(row);
    },
    async list(accountId, limit) {
      const rows = await db
        .selectFrom("webhook_deliveries")
        .selectAll()
        .where("account_id", "=", accountId)
        .orderBy("received_on", "desc")
        .orderBy("id", "desc")
        .limit(limit)
        .execute();
      return rows.map(toDelivery);
    },
    async removeBefore(cutoff, limit) {
      const ids = db.selectFrom("webhook_deliveries").select("id").where("received_on", "<", cutoff).orderBy("received_on").limit(limit);
      const result = await db.deleteFrom("webhook_deliveries").where("id", "in", ids).executeTakeFirst();
      return Number(result.numDeletedRows);
    },
    async trim(accountId, keep) {
      const edge = await db
        .selectFrom("webhook_deliveries")
        .select("received_on")
        .where("account_id", "=", accountId)
        .orderBy("received_on", "desc")
        .offset(keep - 1)
        .limit(1)
        .executeTakeFirst();
      if (!edge) return;
      await db.deleteFrom("webhook_deliveries").where("account_id", "=", accountId).where("received_on", "<", edge.received_on).execute();
    },
  };
}

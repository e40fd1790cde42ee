import type { AccountRepository } from "../domain/ports.ts";
import type { Account, Page, Paged } from "../domain/types.ts";
import type { SecretBox } from "../domain/secrets.ts";
import type { Tx } from "./transaction.ts";

export function accountRepository(db: Tx, box: SecretBox): AccountRepository {
  return {
    async webhookSecret(id) {
      const row = await db.selectFrom("accounts").select("webhook_secret").where("id", "=", id).executeTakeFirst();
      return row?.webhook_secret ? box.open(row.webhook_secret) : undefined;
    },
    async setWebhookSecret(id, secret) {
      const result = await db.updateTable("accounts").set({ webhook_secret: box.seal(secret) }).where("id", "=", id).executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },
    async create(account: Account) {
      await db.insertInto("accounts").values(account).execute();
    },
    async get(id: string) {
      return db.selectFrom("accounts").select(["id", "name", "created_on"]).where("id", "=", id).executeTakeFirst();
    },
    async list(page?: Page, onlyIds?: string[]): Promise<Paged<Account>> {
      if (onlyIds && onlyIds.length === 0) return { items: [], total: 0 };
      let query = db.selectFrom("accounts");
      if (onlyIds) query = query.where("id", "in", onlyIds);
      const { total } = await query.select((eb) => eb.fn.countAll<number>().as("total")).executeTakeFirstOrThrow();
      let items = query.select(["id", "name", "created_on"]).orderBy("created_on").orderBy("id");
      if (page) items = items.limit(page.per_page).offset((page.page - 1) * page.per_page);
      return { items: await items.execute(), total: Number(total) };
    },
    async setLimits(id, limits) {
      await db.updateTable("accounts").set(limits).where("id", "=", id).execute();
    },
    async limits(id) {
      return db.selectFrom("accounts").select(["build_minutes_limit", "concurrency_limit"]).where("id", "=", id).executeTakeFirst();
    },
    async count() {
      const row = await db.selectFrom("accounts").select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirstOrThrow();
      return Number(row.n);
    },
  };
}

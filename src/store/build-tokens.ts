import type { Selectable } from "kysely";
import type SQLite from "better-sqlite3";
import { directRead } from "./direct-read.ts";
import type { BuildToken } from "../domain/config-types.ts";
import type { BuildTokenRepository } from "../domain/ports.ts";
import type { SecretBox } from "../domain/secrets.ts";
import type { BuildTokensTable } from "./schema.ts";
import type { Tx } from "./transaction.ts";

const toToken = (row: BuildTokensTable): BuildToken => ({
  build_token_uuid: row.uuid,
  account_id: row.account_id,
  build_token_name: row.name,
  cloudflare_token_id: row.cloudflare_token_id,
  owner_type: row.owner_type as BuildToken["owner_type"],
  created_on: row.created_on,
  modified_on: row.modified_on,
  deleted_on: row.deleted_on,
});

export function buildTokenRepository(db: Tx, box: SecretBox, sqlite?: SQLite.Database): BuildTokenRepository {
  const byUuid = directRead<[string, string], Selectable<BuildTokensTable>>(sqlite, "select * from build_tokens where account_id = ? and uuid = ?");
  return {
    async get(accountId, uuid) {
      const row = byUuid?.usable()
        ? byUuid.get(accountId, uuid)
        : await db.selectFrom("build_tokens").selectAll().where("account_id", "=", accountId).where("uuid", "=", uuid).executeTakeFirst();
      return row && toToken(row);
    },
    async secret(accountId, uuid) {
      const row = await db
        .selectFrom("build_tokens")
        .select("sealed_secret")
        .where("account_id", "=", accountId)
        .where("uuid", "=", uuid)
        .where("deleted_on", "is", null)
        .executeTakeFirst();
      return row && box.open(row.sealed_secret);
    },
    async list(accountId, page) {
      const base = db.selectFrom("build_tokens").where("account_id", "=", accountId).where("deleted_on", "is", null);
      const { total } = await base.select((eb) => eb.fn.countAll<number>().as("total")).executeTakeFirstOrThrow();
      const rows = await base
        .selectAll()
        .orderBy("created_on")
        .orderBy("uuid")
        .limit(page.per_page)
        .offset((page.page - 1) * page.per_page)
        .execute();
      return { items: rows.map(toToken), total: Number(total) };
    },
    async insert(token, secret) {
      await db
        .insertInto("build_tokens")
        .values({
          uuid: token.build_token_uuid,
          account_id: token.account_id,
          name: token.build_token_name,
          sealed_secret: box.seal(secret),
          cloudflare_token_id: token.cloudflare_token_id,
          owner_type: token.owner_type,
          created_on: token.created_on,
          modified_on: token.modified_on,
          deleted_on: token.deleted_on,
        })
        .execute();
    },
    async softDelete(accountId, uuid, at) {
      const result = await db
        .updateTable("build_tokens")
        .set({ deleted_on: at, modified_on: at })
        .where("account_id", "=", accountId)
        .where("uuid", "=", uuid)
        .where("deleted_on", "is", null)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },
  };
}

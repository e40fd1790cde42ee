import type { TokenRepository } from "../domain/ports.ts";
import type { ApiToken, PermissionGroup } from "../domain/types.ts";
import type { ApiTokensTable } from "./schema.ts";
import type { Tx } from "./transaction.ts";

export function toToken(row: ApiTokensTable): ApiToken {
  return {
    id: row.id,
    name: row.name,
    permission_groups: JSON.parse(row.permission_groups) as PermissionGroup[],
    account_ids: JSON.parse(row.account_ids) as string[],
    expires_on: row.expires_on,
    revoked_on: row.revoked_on,
    created_on: row.created_on,
    modified_on: row.modified_on,
  };
}

export function tokenRepository(db: Tx): TokenRepository {
  return {
    async create(token: ApiToken, valueHash: string) {
      await db
        .insertInto("api_tokens")
        .values({
          ...token,
          value_hash: valueHash,
          permission_groups: JSON.stringify(token.permission_groups),
          account_ids: JSON.stringify(token.account_ids),
        })
        .execute();
    },
    async get(id: string) {
      const row = await db.selectFrom("api_tokens").selectAll().where("id", "=", id).executeTakeFirst();
      return row && toToken(row);
    },
    async listForAccount(accountId: string) {
      // account_ids is a short JSON array; filtering in memory keeps the query portable.
      const rows = await db.selectFrom("api_tokens").selectAll().orderBy("created_on").orderBy("id").execute();
      return rows.map(toToken).filter((t) => t.account_ids.includes(accountId));
    },
    async revoke(id: string, at: string) {
      const result = await db
        .updateTable("api_tokens")
        .set({ revoked_on: at, modified_on: at })
        .where("id", "=", id)
        .where("revoked_on", "is", null)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },
  };
}

import type { CredentialLookup } from "../domain/ports.ts";
import type { Tx } from "./transaction.ts";
import { toToken } from "./tokens.ts";

/** The two lookups on every authenticated request; each is one indexed read. */
export function credentialLookup(db: Tx): CredentialLookup {
  return {
    async findTokenByHash(valueHash: string) {
      const row = await db.selectFrom("api_tokens").selectAll().where("value_hash", "=", valueHash).executeTakeFirst();
      return row && { ...toToken(row), value_hash: row.value_hash };
    },
    async findUserByEmail(email: string) {
      const user = await db.selectFrom("users").selectAll().where("email", "=", email).executeTakeFirst();
      if (!user) return undefined;
      const members = await db.selectFrom("account_members").select("account_id").where("user_id", "=", user.id).execute();
      return { ...user, account_ids: members.map((m) => m.account_id) };
    },
  };
}

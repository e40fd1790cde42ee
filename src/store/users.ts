import type { UserRepository } from "../domain/ports.ts";
import type { User } from "../domain/types.ts";
import type { Tx } from "./transaction.ts";

export function userRepository(db: Tx): UserRepository {
  return {
    async create(user: User, apiKeyHash: string, accountIds: string[]) {
      await db.insertInto("users").values({ ...user, api_key_hash: apiKeyHash }).execute();
      if (accountIds.length > 0) {
        await db
          .insertInto("account_members")
          .values(accountIds.map((account_id) => ({ account_id, user_id: user.id })))
          .execute();
      }
    },
    async getByEmail(email: string) {
      return db.selectFrom("users").select(["id", "email", "created_on"]).where("email", "=", email).executeTakeFirst();
    },
  };
}

import type SQLite from "better-sqlite3";
import { directRead } from "./direct-read.ts";
import type { EnvOwnerKind, EnvVar } from "../domain/config-types.ts";
import type { EnvVarRepository } from "../domain/ports.ts";
import type { SecretBox } from "../domain/secrets.ts";
import { fromFlag, toFlag } from "./json.ts";
import type { Tx } from "./transaction.ts";

/** Secret values are sealed on the way in and opened on the way out; plain ones stay text. */
export function envVarRepository(db: Tx, box: SecretBox, sqlite?: SQLite.Database): EnvVarRepository {
  const byOwner = directRead<[string, string], { key: string; is_secret: number | boolean; value: string; created_on: string }>(
    sqlite,
    "select key, is_secret, value, created_on from env_vars where owner_kind = ? and owner_id = ? order by key",
  );
  return {
    async list(kind, ownerId) {
      const rows = byOwner?.usable()
        ? byOwner.all(kind, ownerId)
        : await db.selectFrom("env_vars").selectAll().where("owner_kind", "=", kind).where("owner_id", "=", ownerId).orderBy("key").execute();
      return rows.map((r) => {
        const isSecret = fromFlag(r.is_secret);
        return { key: r.key, is_secret: isSecret, value: isSecret ? box.open(r.value) : r.value, created_on: r.created_on };
      });
    },
    async upsert(kind: EnvOwnerKind, ownerId: string, vars: EnvVar[]) {
      for (const v of vars) {
        const value = v.is_secret ? box.seal(v.value) : v.value;
        await db
          .insertInto("env_vars")
          .values({ owner_kind: kind, owner_id: ownerId, key: v.key, is_secret: toFlag(v.is_secret), value, created_on: v.created_on })
          .onConflict((oc) => oc.columns(["owner_kind", "owner_id", "key"]).doUpdateSet({ is_secret: toFlag(v.is_secret), value }))
          .execute();
      }
    },
    async remove(kind, ownerId, key) {
      const result = await db
        .deleteFrom("env_vars")
        .where("owner_kind", "=", kind)
        .where("owner_id", "=", ownerId)
        .where("key", "=", key)
        .executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },
    async removeAll(kind, ownerId) {
      await db.deleteFrom("env_vars").where("owner_kind", "=", kind).where("owner_id", "=", ownerId).execute();
    },
  };
}

import type { Selectable } from "kysely";
import type SQLite from "better-sqlite3";
import { directRead } from "./direct-read.ts";
import type { Trigger } from "../domain/config-types.ts";
import type { TriggerRepository } from "../domain/ports.ts";
import { fromFlag, fromJson, toFlag, toJson } from "./json.ts";
import type { TriggersTable } from "./schema.ts";
import type { Tx } from "./transaction.ts";

type Row = Omit<TriggersTable, "cache_generation"> & { cache_generation: number };

export const toTrigger = (row: Row): Trigger => ({
  trigger_uuid: row.uuid,
  account_id: row.account_id,
  external_script_id: row.worker_tag,
  role: row.role,
  trigger_name: row.trigger_name,
  repo_connection_uuid: row.repo_connection_uuid,
  build_token_uuid: row.build_token_uuid,
  build_command: row.build_command,
  deploy_command: row.deploy_command,
  root_directory: row.root_directory,
  branch_includes: fromJson<string[]>(row.branch_includes),
  branch_excludes: fromJson<string[]>(row.branch_excludes),
  path_includes: fromJson<string[]>(row.path_includes),
  path_excludes: fromJson<string[]>(row.path_excludes),
  build_caching_enabled: fromFlag(row.build_caching_enabled),
  cache_generation: Number(row.cache_generation),
  created_on: row.created_on,
  modified_on: row.modified_on,
  deleted_on: row.deleted_on,
});

const toRow = (t: Trigger): Row => ({
  uuid: t.trigger_uuid,
  account_id: t.account_id,
  worker_tag: t.external_script_id,
  role: t.role,
  trigger_name: t.trigger_name,
  repo_connection_uuid: t.repo_connection_uuid,
  build_token_uuid: t.build_token_uuid,
  build_command: t.build_command,
  deploy_command: t.deploy_command,
  root_directory: t.root_directory,
  branch_includes: toJson(t.branch_includes),
  branch_excludes: toJson(t.branch_excludes),
  path_includes: toJson(t.path_includes),
  path_excludes: toJson(t.path_excludes),
  build_caching_enabled: toFlag(t.build_caching_enabled),
  cache_generation: t.cache_generation,
  created_on: t.created_on,
  modified_on: t.modified_on,
  deleted_on: t.deleted_on,
});

export function triggerRepository(db: Tx, sqlite?: SQLite.Database): TriggerRepository {
  const byUuid = directRead<[string, string], Selectable<TriggersTable>>(sqlite, "select * from triggers where account_id = ? and uuid = ?");
  return {
    async get(accountId, uuid) {
      const row = byUuid?.usable()
        ? byUuid.get(accountId, uuid)
        : await db.selectFrom("triggers").selectAll().where("account_id", "=", accountId).where("uuid", "=", uuid).executeTakeFirst();
      return row && toTrigger(row);
    },
    async listByWorker(accountId, workerTag) {
      const rows = await db
        .selectFrom("triggers")
        .selectAll()
        .where("account_id", "=", accountId)
        .where("worker_tag", "=", workerTag)
        .orderBy("created_on")
        .orderBy("uuid")
        .execute();
      return rows.map(toTrigger);
    },
    async liveByConnection(accountId, connectionUuid) {
      const rows = await db
        .selectFrom("triggers")
        .selectAll()
        .where("account_id", "=", accountId)
        .where("repo_connection_uuid", "=", connectionUuid)
        .where("deleted_on", "is", null)
        .orderBy("worker_tag")
        .orderBy("created_on")
        .orderBy("uuid")
        .execute();
      return rows.map(toTrigger);
    },
    async insert(trigger) {
      await db.insertInto("triggers").values(toRow(trigger)).execute();
    },
    async update(trigger) {
      const { uuid, account_id, cache_generation: _keep, ...rest } = toRow(trigger);
      await db.updateTable("triggers").set(rest).where("uuid", "=", uuid).where("account_id", "=", account_id).execute();
    },
    async softDelete(accountId, uuid, at) {
      const result = await db
        .updateTable("triggers")
        .set({ deleted_on: at, modified_on: at })
        .where("account_id", "=", accountId)
        .where("uuid", "=", uuid)
        .where("deleted_on", "is", null)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },
    async bumpCacheGeneration(accountId, uuid, at) {
      await db
        .updateTable("triggers")
        .set((eb) => ({ cache_generation: eb("cache_generation", "+", 1), modified_on: at }))
        .where("account_id", "=", accountId)
        .where("uuid", "=", uuid)
        .execute();
    },
  };
}

import type { DeployHook } from "../domain/config-types.ts";
import type { DeployHookRepository } from "../domain/ports.ts";
import type { DeployHooksTable } from "./schema.ts";
import type { Tx } from "./transaction.ts";

const toHook = (row: DeployHooksTable): DeployHook => ({
  deploy_hook_uuid: row.uuid,
  account_id: row.account_id,
  worker_tag: row.worker_tag,
  deploy_hook_name: row.name,
  branch: row.branch,
  created_on: row.created_on,
  modified_on: row.modified_on,
});

export function deployHookRepository(db: Tx): DeployHookRepository {
  return {
    async get(accountId, workerTag, uuid) {
      const row = await db
        .selectFrom("deploy_hooks")
        .selectAll()
        .where("account_id", "=", accountId)
        .where("worker_tag", "=", workerTag)
        .where("uuid", "=", uuid)
        .executeTakeFirst();
      return row && toHook(row);
    },
    async getByUuid(uuid) {
      const row = await db.selectFrom("deploy_hooks").selectAll().where("uuid", "=", uuid).executeTakeFirst();
      return row && toHook(row);
    },
    async findByName(accountId, workerTag, name) {
      const row = await db
        .selectFrom("deploy_hooks")
        .selectAll()
        .where("account_id", "=", accountId)
        .where("worker_tag", "=", workerTag)
        .where("name", "=", name)
        .executeTakeFirst();
      return row && toHook(row);
    },
    async list(accountId, workerTag) {
      const rows = await db
        .selectFrom("deploy_hooks")
        .selectAll()
        .where("account_id", "=", accountId)
        .where("worker_tag", "=", workerTag)
        .orderBy("created_on")
        .orderBy("uuid")
        .execute();
      return rows.map(toHook);
    },
    async insert(hook) {
      await db
        .insertInto("deploy_hooks")
        .values({
          uuid: hook.deploy_hook_uuid,
          account_id: hook.account_id,
          worker_tag: hook.worker_tag,
          name: hook.deploy_hook_name,
          branch: hook.branch,
          created_on: hook.created_on,
          modified_on: hook.modified_on,
        })
        .execute();
    },
    async update(hook) {
      await db
        .updateTable("deploy_hooks")
        .set({ name: hook.deploy_hook_name, branch: hook.branch, modified_on: hook.modified_on })
        .where("uuid", "=", hook.deploy_hook_uuid)
        .where("account_id", "=", hook.account_id)
        .execute();
    },
    async remove(accountId, uuid) {
      const result = await db.deleteFrom("deploy_hooks").where("account_id", "=", accountId).where("uuid", "=", uuid).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },
  };
}

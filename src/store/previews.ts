import type { BuildSettings, Preview, WorkerPreviews } from "../domain/config-types.ts";
import type { PreviewRepository, WorkerPreviewsRepository } from "../domain/ports.ts";
import { fromFlag, fromJson, toFlag, toJson } from "./json.ts";
import type { PreviewsTable } from "./schema.ts";
import type { Tx } from "./transaction.ts";

export function workerPreviewsRepository(db: Tx): WorkerPreviewsRepository {
  return {
    async get(accountId, workerTag) {
      const row = await db
        .selectFrom("worker_previews")
        .selectAll()
        .where("account_id", "=", accountId)
        .where("worker_tag", "=", workerTag)
        .executeTakeFirst();
      return (
        row && {
          worker_tag: row.worker_tag,
          account_id: row.account_id,
          previews_enabled: fromFlag(row.previews_enabled),
          base_settings: row.base_settings === null ? null : fromJson<BuildSettings>(row.base_settings),
          created_on: row.created_on,
          modified_on: row.modified_on,
        }
      );
    },
    async put(p: WorkerPreviews) {
      const values = {
        worker_tag: p.worker_tag,
        account_id: p.account_id,
        previews_enabled: toFlag(p.previews_enabled),
        base_settings: p.base_settings === null ? null : toJson(p.base_settings),
        created_on: p.created_on,
        modified_on: p.modified_on,
      };
      await db
        .insertInto("worker_previews")
        .values(values)
        .onConflict((oc) =>
          oc.column("worker_tag").doUpdateSet({
            previews_enabled: values.previews_enabled,
            base_settings: values.base_settings,
            modified_on: values.modified_on,
          }),
        )
        .execute();
    },
    async remove(accountId, workerTag) {
      await db.deleteFrom("worker_previews").where("account_id", "=", accountId).where("worker_tag", "=", workerTag).execute();
    },
  };
}

const toPreview = (row: PreviewsTable): Preview => ({
  preview_id: row.preview_id,
  account_id: row.account_id,
  worker_tag: row.worker_tag,
  branch: row.branch,
  auto_build: fromFlag(row.auto_build),
  auto_delete: fromFlag(row.auto_delete),
  settings: fromJson<BuildSettings>(row.settings),
  created_on: row.created_on,
  modified_on: row.modified_on,
});

const toRow = (p: Preview): PreviewsTable => ({
  preview_id: p.preview_id,
  account_id: p.account_id,
  worker_tag: p.worker_tag,
  branch: p.branch,
  auto_build: toFlag(p.auto_build),
  auto_delete: toFlag(p.auto_delete),
  settings: toJson(p.settings),
  created_on: p.created_on,
  modified_on: p.modified_on,
});

export function previewRepository(db: Tx): PreviewRepository {
  const ofWorker = (accountId: string, workerTag: string) =>
    db.selectFrom("previews").where("account_id", "=", accountId).where("worker_tag", "=", workerTag);
  return {
    async get(accountId, workerTag, previewId) {
      const row = await ofWorker(accountId, workerTag).selectAll().where("preview_id", "=", previewId).executeTakeFirst();
      return row && toPreview(row);
    },
    async findByBranch(accountId, workerTag, branch) {
      const row = await ofWorker(accountId, workerTag).selectAll().where("branch", "=", branch).executeTakeFirst();
      return row && toPreview(row);
    },
    async list(accountId, workerTag, page) {
      const { total } = await ofWorker(accountId, workerTag).select((eb) => eb.fn.countAll<number>().as("total")).executeTakeFirstOrThrow();
      let query = ofWorker(accountId, workerTag).selectAll().orderBy("created_on").orderBy("preview_id");
      if (page) query = query.limit(page.per_page).offset((page.page - 1) * page.per_page);
      return { items: (await query.execute()).map(toPreview), total: Number(total) };
    },
    async insert(preview) {
      await db.insertInto("previews").values(toRow(preview)).execute();
    },
    async update(preview) {
      const { preview_id, account_id, ...rest } = toRow(preview);
      await db.updateTable("previews").set(rest).where("preview_id", "=", preview_id).where("account_id", "=", account_id).execute();
    },
    async removeAllOfWorker(accountId, workerTag) {
      await db.deleteFrom("previews").where("account_id", "=", accountId).where("worker_tag", "=", workerTag).execute();
    },
  };
}

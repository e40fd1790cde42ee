import type { Selectable } from "kysely";
import type SQLite from "better-sqlite3";
import { directRead } from "./direct-read.ts";
import type { ProviderType, RepoConnection } from "../domain/config-types.ts";
import type { RepoConnectionRepository } from "../domain/ports.ts";
import type { RepoConnectionsTable } from "./schema.ts";
import type { Tx } from "./transaction.ts";

const toConnection = (row: RepoConnectionsTable): RepoConnection => ({
  repo_connection_uuid: row.uuid,
  account_id: row.account_id,
  provider_type: row.provider_type as ProviderType,
  provider_account_id: row.provider_account_id,
  provider_account_name: row.provider_account_name,
  repo_id: row.repo_id,
  repo_name: row.repo_name,
  grant_id: row.grant_id,
  created_on: row.created_on,
  modified_on: row.modified_on,
  deleted_on: row.deleted_on,
});

const toRow = (c: RepoConnection): RepoConnectionsTable => ({
  uuid: c.repo_connection_uuid,
  account_id: c.account_id,
  provider_type: c.provider_type,
  provider_account_id: c.provider_account_id,
  provider_account_name: c.provider_account_name,
  repo_id: c.repo_id,
  repo_name: c.repo_name,
  grant_id: c.grant_id,
  created_on: c.created_on,
  modified_on: c.modified_on,
  deleted_on: c.deleted_on,
});

export function repoConnectionRepository(db: Tx, sqlite?: SQLite.Database): RepoConnectionRepository {
  const byUuid = directRead<[string, string], Selectable<RepoConnectionsTable>>(sqlite, "select * from repo_connections where account_id = ? and uuid = ?");
  return {
    async get(accountId, uuid) {
      const row = byUuid?.usable()
        ? byUuid.get(accountId, uuid)
        : await db.selectFrom("repo_connections").selectAll().where("account_id", "=", accountId).where("uuid", "=", uuid).executeTakeFirst();
      return row && toConnection(row);
    },
    async findByRepo(accountId, providerType, repoId) {
      const row = await db
        .selectFrom("repo_connections")
        .selectAll()
        .where("account_id", "=", accountId)
        .where("provider_type", "=", providerType)
        .where("repo_id", "=", repoId)
        .executeTakeFirst();
      return row && toConnection(row);
    },
    async liveByRepo(providerTypes, repoId, accountId) {
      let q = db
        .selectFrom("repo_connections")
        .selectAll()
        .where("provider_type", "in", providerTypes)
        .where("repo_id", "=", repoId)
        .where("deleted_on", "is", null);
      if (accountId !== undefined) q = q.where("account_id", "=", accountId);
      return (await q.orderBy("account_id").execute()).map(toConnection);
    },
    async insert(connection) {
      // A concurrent upsert of the same repository may have inserted it first: then nothing
      // is inserted and the caller re-reads (see upsertRepoConnection).
      const result = await db
        .insertInto("repo_connections")
        .values(toRow(connection))
        .onConflict((oc) => oc.columns(["account_id", "provider_type", "repo_id"]).doNothing())
        .executeTakeFirst();
      return Number(result.numInsertedOrUpdatedRows ?? 0n) > 0;
    },
    async update(connection) {
      const { uuid, account_id, ...rest } = toRow(connection);
      await db.updateTable("repo_connections").set(rest).where("uuid", "=", uuid).where("account_id", "=", account_id).execute();
    },
  };
}

/**
 * Builds and their log lines. Writes that finish a running build are fenced by runner_id
 * (graphile-worker's `locked_by`): a runner that lost its claim cannot overwrite the outcome
 * another node stored, and `status <> 'stopped'` makes the first final write the only one.
 */
import { CompiledQuery, sql, type Selectable } from "kysely";
import type SQLite from "better-sqlite3";
import type { DialectName } from "./database.ts";
import { directRead } from "./direct-read.ts";
import type { BuildRepository } from "../domain/build-ports.ts";
import type { Build, BuildMetadata, BuildStatus, LogLine } from "../domain/build-types.ts";
import type { Page, Paged } from "../domain/types.ts";
import { fromJson, toJson } from "./json.ts";
import type { BuildsTable } from "./schema.ts";
import type { Tx } from "./transaction.ts";
import { recordBuildEvent } from "./build-events.ts";
import { eventTypeOf } from "../domain/event-envelope.ts";
import { MAX_NOTICE_BYTES, refusedLinesNotice } from "../domain/log-notice.ts";

/** The columns a Build is made of (the reporter's and the branch/commit index columns are not). */
const BUILD_COLUMNS = [
  "uuid", "account_id", "worker_tag", "trigger_uuid", "preview_id", "status", "build_outcome", "created_on", "initializing_on", "running_on", "stopped_on",
  "modified_on", "metadata", "deploy_hook_uuid", "deploy_hook_name", "pull_request", "runner_id", "lease_expires_on", "cancel_requested_on", "cancel_requested_by",
  "version_id", "preview_url", "log_lines",
] as const satisfies readonly (keyof BuildsTable)[];
type Row = Pick<Selectable<BuildsTable>, (typeof BUILD_COLUMNS)[number]>;
const BUILD_SELECT = BUILD_COLUMNS.join(", ");

/**
 * A row read as an array (better-sqlite3's `raw()`), in BUILD_COLUMNS order. better-sqlite3
 * makes an object row by setting each column by name from C++, which cost more than SQLite
 * reading the rows (a 50-build page: ~30% of the request); a literal of fixed shape is cheap.
 */
const rowOfValues = (v: unknown[]): Row =>
  ({
    uuid: v[0], account_id: v[1], worker_tag: v[2], trigger_uuid: v[3], preview_id: v[4], status: v[5], build_outcome: v[6], created_on: v[7], initializing_on: v[8],
    running_on: v[9], stopped_on: v[10], modified_on: v[11], metadata: v[12], deploy_hook_uuid: v[13], deploy_hook_name: v[14], pull_request: v[15], runner_id: v[16],
    lease_expires_on: v[17], cancel_requested_on: v[18], cancel_requested_by: v[19], version_id: v[20], preview_url: v[21], log_lines: v[22],
  }) as Row;

export const toBuild = (r: Row): Build => ({
  build_uuid: r.uuid,
  account_id: r.account_id,
  worker_tag: r.worker_tag,
  trigger_uuid: r.trigger_uuid,
  preview_id: r.preview_id,
  status: r.status,
  build_outcome: r.build_outcome,
  created_on: r.created_on,
  initializing_on: r.initializing_on,
  running_on: r.running_on,
  stopped_on: r.stopped_on,
  modified_on: r.modified_on,
  metadata: fromJson<BuildMetadata>(r.metadata),
  deploy_hook: r.deploy_hook_uuid ? { uuid: r.deploy_hook_uuid, name: r.deploy_hook_name ?? "" } : null,
  pull_request: r.pull_request ? fromJson(r.pull_request) : null,
  runner_id: r.runner_id,
  lease_expires_on: r.lease_expires_on,
  cancel_requested_on: r.cancel_requested_on,
  cancel_requested_by: r.cancel_requested_by,
  version_id: r.version_id,
  preview_url: r.preview_url,
  log_lines: Number(r.log_lines),
});


/**
 * The multi-row INSERT of log lines, compiled once per (dialect, row count): building it
 * through Kysely's query builder for every batch cost more than running it.
 */
const logInsertSql = new Map<string, string>();
function logInsert(dialect: DialectName, rows: number): string {
  const key = `${dialect}:${rows}`;
  let text = logInsertSql.get(key);
  if (!text) {
    const values = Array.from({ length: rows }, (_, i) =>
      dialect === "postgres" ? `($${i * 4 + 1}, $${i * 4 + 2}, $${i * 4 + 3}, $${i * 4 + 4})` : "(?, ?, ?, ?)",
    );
    text = `insert into build_logs (build_uuid, line, ts, text) values ${values.join(", ")}`;
    logInsertSql.set(key, text);
  }
  return text;
}

const LOG_ROWS_PER_INSERT = 500;

/**
 * Whether the database refused a statement for what it was given (a value it cannot hold, a
 * constraint or trigger of the operator's), as opposed to a lost connection, a lock or a full
 * disk, which the same rows would meet again. PostgreSQL: SQLSTATE classes 22 (data exception,
 * e.g. 22P05 a character the database's encoding cannot represent), 23 (integrity constraint),
 * 54 (program limit exceeded) and P0 (raised by a trigger). SQLite: constraint (a trigger's
 * RAISE included), too big, datatype mismatch.
 */
export function refusedValue(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return false;
  if (code.startsWith("SQLITE_")) return /^SQLITE_(CONSTRAINT|TOOBIG|MISMATCH)/.test(code);
  return /^(22|23|54|P0)[0-9A-Z]{3}$/.test(code);
}

/** What is stored instead of a line the database refused (ASCII, so any database encoding holds it). */
export function refusedLineNotice(error: unknown): string {
  return refusedLinesNotice(1, error);
}

/**
 * `noteEvent` hears the account of every build event written (store/index.ts tells listeners
 * once the transaction commits). Every write that changes a build's status also writes its
 * event (store/build-events.ts) with the same transaction: they are called inside one.
 */
export function buildRepository(db: Tx, dialect: DialectName, noteEvent: (accountId: string) => void = () => undefined, sqlite?: SQLite.Database): BuildRepository {
  const byUuid = directRead<[string, string], Row>(sqlite, `select ${BUILD_SELECT} from builds where account_id = ? and uuid = ?`, rowOfValues);
  const workerCount = directRead<[string, string], { n: number }>(sqlite, "select count(*) as n from builds where account_id = ? and worker_tag = ?");
  const workerPage = directRead<[string, string, number, number], Row>(
    sqlite,
    `select ${BUILD_SELECT} from builds where account_id = ? and worker_tag = ? order by created_on desc, uuid desc limit ? offset ?`,
    rowOfValues,
  );
  const select = () => db.selectFrom("builds").selectAll();
  const raise = async (build: Build, at: string) => {
    const type = eventTypeOf(build);
    if (type === undefined) return;
    await recordBuildEvent(db, dialect, build, type, at);
    noteEvent(build.account_id);
  };
  const paged = async (where: (q: ReturnType<typeof select>) => ReturnType<typeof select>, page: Page): Promise<Paged<Build>> => {
    const counted = await where(select())
      .clearSelect()
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .executeTakeFirstOrThrow();
    const rows = await where(select())
      .orderBy("created_on", "desc")
      .orderBy("uuid", "desc")
      .limit(page.per_page)
      .offset((page.page - 1) * page.per_page)
      .execute();
    return { items: rows.map(toBuild), total: Number(counted.n) };
  };
  return {
    async insert(b, options = {}) {
      await db
        .insertInto("builds")
        .values({
          uuid: b.build_uuid,
          account_id: b.account_id,
          worker_tag: b.worker_tag,
          trigger_uuid: b.trigger_uuid,
          preview_id: b.preview_id,
          status: b.status,
          build_outcome: b.build_outcome,
          created_on: b.created_on,
          initializing_on: b.initializing_on,
          running_on: b.running_on,
          stopped_on: b.stopped_on,
          modified_on: b.modified_on,
          metadata: toJson(b.metadata),
          deploy_hook_uuid: b.deploy_hook?.uuid ?? null,
          deploy_hook_name: b.deploy_hook?.name ?? null,
          pull_request: b.pull_request ? toJson(b.pull_request) : null,
          runner_id: null,
          lease_expires_on: null,
          cancel_requested_on: null,
          cancel_requested_by: null,
          version_id: b.version_id,
          preview_url: b.preview_url,
          branch: b.metadata.branch,
          // "" until git resolved it: a requested (maybe abbreviated) commit is neither reported to
          // the provider nor matched by webhook de-duplication.
          commit_hash: b.metadata.unresolved ? "" : b.metadata.commit_hash,
          report_pending: options.reportStatus ? 1 : 0,
        })
        .execute();
      await raise(b, b.created_on);
    },
    async existsForCommit(triggerUuid, previewId, commit) {
      const row = await db
        .selectFrom("builds")
        .select("uuid")
        .where("trigger_uuid", "=", triggerUuid)
        .where("commit_hash", "=", commit)
        .where("preview_id", previewId === null ? "is" : "=", previewId)
        .limit(1)
        .executeTakeFirst();
      return row !== undefined;
    },
    async reportsDue(now, limit) {
      // A build is due when its status moved past the one last reported and no back-off or
      // other node's claim holds it.
      const rows = await select()
        .where("report_pending", "=", 1)
        // No commit to report on before the runner resolved the build's ref.
        .where("commit_hash", "<>", "")
        .where((eb) => eb.or([eb("report_state", "is", null), eb("report_state", "<>", eb.ref("status"))]))
        .where((eb) => eb.or([eb("report_next_on", "is", null), eb("report_next_on", "<=", now)]))
        .orderBy("created_on")
        .limit(limit)
        .execute();
      return rows.map((r) => ({ build: toBuild(r), reported: r.report_state as BuildStatus | null, attempts: Number(r.report_attempts), next_on: r.report_next_on }));
    },
    async claimReport(uuid, seenNextOn, until) {
      const result = await db
        .updateTable("builds")
        .set({ report_next_on: until })
        .where("uuid", "=", uuid)
        .where("report_next_on", seenNextOn === null ? "is" : "=", seenNextOn)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },
    async recordReport(uuid, record) {
      await db
        .updateTable("builds")
        .set({
          report_state: record.state,
          report_attempts: record.attempts,
          report_next_on: record.next_on,
          report_pending: record.pending ? 1 : 0,
        })
        .where("uuid", "=", uuid)
        .execute();
    },
    async supersede(triggerUuid, branch, newerUuid, at, line) {
      // One UPDATE … RETURNING and one INSERT of the log lines: on PostgreSQL a concurrent create
      // of the same branch waits on these rows' locks until this transaction commits, so the
      // fewer statements between the two, the shorter the chain of creates behind one another.
      const skipped = await db
        .updateTable("builds")
        .set({ status: "stopped", build_outcome: "skipped", stopped_on: at, modified_on: at, log_lines: sql<number>`log_lines + 1` })
        .where("trigger_uuid", "=", triggerUuid)
        .where("branch", "=", branch)
        .where("status", "=", "queued")
        .where("uuid", "<>", newerUuid)
        .returningAll()
        .execute();
      if (skipped.length > 0) {
        const params = skipped.flatMap((b) => [b.uuid, Number(b.log_lines) - 1, line[0], line[1]]);
        await db.executeQuery(CompiledQuery.raw(logInsert(dialect, skipped.length), params));
      }
      for (const b of skipped) await raise(toBuild(b), at);
      return skipped.map((b) => b.uuid);
    },
    async resolveCommit(uuid, runnerId, metadata, at) {
      const result = await db
        .updateTable("builds")
        .set({ metadata: toJson(metadata), branch: metadata.branch, commit_hash: metadata.commit_hash, modified_on: at })
        .where("uuid", "=", uuid)
        .where("runner_id", "=", runnerId)
        .where("status", "<>", "stopped")
        .executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },
    async latestOfHook(hookUuid) {
      const row = await select().where("deploy_hook_uuid", "=", hookUuid).orderBy("created_on", "desc").orderBy("uuid", "desc").limit(1).executeTakeFirst();
      return row && toBuild(row);
    },
    async get(accountId, uuid) {
      const row = byUuid?.usable() ? byUuid.get(accountId, uuid) : await select().where("account_id", "=", accountId).where("uuid", "=", uuid).executeTakeFirst();
      return row && toBuild(row);
    },
    async getByUuid(uuid) {
      const row = await select().where("uuid", "=", uuid).executeTakeFirst();
      return row && toBuild(row);
    },
    listByWorker: (accountId, workerTag, page, filter = {}) =>
      // The unfiltered page (what dashboards and clients poll) reads directly; filters through Kysely.
      filter.branch === undefined && filter.outcome === undefined && workerCount?.usable() && workerPage
        ? Promise.resolve({
            items: workerPage.all(accountId, workerTag, page.per_page, (page.page - 1) * page.per_page).map(toBuild),
            total: Number(workerCount.get(accountId, workerTag)?.n ?? 0),
          })
        : paged((q) => {
            let w = q.where("account_id", "=", accountId).where("worker_tag", "=", workerTag);
            if (filter.branch !== undefined) w = w.where("branch", "=", filter.branch);
            if (filter.outcome === "none") w = w.where("build_outcome", "is", null);
            else if (filter.outcome !== undefined) w = w.where("build_outcome", "=", filter.outcome);
            return w;
          }, page),
    listByPreview: (accountId, previewId, page) =>
      paged((q) => q.where("account_id", "=", accountId).where("preview_id", "=", previewId), page),
    async latestByWorkers(accountId, workerTags) {
      // One index probe per tag (account, worker, created_on): a GROUP BY over the account's
      // builds cost ~66 ms on PostgreSQL with 1M builds; 20 probes cost ~2 ms (docs/benchmarks.md).
      const rows = await Promise.all(
        workerTags.map((tag) =>
          select()
            .where("account_id", "=", accountId)
            .where("worker_tag", "=", tag)
            .orderBy("created_on", "desc")
            .orderBy("uuid", "desc")
            .limit(1)
            .executeTakeFirst(),
        ),
      );
      return rows.filter((r) => r !== undefined).map(toBuild);
    },
    async byVersionIds(accountId, versionIds) {
      if (versionIds.length === 0) return [];
      const rows = await select().where("account_id", "=", accountId).where("version_id", "in", versionIds).orderBy("created_on", "desc").execute();
      return rows.map(toBuild);
    },
    async latestByDeployHooks(accountId, hookUuids) {
      if (hookUuids.length === 0) return new Map();
      const rows = await db
        .selectFrom("builds")
        .select(["deploy_hook_uuid", (eb) => eb.fn.max("created_on").as("latest")])
        .where("account_id", "=", accountId)
        .where("deploy_hook_uuid", "in", hookUuids)
        .groupBy("deploy_hook_uuid")
        .execute();
      return new Map(rows.map((r) => [r.deploy_hook_uuid ?? "", String(r.latest)]));
    },
    async unfinishedOfTrigger(accountId, triggerUuid) {
      const rows = await select().where("account_id", "=", accountId).where("trigger_uuid", "=", triggerUuid).where("status", "<>", "stopped").execute();
      return rows.map(toBuild);
    },
    async holds(uuid, runnerId) {
      let q = db.selectFrom("builds").select("uuid").where("uuid", "=", uuid).where("runner_id", "=", runnerId).where("status", "<>", "stopped");
      // Held until the caller's transaction ends: a reaper's final write waits for these lines.
      if (dialect === "postgres") q = q.forUpdate();
      return (await q.executeTakeFirst()) !== undefined;
    },
    async lockQueued(limit) {
      let q = select().where("status", "=", "queued").orderBy("created_on").orderBy("uuid").limit(limit);
      // Another runner's claim in progress holds its rows: skip them rather than wait.
      if (dialect === "postgres") q = q.forUpdate().skipLocked();
      return (await q.execute()).map(toBuild);
    },
    async lockAccounts(accountIds) {
      if (accountIds.length === 0) return [];
      // SQLite: the write transaction (BEGIN IMMEDIATE) already serializes every claim.
      if (dialect !== "postgres") return accountIds;
      // One runner at a time counts and claims an account's builds, so the concurrency limit
      // holds across the fleet. NO KEY UPDATE does not block the API inserting builds (their
      // foreign key takes KEY SHARE); SKIP LOCKED leaves a busy account to the next pass.
      const rows = await db.selectFrom("accounts").select("id").where("id", "in", accountIds).orderBy("id").forNoKeyUpdate().skipLocked().execute();
      return rows.map((r) => r.id);
    },
    async queued(limit) {
      const rows = await select().where("status", "=", "queued").orderBy("created_on").orderBy("uuid").limit(limit).execute();
      return rows.map(toBuild);
    },
    async inProgressByAccount() {
      const rows = await db
        .selectFrom("builds")
        .select(["account_id", (eb) => eb.fn.countAll<number>().as("n")])
        .where("status", "in", ["initializing", "running"])
        .groupBy("account_id")
        .execute();
      return new Map(rows.map((r) => [r.account_id, Number(r.n)]));
    },
    async concurrencyLimits(accountIds) {
      if (accountIds.length === 0) return new Map();
      const rows = await db.selectFrom("accounts").select(["id", "concurrency_limit"]).where("id", "in", accountIds).execute();
      return new Map(rows.map((r) => [r.id, r.concurrency_limit]));
    },
    async claim(uuid, runnerId, leaseUntil, at) {
      const result = await db
        .updateTable("builds")
        .set({ status: "initializing", initializing_on: at, modified_on: at, runner_id: runnerId, lease_expires_on: leaseUntil })
        .where("uuid", "=", uuid)
        .where("status", "=", "queued")
        .executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },
    async update(uuid, runnerId, patch, at) {
      const row = await db
        .updateTable("builds")
        .set({ ...patch, modified_on: at })
        .where("uuid", "=", uuid)
        .where("runner_id", "=", runnerId)
        .where("status", "<>", "stopped")
        .returningAll()
        .executeTakeFirst();
      if (row && patch.status !== undefined) await raise(toBuild(row), at);
      return row !== undefined;
    },
    async finish(uuid, runnerId, outcome, at, fromStatuses, leaseExpiredBefore) {
      let q = db
        .updateTable("builds")
        .set({ status: "stopped", build_outcome: outcome, stopped_on: at, modified_on: at, lease_expires_on: null })
        .where("uuid", "=", uuid)
        .where("status", "<>", "stopped");
      if (runnerId !== null) q = q.where("runner_id", "=", runnerId);
      if (fromStatuses) q = q.where("status", "in", fromStatuses);
      // A reaper stops a build only if its lease is still out: a renewal that won the race keeps it.
      if (leaseExpiredBefore !== undefined) q = q.where("lease_expires_on", "<", leaseExpiredBefore);
      const row = await q.returningAll().executeTakeFirst();
      if (row) await raise(toBuild(row), at);
      return row !== undefined;
    },
    async requestCancel(uuid, by, at) {
      const result = await db
        .updateTable("builds")
        .set({ cancel_requested_on: at, cancel_requested_by: by, modified_on: at })
        .where("uuid", "=", uuid)
        .where("status", "in", ["initializing", "running"])
        .where("cancel_requested_on", "is", null)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },
    async renewLeases(runnerId, until) {
      await db
        .updateTable("builds")
        .set({ lease_expires_on: until })
        .where("runner_id", "=", runnerId)
        .where("status", "in", ["initializing", "running"])
        .execute();
    },
    async expired(now) {
      const rows = await select().where("status", "in", ["initializing", "running"]).where("lease_expires_on", "<", now).execute();
      return rows.map(toBuild);
    },
    async heldBy(runnerIds) {
      if (runnerIds.length === 0) return [];
      const rows = await select().where("status", "in", ["initializing", "running"]).where("runner_id", "in", runnerIds).execute();
      return rows.map(toBuild);
    },
    async stoppedBefore(cutoff, limit) {
      const rows = await db
        .selectFrom("builds")
        .select("uuid")
        .where("status", "=", "stopped")
        .where("stopped_on", "<", cutoff)
        .orderBy("stopped_on")
        .limit(limit)
        .execute();
      return rows.map((r) => r.uuid);
    },
    async removeWithLogs(uuids) {
      if (uuids.length === 0) return { builds: 0, log_lines: 0 };
      const logs = await db.deleteFrom("build_logs").where("build_uuid", "in", uuids).executeTakeFirst();
      const builds = await db.deleteFrom("builds").where("uuid", "in", uuids).where("status", "=", "stopped").executeTakeFirst();
      return { builds: Number(builds.numDeletedRows), log_lines: Number(logs.numDeletedRows) };
    },
    async minutesUsed(accountId, sinceIso, nowIso) {
      // Time between running_on and stopped_on (or now), for builds that ran this period.
      const rows = await db
        .selectFrom("builds")
        .select(["running_on", "stopped_on"])
        .where("account_id", "=", accountId)
        .where("running_on", "is not", null)
        .where((eb) => eb.or([eb("stopped_on", "is", null), eb("stopped_on", ">=", sinceIso)]))
        .execute();
      let ms = 0;
      const since = Date.parse(sinceIso);
      for (const r of rows) {
        const start = Math.max(Date.parse(r.running_on ?? nowIso), since);
        ms += Math.max(0, Date.parse(r.stopped_on ?? nowIso) - start);
      }
      return ms / 60_000;
    },
    async appendLogs(uuid, firstLine, lines, limits = {}) {
      if (lines.length === 0) return { taken: 0, rows: 0, extraBytes: 0 };
      const room = limits.extraBytes ?? Infinity;
      const insert = async (rows: readonly LogLine[], first: number) => {
        // Chunks keep each statement under the bound-parameter limits (SQLite 32766, pg 65535).
        for (let i = 0; i < rows.length; i += LOG_ROWS_PER_INSERT) {
          const chunk = rows.slice(i, i + LOG_ROWS_PER_INSERT);
          const params: unknown[] = [];
          chunk.forEach(([ts, text], j) => params.push(uuid, first + i + j, ts, text));
          await db.executeQuery(CompiledQuery.raw(logInsert(dialect, chunk.length), params));
        }
      };
      // One line the database refuses must not lose the batch, nor (the runner stops at the
      // first failed batch) every line after it. The batch is written under a savepoint; when
      // the database refuses its values, it is written again in halves, in order, down to the
      // refused lines. Consecutive refused lines become one notice (a `✓` line on a LATIN1
      // database is 4 bytes, its notice ~160: one each would take a log of them 40 times past
      // what the log cap counted); the rows after it move up. Any other failure (a lost
      // connection, a lock, a full disk) fails the whole transaction, as before.
      let next = firstLine; // the next row's number
      let extra = 0; // bytes beyond the taken lines' own; a run's notice is counted at MAX_NOTICE_BYTES until written
      let taken = 0;
      let stopped = false;
      let run: { ts: number; count: number; error: unknown } | undefined;
      const endRun = async () => {
        if (!run) return;
        const notice = refusedLinesNotice(run.count, run.error);
        // Row `next` was kept for it while the run's lines were tried.
        await insert([[run.ts, notice]], next++);
        extra += Buffer.byteLength(notice) + 1 - MAX_NOTICE_BYTES;
        run = undefined;
      };
      const refused = (line: LogLine, error: unknown): boolean => {
        const own = Buffer.byteLength(line[1]) + 1;
        if (run) {
          run.count++;
          extra -= own;
          return true;
        }
        // A new notice: only when it fits in what the caller allows (the log cap's room).
        if (extra + MAX_NOTICE_BYTES - own > room) return false;
        run = { ts: line[0], count: 1, error };
        extra += MAX_NOTICE_BYTES - own;
        return true;
      };
      const careful = async (rows: readonly LogLine[]): Promise<void> => {
        // While a run is open its notice's row is kept free: the next rows go after it.
        const at = run ? next + 1 : next;
        await sql`savepoint kiln_log_lines`.execute(db);
        try {
          await insert(rows, at);
        } catch (error) {
          // Anything else fails the transaction as a whole: no use undoing part of it.
          if (!refusedValue(error)) throw error;
          await sql`rollback to savepoint kiln_log_lines`.execute(db);
          await sql`release savepoint kiln_log_lines`.execute(db);
          if (rows.length === 1) {
            if (refused(rows[0] as LogLine, error)) taken++;
            else stopped = true;
            return;
          }
          const half = Math.ceil(rows.length / 2);
          await careful(rows.slice(0, half));
          if (!stopped) await careful(rows.slice(half));
          return;
        }
        await sql`release savepoint kiln_log_lines`.execute(db);
        await endRun();
        next += rows.length;
        taken += rows.length;
      };
      if (limits.whole) await sql`savepoint kiln_log_batch`.execute(db);
      await careful(lines);
      await endRun();
      if (limits.whole) {
        if (stopped) {
          await sql`rollback to savepoint kiln_log_batch`.execute(db);
          await sql`release savepoint kiln_log_batch`.execute(db);
          return { taken: 0, rows: 0, extraBytes: 0 };
        }
        await sql`release savepoint kiln_log_batch`.execute(db);
      }
      await db
        .updateTable("builds")
        .set({ log_lines: sql<number>`${next}` })
        .where("uuid", "=", uuid)
        .execute();
      return { taken, rows: next - firstLine, extraBytes: extra };
    },
    async readLogs(uuid, fromLine, limit) {
      const rows = await db
        .selectFrom("build_logs")
        .select(["ts", "text"])
        .where("build_uuid", "=", uuid)
        .where("line", ">=", fromLine)
        .orderBy("line")
        .limit(limit)
        .execute();
      return rows.map((r) => [Number(r.ts), r.text] as LogLine);
    },
  };
}

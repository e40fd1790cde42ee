/** What the build rules and the runner need from storage (implemented in store/builds.ts). */
import type { Build, BuildMetadata, BuildOutcome, BuildStatus, LogLine } from "./build-types.ts";
import type { Page, Paged } from "./types.ts";

export interface DueReport {
  build: Build;
  /** The status last reported, null before the first report. */
  reported: BuildStatus | null;
  attempts: number;
  next_on: string | null;
}

export interface BuildRepository {
  /** `reportStatus`: the build's status is to be reported back to its git provider. */
  insert(build: Build, options?: { reportStatus?: boolean }): Promise<void>;
  /** Whether any build of this trigger (and Preview, or none) builds this commit. */
  existsForCommit(triggerUuid: string, previewId: string | null, commit: string): Promise<boolean>;
  /** Builds whose status has moved past the one last reported to the git provider, oldest first. */
  reportsDue(now: string, limit: number): Promise<DueReport[]>;
  /** Takes a due report until `until` (no other node reports it meanwhile); false when someone else did. */
  claimReport(uuid: string, seenNextOn: string | null, until: string): Promise<boolean>;
  recordReport(uuid: string, record: { state: BuildStatus | null; attempts: number; next_on: string | null; pending: boolean }): Promise<void>;
  get(accountId: string, uuid: string): Promise<Build | undefined>;
  getByUuid(uuid: string): Promise<Build | undefined>;
  /** `filter.outcome` "none": builds not stopped yet. */
  listByWorker(accountId: string, workerTag: string, page: Page, filter?: { branch?: string; outcome?: BuildOutcome | "none" }): Promise<Paged<Build>>;
  listByPreview(accountId: string, previewId: string, page: Page): Promise<Paged<Build>>;
  latestByWorkers(accountId: string, workerTags: string[]): Promise<Build[]>;
  byVersionIds(accountId: string, versionIds: string[]): Promise<Build[]>;
  /** created_on of the newest build each deploy hook started. */
  latestByDeployHooks(accountId: string, hookUuids: string[]): Promise<Map<string, string>>;
  unfinishedOfTrigger(accountId: string, triggerUuid: string): Promise<Build[]>;
  /** Stops as `skipped` the queued builds of this trigger and branch other than `newerUuid`, `line` ending their logs; their uuids. */
  supersede(triggerUuid: string, branch: string, newerUuid: string, at: string, line: LogLine): Promise<string[]>;
  /**
   * A fenced write of the commit an unfinished build's ref resolved to (its metadata, branch and
   * commit_hash); from then on its status is reported (there was no commit to report on before).
   */
  resolveCommit(uuid: string, runnerId: string, metadata: BuildMetadata, at: string): Promise<boolean>;
  /** The newest build a deploy hook started. */
  latestOfHook(hookUuid: string): Promise<Build | undefined>;
  /** Queued builds, oldest first, with each account's count of builds in progress. */
  queued(limit: number): Promise<Build[]>;
  /** Whether this runner still holds this unfinished build (locked for the rest of the transaction on PostgreSQL). */
  holds(uuid: string, runnerId: string): Promise<boolean>;
  /** Queued builds oldest first, locked for this claim (PostgreSQL: FOR UPDATE SKIP LOCKED). */
  lockQueued(limit: number): Promise<Build[]>;
  /** The accounts this transaction may claim builds of: those no other claim holds right now. */
  lockAccounts(accountIds: string[]): Promise<string[]>;
  inProgressByAccount(): Promise<Map<string, number>>;
  concurrencyLimits(accountIds: string[]): Promise<Map<string, number | null>>;
  /** queued → initializing for this runner; false when someone else took it first. */
  claim(uuid: string, runnerId: string, leaseUntil: string, at: string): Promise<boolean>;
  /** A fenced update of a build this runner holds and that has not stopped. */
  update(uuid: string, runnerId: string, patch: Partial<{ status: BuildStatus; running_on: string; version_id: string; preview_url: string }>, at: string): Promise<boolean>;
  /** The single final write. Fenced by runner_id when given; never overwrites a stopped build. */
  finish(uuid: string, runnerId: string | null, outcome: BuildOutcome, at: string, fromStatuses?: BuildStatus[], leaseExpiredBefore?: string): Promise<boolean>;
  requestCancel(uuid: string, by: string, at: string): Promise<boolean>;
  renewLeases(runnerId: string, until: string): Promise<void>;
  /** Builds in progress whose lease ran out before `now`. */
  expired(now: string): Promise<Build[]>;
  /** Builds in progress held by any of these runners. */
  heldBy(runnerIds: string[]): Promise<Build[]>;
  /** Builds stopped before `cutoff`, oldest first (retention). */
  stoppedBefore(cutoff: string, limit: number): Promise<string[]>;
  /** Deletes these builds (if stopped) and their log lines. */
  removeWithLogs(uuids: string[]): Promise<{ builds: number; log_lines: number }>;
  minutesUsed(accountId: string, sinceIso: string, nowIso: string): Promise<number>;
  /**
   * Stores lines `firstLine…`, in order and contiguously numbered. Lines the database refuses
   * for their content are stored as a notice saying so (one for a run of consecutive refused
   * lines: the rows after it move up), so the lines after them are kept; any other failure
   * rejects (nothing of the batch stored). See {@link LogLimits} for what notices may take.
   */
  appendLogs(uuid: string, firstLine: number, lines: LogLine[], limits?: LogLimits): Promise<StoredLines>;
  readLogs(uuid: string, fromLine: number, limit: number): Promise<LogLine[]>;
}

/** Bounds on what the notices of refused lines may add to a batch (default: no bound). */
export interface LogLimits {
  /**
   * Bytes the stored rows may take beyond the lines' own (UTF-8 bytes plus one each). The batch
   * is stored up to the first run of refused lines whose notice could take it past this (counted
   * at MAX_NOTICE_BYTES, domain/log-notice.ts); the lines from there on are not stored.
   */
  extraBytes?: number;
  /** All or nothing: when not every line fits, nothing of the batch is stored. */
  whole?: boolean;
}

/** What appendLogs stored. */
export interface StoredLines {
  /** Lines of the batch stored (as themselves or in a notice): the first `taken`. */
  taken: number;
  /** Rows written: the next line's number is `firstLine + rows`. */
  rows: number;
  /** Bytes the rows take beyond the taken lines' own (negative when notices took less). */
  extraBytes: number;
}

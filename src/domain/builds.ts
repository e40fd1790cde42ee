/**
 * Creating builds and reading them. A build snapshots its trigger's settings when it is
 * created: settings changes apply to the next build only. Its commit is either known then (a
 * webhook's, a retry's) or asked for by branch and/or commit and resolved through git when the
 * build initializes (recordResolvedCommit), so that creating a build never waits on git.
 */
import { errors } from "../errors.ts";
import type { Build, BuildMetadata, BuildSource } from "./build-types.ts";
import type { RepoConnection, Trigger } from "./config-types.ts";
import { newUuid, nowIso } from "./ids.ts";
import type { Repositories } from "./ports.ts";
import { requireLiveTrigger } from "./triggers.ts";

/** A commit as git resolved it. */
export interface ResolvedCommit {
  commit: string;
  branch: string;
  message: string;
  author: string;
}

/** A branch and/or commit as the caller named them, before git resolved them. */
export interface RequestedRef {
  branch?: string | undefined;
  commit?: string | undefined;
}

const isResolved = (c: ResolvedCommit | RequestedRef): c is ResolvedCommit => "message" in c;

/** Resolves a branch and/or commit of a repository; undefined when git cannot. */
export interface CommitResolver {
  resolve(connection: RepoConnection, ref: { branch?: string | undefined; commit?: string | undefined }): Promise<ResolvedCommit | undefined>;
  /** Paths `head` changed since it forked from `base` (a pull request's changes); undefined when git cannot tell. */
  changedFiles(connection: RepoConnection, base: string, head: string): Promise<string[] | undefined>;
}

/** Wakes runners when a build is queued (in-process event, or NOTIFY in a fleet). */
export interface QueueSignal {
  queued(build: Build): void;
}

/** Providers a build reports its status back to (docs/webhooks.md). */
const REPORTED_PROVIDERS: ReadonlySet<string> = new Set(["github", "gitlab", "gitlab_internal"]);

export interface NewBuild {
  trigger: Trigger;
  connection: RepoConnection;
  /** A commit git resolved, or a ref the runner resolves when the build initializes. */
  commit: ResolvedCommit | RequestedRef;
  source: BuildSource;
  previewId?: string | null;
  deployHook?: { uuid: string; name: string } | null;
  pullRequest?: Build["pull_request"];
}

export async function insertBuild(repos: Repositories, input: NewBuild): Promise<Build> {
  const { trigger, connection } = input;
  const token = await repos.buildTokens.get(trigger.account_id, trigger.build_token_uuid);
  const now = nowIso();
  const commit: ResolvedCommit = isResolved(input.commit)
    ? input.commit
    : { branch: input.commit.branch ?? "", commit: input.commit.commit?.toLowerCase() ?? "", message: "", author: "" };
  const metadata: BuildMetadata = {
    build_trigger_source: input.source,
    branch: commit.branch,
    commit_hash: commit.commit,
    commit_message: commit.message,
    author: commit.author,
    build_command: trigger.build_command,
    deploy_command: trigger.deploy_command,
    root_directory: trigger.root_directory,
    build_token_uuid: trigger.build_token_uuid,
    build_token_name: token?.build_token_name ?? "",
    build_caching_enabled: trigger.build_caching_enabled,
    provider_type: connection.provider_type,
    provider_account_id: connection.provider_account_id,
    provider_account_name: connection.provider_account_name,
    repo_id: connection.repo_id,
    repo_name: connection.repo_name,
    ...(isResolved(input.commit) ? {} : { unresolved: true as const }),
  };
  const build: Build = {
    build_uuid: newUuid(),
    account_id: trigger.account_id,
    worker_tag: trigger.external_script_id,
    trigger_uuid: trigger.trigger_uuid,
    preview_id: input.previewId ?? null,
    status: "queued",
    build_outcome: null,
    created_on: now,
    initializing_on: null,
    running_on: null,
    stopped_on: null,
    modified_on: now,
    metadata,
    deploy_hook: input.deployHook ?? null,
    pull_request: input.pullRequest ?? null,
    runner_id: null,
    lease_expires_on: null,
    cancel_requested_on: null,
    cancel_requested_by: null,
    version_id: null,
    preview_url: null,
    log_lines: 0,
  };
  await repos.builds.insert(build, { reportStatus: REPORTED_PROVIDERS.has(connection.provider_type) });
  // A newer build of the same trigger and branch supersedes the ones still waiting (running ones
  // go on). A build asked for by commit alone has no branch until it starts, and by then every
  // older build of its account has started too (claims are oldest first): it supersedes nothing.
  if (commit.branch !== "") {
    const at = nowIso();
    await repos.builds.supersede(trigger.trigger_uuid, commit.branch, build.build_uuid, at, [Date.parse(at), `Build was skipped: superseded by the newer build ${build.build_uuid}`]);
  }
  return build;
}

/**
 * Stores the commit an initializing build's requested ref resolved to (fenced by runner_id, like
 * every write of a claimed build) and updates `build.metadata` in place; false when the build
 * is no longer this runner's.
 */
export async function recordResolvedCommit(repos: Repositories, build: Build, runnerId: string, commit: ResolvedCommit): Promise<boolean> {
  const { unresolved: _unresolved, ...rest } = build.metadata;
  const metadata: BuildMetadata = { ...rest, branch: commit.branch, commit_hash: commit.commit, commit_message: commit.message, author: commit.author };
  if (!(await repos.builds.resolveCommit(build.build_uuid, runnerId, metadata, nowIso()))) return false;
  build.metadata = metadata;
  return true;
}

/** The trigger and its connection, for a new build of a live trigger (404 12000 otherwise). */
export async function triggerForBuild(repos: Repositories, accountId: string, triggerUuid: string) {
  const trigger = await requireLiveTrigger(repos, accountId, triggerUuid);
  const connection = await repos.repoConnections.get(accountId, trigger.repo_connection_uuid);
  if (!connection) throw errors.notFound();
  return { trigger, connection };
}

/**
 * What a Preview's build runs with: the Worker's production trigger (its repository) with the
 * Preview's own settings laid over it; the build records the Preview, so the runner takes the
 * Preview's variables. 404 12000 when the Preview or the Worker's configuration is gone.
 */
export async function previewForBuild(repos: Repositories, accountId: string, workerTag: string, previewId: string) {
  const preview = await repos.previews.get(accountId, workerTag, previewId);
  if (!preview) throw errors.notFound();
  const production = (await repos.triggers.listByWorker(accountId, workerTag)).find((t) => t.role === "production" && t.deleted_on === null);
  if (!production) throw errors.notFound();
  const connection = await repos.repoConnections.get(accountId, production.repo_connection_uuid);
  if (!connection) throw errors.notFound();
  return { preview, trigger: { ...production, ...preview.settings }, connection };
}

export async function requireBuild(repos: Repositories, accountId: string, uuid: string): Promise<Build> {
  const build = await repos.builds.get(accountId, uuid);
  if (!build) throw errors.notFound();
  return build;
}

/** A query parameter `a,b,c` → at most `max` distinct non-empty ids, or 400 12013 naming the parameter. */
export function idList(value: string, name: string, max = 20): string[] {
  const ids = [...new Set(value.split(",").map((s) => s.trim()).filter(Boolean))];
  if (ids.length === 0) throw errors.invalidQuery(name, "required");
  if (ids.length > max) throw errors.invalidQuery(name, `at most ${max} values`);
  return ids;
}

/**
 * Retry (Kiln extension): a new build of the same commit and branch with the configuration
 * as it is now, source `manual`. A build whose trigger (or Preview) is gone cannot be retried.
 */
export async function retryBuild(repos: Repositories, accountId: string, uuid: string): Promise<Build> {
  const old = await requireBuild(repos, accountId, uuid);
  const m = old.metadata;
  // A build that never resolved its ref (it failed or was stopped first) is retried by the same request.
  const commit: ResolvedCommit | RequestedRef = m.unresolved
    ? { branch: m.branch || undefined, commit: m.commit_hash || undefined }
    : { commit: m.commit_hash, branch: m.branch, message: m.commit_message, author: m.author };
  if (old.preview_id) {
    const { trigger, connection } = await previewForBuild(repos, accountId, old.worker_tag, old.preview_id);
    return insertBuild(repos, { trigger, connection, commit, source: "manual", previewId: old.preview_id });
  }
  const { trigger, connection } = await triggerForBuild(repos, accountId, old.trigger_uuid);
  return insertBuild(repos, { trigger, connection, commit, source: "manual" });
}

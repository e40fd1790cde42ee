/**
 * What a verified webhook delivery builds (docs/webhooks.md, "What builds"): the
 * repository's connections (in one account, or every account on the single-tenant endpoints),
 * then for each Worker with live triggers on them, the branch patterns, the Previews model,
 * forks, the watch paths and the (trigger, commit) de-duplication, in that order. Each
 * account's builds and its record of the delivery are written in one transaction, so a replayed
 * delivery (same delivery id) creates nothing twice, even when both copies arrive at once.
 */
import type { Build } from "./build-types.ts";
import { insertBuild, type CommitResolver, type ResolvedCommit } from "./builds.ts";
import type { RepoConnection, Trigger } from "./config-types.ts";
import { DELIVERIES_KEPT, type Delivery, type DeliveryOutcome, type GitProvider, type SkipReason, type WebhookResult } from "./delivery-types.ts";
import { CONNECTION_TYPES, type GitEvent, type PullRequestEvent, type PushEvent } from "./git-events.ts";
import { newUuid, nowIso } from "./ids.ts";
import { branchSkipReason, pathsAllowBuild, type Changes } from "./patterns.ts";
import type { Repositories, StorePort } from "./ports.ts";
import { createPreview } from "./previews.ts";

export interface DeliveryInput {
  provider: GitProvider;
  /** X-GitHub-Delivery / X-Gitlab-Event-UUID; null when the sender gave none (no de-duplication then). */
  delivery_id: string | null;
  /** The provider's event name as sent (`push`, `Merge Request Hook`, …). */
  event: string;
  /** The per-account endpoint's account; undefined on the single-tenant endpoints (every account). */
  account_id?: string | undefined;
}

export interface DeliveryHandled {
  result: WebhookResult;
  /** The builds created, for the runners' wake-up signal. */
  created: Build[];
}

/** A build-starting event with what the matching needs resolved up front (git work stays outside transactions). */
interface Candidate {
  event: PushEvent | PullRequestEvent;
  branch: string;
  commit: ResolvedCommit;
  changes: Changes;
  pullRequest: Build["pull_request"];
  source: "push" | "pull_request";
}

class DuplicateDelivery extends Error {}

const empty = (): WebhookResult => ({ builds: [], skipped: [] });

export async function handleDelivery(store: StorePort, commits: CommitResolver, input: DeliveryInput, event: GitEvent): Promise<DeliveryHandled> {
  if (event.kind === "ignored") {
    if (input.account_id !== undefined) await record(store, input, input.account_id, "ignored", empty(), event.reason);
    return { result: empty(), created: [] };
  }
  const connections = await store.repoConnections.liveByRepo(CONNECTION_TYPES[input.provider], event.repo.repo_id, input.account_id);
  if (connections.length === 0) {
    // The answer is the same whether the repository is unknown or another account's.
    if (input.account_id !== undefined) await record(store, input, input.account_id, "unknown_repository", empty());
    return { result: empty(), created: [] };
  }

  const byAccount = new Map<string, RepoConnection[]>();
  for (const c of connections) byAccount.set(c.account_id, [...(byAccount.get(c.account_id) ?? []), c]);

  const result = empty();
  const created: Build[] = [];
  for (const [accountId, accountConnections] of byAccount) {
    // Accounts share the repository, not the clone URL template's answer: resolve once for the first.
    const candidate = await toCandidate(event, commits, accountConnections[0] as RepoConnection);
    const outcome = await buildForAccount(store, input, accountId, accountConnections, candidate);
    result.builds.push(...outcome.result.builds);
    result.skipped.push(...outcome.result.skipped);
    created.push(...outcome.created);
  }
  return { result, created };
}

async function toCandidate(event: PushEvent | PullRequestEvent, commits: CommitResolver, connection: RepoConnection): Promise<Candidate> {
  if (event.kind === "push") {
    return { event, branch: event.commit.branch, commit: event.commit, changes: event.changes, pullRequest: null, source: "push" };
  }
  const pullRequest = { created_on: event.created_on, pull_request_url: event.url };
  const fallback: ResolvedCommit = { commit: event.head_sha, branch: event.branch, message: event.title, author: event.author };
  if (event.fork) return { event, branch: event.branch, commit: fallback, changes: { files: null, commits: 0 }, pullRequest, source: "pull_request" };
  // A pull request event carries no file list: git tells what the head changed since the base.
  const resolved = await commits.resolve(connection, { commit: event.head_sha });
  const files = event.base_sha === null ? null : ((await commits.changedFiles(connection, event.base_sha, event.head_sha)) ?? null);
  return {
    event,
    branch: event.branch,
    commit: resolved ? { ...resolved, branch: event.branch } : fallback,
    changes: { files, commits: 1 },
    pullRequest,
    source: "pull_request",
  };
}

async function buildForAccount(
  store: StorePort,
  input: DeliveryInput,
  accountId: string,
  connections: RepoConnection[],
  candidate: Candidate,
): Promise<DeliveryHandled> {
  try {
    return await store.transaction(async (repos) => {
      if (input.delivery_id !== null) {
        const seen = await repos.deliveries.find(accountId, input.provider, input.delivery_id);
        if (seen) return duplicateOf(seen);
      }
      const result = empty();
      const created: Build[] = [];
      for (const connection of connections) {
        const triggers = await repos.triggers.liveByConnection(accountId, connection.repo_connection_uuid);
        for (const trigger of triggers) {
          const decision = await decide(repos, trigger, triggers, candidate);
          if ("reason" in decision) {
            result.skipped.push({ trigger_uuid: trigger.trigger_uuid, reason: decision.reason });
            continue;
          }
          const build = await insertBuild(repos, {
            trigger: decision.trigger,
            connection,
            commit: candidate.commit,
            source: candidate.source,
            previewId: decision.previewId,
            pullRequest: candidate.pullRequest,
          });
          created.push(build);
          result.builds.push({ build_uuid: build.build_uuid, trigger_uuid: trigger.trigger_uuid, external_script_id: trigger.external_script_id });
        }
      }
      const outcome: DeliveryOutcome = result.builds.length > 0 ? "built" : "skipped";
      if (!(await insertDelivery(repos, input, accountId, outcome, result))) throw new DuplicateDelivery();
      return { result, created };
    });
  } catch (error) {
    // The same delivery committed by a concurrent request first: this copy's builds were rolled back.
    if (!(error instanceof DuplicateDelivery) || input.delivery_id === null) throw error;
    const seen = await store.deliveries.find(accountId, input.provider, input.delivery_id);
    return seen ? duplicateOf(seen) : { result: empty(), created: [] };
  }
}

/** A replay answers, for every build the first copy started, that this one is a duplicate. */
function duplicateOf(seen: Delivery): DeliveryHandled {
  return { result: { builds: [], skipped: seen.result.builds.map((b) => ({ trigger_uuid: b.trigger_uuid, reason: "duplicate" as SkipReason })) }, created: [] };
}

type Decision = { reason: SkipReason } | { trigger: Trigger; previewId: string | null };

/**
 * One trigger's verdict. On the Previews model a branch the production trigger does not take
 * builds that branch's Preview (created on first push) with the Preview's own settings.
 */
async function decide(repos: Repositories, trigger: Trigger, workerTriggers: Trigger[], c: Candidate): Promise<Decision> {
  if (c.source === "pull_request" && c.event.kind === "pull_request" && c.event.fork) return { reason: "fork" };
  const branchReason = branchSkipReason(trigger.branch_includes, trigger.branch_excludes, c.branch);
  if (branchReason === undefined) {
    if (!pathsAllowBuild(trigger.path_includes, trigger.path_excludes, c.changes)) return { reason: "no_watched_path_changed" };
    if (await repos.builds.existsForCommit(trigger.trigger_uuid, null, c.commit.commit)) return { reason: "duplicate" };
    return { trigger, previewId: null };
  }
  const previews = trigger.role === "production" && branchReason === "branch_not_included" ? await repos.workerPreviews.get(trigger.account_id, trigger.external_script_id) : undefined;
  // A legacy preview trigger of the same Worker takes other branches itself; so does a Worker without Previews.
  if (!previews?.previews_enabled || !previews.base_settings || workerTriggers.some((t) => t.role === "preview" && t.external_script_id === trigger.external_script_id)) {
    return { reason: branchReason };
  }
  const existing = await repos.previews.findByBranch(trigger.account_id, trigger.external_script_id, c.branch);
  if (existing && !existing.auto_build) return { reason: "auto_build_disabled" };
  const settings = existing?.settings ?? previews.base_settings;
  if (!pathsAllowBuild(settings.path_includes, settings.path_excludes, c.changes)) return { reason: "no_watched_path_changed" };
  if (existing && (await repos.builds.existsForCommit(trigger.trigger_uuid, existing.preview_id, c.commit.commit))) return { reason: "duplicate" };
  const preview = existing ?? (await createPreview(repos, trigger.account_id, trigger.external_script_id, c.branch));
  return { trigger: { ...trigger, ...preview.settings }, previewId: preview.preview_id };
}

async function insertDelivery(repos: Repositories, input: DeliveryInput, accountId: string, outcome: DeliveryOutcome, result: WebhookResult, detail?: string) {
  const delivery: Delivery = {
    id: newUuid(),
    account_id: accountId,
    provider: input.provider,
    delivery_id: input.delivery_id,
    event: input.event,
    received_on: nowIso(),
    status: outcome === "rejected" ? 400 : 202,
    outcome,
    result: detail === undefined ? result : { ...result, detail },
  };
  const inserted = await repos.deliveries.insert(delivery);
  if (inserted) await repos.deliveries.trim(accountId, DELIVERIES_KEPT);
  return inserted;
}

/** Records a delivery that built nothing (a replay of it is recorded once). */
async function record(store: StorePort, input: DeliveryInput, accountId: string, outcome: DeliveryOutcome, result: WebhookResult, detail?: string) {
  await store.transaction((repos) => insertDelivery(repos, input, accountId, outcome, result, detail));
}

/** A delivery refused as malformed (400) on a per-account endpoint, kept for `kiln deliveries list`. */
export async function recordRejected(store: StorePort, input: DeliveryInput & { account_id: string }, detail: string): Promise<void> {
  await record(store, input, input.account_id, "rejected", empty(), detail);
}

/** The newest deliveries of an account (`kiln deliveries list`). */
export function listDeliveries(store: StorePort, accountId: string, limit = DELIVERIES_KEPT): Promise<Delivery[]> {
  return store.deliveries.list(accountId, limit);
}

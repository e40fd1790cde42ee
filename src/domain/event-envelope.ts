/**
 * Build events as Cloudflare's Workers Builds publishes them to event subscriptions
 * (https://developers.cloudflare.com/workers/ci-cd/builds/event-subscriptions/): which state change raises
 * which event, and the envelope delivered for it. Pure: the store writes the outbox row in the
 * transaction of the change (store/build-events.ts); destinations wrap it in `envelopeOf`.
 */
import type { Build, BuildOutcome } from "./build-types.ts";

export const EVENT_PREFIX = "cf.workersBuilds.worker.build.";

/** Cloudflare's events. */
export const CLOUDFLARE_EVENTS = ["started", "succeeded", "failed", "canceled"].map((e) => EVENT_PREFIX + e);
/** Kiln's extensions: delivered only to subscriptions that name them. */
export const KILN_EVENTS = ["queued", "skipped"].map((e) => EVENT_PREFIX + e);
export const BUILD_EVENT_TYPES: readonly string[] = [...CLOUDFLARE_EVENTS, ...KILN_EVENTS];

export const SOURCE_TYPE = "workersBuilds.worker";

export interface BuildEventPayload {
  buildUuid: string;
  status: Build["status"];
  buildOutcome: BuildOutcome | null;
  createdAt: string;
  initializingAt: string | null;
  runningAt: string | null;
  stoppedAt: string | null;
  buildTriggerMetadata: {
    buildTriggerSource: string;
    branch: string;
    commitHash: string;
    commitMessage: string;
    author: string;
    buildCommand: string;
    deployCommand: string;
    rootDirectory: string;
    repoName: string;
    providerAccountName: string;
    providerType: string;
  };
}

export interface BuildEventEnvelope {
  type: string;
  source: { type: typeof SOURCE_TYPE; workerName: string };
  payload: BuildEventPayload;
  metadata: { accountId: string; eventSubscriptionId: string; eventSchemaVersion: 1; eventTimestamp: string };
}

/** One stored event (a row of the outbox). */
export interface StoredBuildEvent {
  /** Grows with every event; an account's Server-Sent Events id. */
  id: number;
  account_id: string;
  worker_tag: string;
  worker_name: string;
  build_uuid: string;
  type: string;
  created_on: string;
  payload: BuildEventPayload;
}

const OUTCOME_EVENT: Record<BuildOutcome, string> = {
  success: "succeeded",
  fail: "failed",
  // Cloudflare has no `terminated` event: a terminated build failed, its payload says how.
  terminated: "failed",
  cancelled: "canceled",
  skipped: "skipped",
};

/** The event a build's new state raises, or undefined (initializing raises none). */
export function eventTypeOf(build: Pick<Build, "status" | "build_outcome">): string | undefined {
  switch (build.status) {
    case "queued":
      return EVENT_PREFIX + "queued";
    case "running":
      return EVENT_PREFIX + "started";
    case "stopped":
      return build.build_outcome ? EVENT_PREFIX + OUTCOME_EVENT[build.build_outcome] : undefined;
    default:
      return undefined;
  }
}

export function payloadOf(build: Build): BuildEventPayload {
  const m = build.metadata;
  return {
    buildUuid: build.build_uuid,
    status: build.status,
    buildOutcome: build.build_outcome,
    createdAt: build.created_on,
    initializingAt: build.initializing_on,
    runningAt: build.running_on,
    stoppedAt: build.stopped_on,
    buildTriggerMetadata: {
      buildTriggerSource: m.build_trigger_source,
      branch: m.branch,
      commitHash: m.commit_hash,
      commitMessage: m.commit_message,
      author: m.author,
      buildCommand: m.build_command,
      deployCommand: m.deploy_command,
      rootDirectory: m.root_directory,
      repoName: m.repo_name,
      providerAccountName: m.provider_account_name,
      providerType: m.provider_type,
    },
  };
}

/**
 * The envelope delivered to one subscription. `subscriptionId` is "" where no subscription is
 * involved (the account event stream).
 */
export function envelopeOf(event: StoredBuildEvent, subscriptionId: string): BuildEventEnvelope {
  return {
    type: event.type,
    source: { type: SOURCE_TYPE, workerName: event.worker_name },
    payload: event.payload,
    metadata: { accountId: event.account_id, eventSubscriptionId: subscriptionId, eventSchemaVersion: 1, eventTimestamp: event.created_on },
  };
}

/**
 * Reports each build's status back to its git provider: pending when queued, running, then the
 * outcome (docs/webhooks.md). The database says what is due — a build whose
 * status moved past the one last reported — so reports survive restarts and, in a fleet, any
 * node may send them (a short claim keeps two nodes from sending the same one). A report that
 * fails is retried with back-off a few times and then given up; it never touches the build.
 */
import type { Logger } from "pino";
import type { BuildSignals } from "../domain/build-events.ts";
import { PassLoop } from "../domain/pass-loop.ts";
import type { DueReport } from "../domain/build-ports.ts";
import type { StorePort } from "../domain/ports.ts";
import { providerState, reportToGithub, reportToGitlab, ReportFailed, type ProviderApi, type StatusReport } from "./provider-status.ts";

export interface StatusReporterOptions {
  github?: ProviderApi | undefined;
  gitlab?: ProviderApi | undefined;
  /** Kiln's address as users reach it (links in the statuses). */
  publicUrl: string;
  pollMs?: number;
  /** Attempts per status before giving it up. */
  maxAttempts?: number;
  /** Back-off before attempt n+1 (n ≥ 1). */
  backoffMs?: (attempt: number) => number;
}

const CLAIM_MS = 30_000;
const BATCH = 50;

export class StatusReporter {
  private readonly loop = new PassLoop(
    () => this.pass(),
    (error) => this.logger.warn({ err: error }, "status reporting pass failed"),
  );
  publicUrl: string;

  constructor(
    private readonly store: StorePort,
    private readonly signals: BuildSignals,
    private readonly options: StatusReporterOptions,
    private readonly logger: Logger,
  ) {
    this.publicUrl = options.publicUrl;
  }

  start(): void {
    this.loop.start(this.options.pollMs ?? 1000, (wake) => this.signals.onQueued(wake));
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** Runs a pass now (or right after the one in progress). */
  wake(): void {
    this.loop.wake();
  }

  /** One pass over every due report; resolves when they are sent or rescheduled (tests await it). */
  async pass(): Promise<void> {
    for (;;) {
      const due = await this.store.builds.reportsDue(new Date().toISOString(), BATCH);
      await Promise.all(due.map((d) => this.report(d)));
      if (due.length < BATCH) return;
    }
  }

  private apiFor(providerType: string): { api: ProviderApi | undefined; send: (api: ProviderApi, r: StatusReport) => Promise<void> } {
    return providerType === "github"
      ? { api: this.options.github, send: reportToGithub }
      : { api: this.options.gitlab, send: reportToGitlab };
  }

  private async report(due: DueReport): Promise<void> {
    const { build } = due;
    const done = build.status === "stopped";
    const { api, send } = this.apiFor(build.metadata.provider_type);
    const state = providerState(build.status, build.build_outcome);
    const last = providerState(due.reported, due.reported === "stopped" ? build.build_outcome : null);
    // Nothing to tell (no token for this provider, or queued → initializing): remember and move on.
    if (!api || state === null || state === last) {
      await this.store.builds.recordReport(build.build_uuid, { state: build.status, attempts: 0, next_on: null, pending: !done });
      return;
    }
    const now = Date.now();
    if (!(await this.store.builds.claimReport(build.build_uuid, due.next_on, new Date(now + CLAIM_MS).toISOString()))) return;

    const worker = await this.store.workers.getByTag(build.account_id, build.worker_tag);
    const m = build.metadata;
    const report: StatusReport = {
      state,
      context: `Workers Builds: ${worker?.name ?? build.worker_tag}`,
      target_url: `${this.publicUrl}/accounts/${build.account_id}/workers/${build.worker_tag}/builds/${build.build_uuid}`,
      sha: m.commit_hash,
      branch: m.branch,
      repo: { owner: m.provider_account_name, name: m.repo_name, id: m.repo_id },
    };
    try {
      await send(api, report);
      await this.store.builds.recordReport(build.build_uuid, { state: build.status, attempts: 0, next_on: null, pending: !done });
    } catch (error) {
      if (!(error instanceof ReportFailed)) throw error;
      const attempts = due.attempts + 1;
      const maxAttempts = this.options.maxAttempts ?? 5;
      const log = { build: build.build_uuid, provider: m.provider_type, state, attempt: attempts, status: error.status, detail: error.message };
      if (attempts >= maxAttempts) {
        this.logger.warn(log, "gave up reporting a build status to the git provider");
        await this.store.builds.recordReport(build.build_uuid, { state: build.status, attempts: 0, next_on: null, pending: !done });
        return;
      }
      this.logger.warn(log, "could not report a build status to the git provider; will retry");
      const backoff = (this.options.backoffMs ?? ((n) => 1000 * 2 ** n))(attempts);
      await this.store.builds.recordReport(build.build_uuid, {
        state: due.reported,
        attempts,
        next_on: new Date(now + backoff).toISOString(),
        pending: true,
      });
    }
  }
}

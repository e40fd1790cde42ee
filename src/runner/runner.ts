/**
 * The runner: claims queued builds (per-account concurrency, fair, within its slots), runs
 * each through the pipeline, renews its leases, and obeys cancel signals. It talks to the
 * store and to BuildSignals, never to HTTP, so it runs embedded in `kiln serve` or as
 * `kiln runner` on other machines.
 *
 * Intended flow: start() → sweep builds whose runner is gone → loop { wait for a queued
 * signal or the poll tick → claim → run }. Cancellation: one AbortController per build is
 * the single source of truth; a signal (in-process, or the cancel_requested_on column seen
 * at a heartbeat) aborts it. Concurrency: claims happen in one write transaction at a time
 * per process; two processes race on the conditional `queued → initializing` update, which
 * only one wins. Errors: a failure inside a build ends that build (terminated) and is logged;
 * it never stops the loop.
 */
import fs from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { BuildSignals } from "../domain/build-events.ts";
import { reapExpiredLeases, startLeaseReaper, stopAbandoned } from "../domain/lease-reaper.ts";
import type { Build } from "../domain/build-types.ts";
import { nowIso } from "../domain/ids.ts";
import type { StorePort } from "../domain/ports.ts";
import { pickBuilds } from "../domain/scheduler.ts";
import type { Mirrors } from "../git/mirror.ts";
import type { GitCredential } from "../git/url.ts";
import { ensureDataDir } from "../data-dir.ts";
import { closeSpareNetwork, detectNetwork, sweepNetworks, warmBuildNetwork } from "./build-network.ts";
import type { BuildSandboxConfig } from "./build-sandbox.ts";
import { detectSandbox } from "./sandbox.ts";
import { runBuild, sandboxesReleased, type PipelineContext } from "./pipeline.ts";
import { processExists } from "./process-tree.ts";
import type { BuildToolsConfig } from "./toolchain.ts";

export interface RunnerOptions {
  slots: number;
  leaseTtlMs: number;
  buildTimeoutMs: number;
  cancelGraceMs: number;
  logCapBytes: number;
  /** A build whose work dir (workspace + HOME) grows past this is terminated (workspace-watchdog.ts). */
  workspaceLimitBytes: number;
  /** Uids, network, CPUs and root of the builds' sandbox (build-sandbox.ts); `fallbackUser` without bubblewrap. */
  sandbox: Omit<BuildSandboxConfig, "limits">;
  /** Kiln's data dir: hidden inside the sandbox; workspaces and git mirrors live under it. */
  dataDir: string;
  gitUrlTemplate: string | undefined;
  /** The server's token for a provider's private repositories, given to git through its environment. */
  gitCredentials?: (providerType: string) => GitCredential | undefined;
  /** Where builds get Node.js and package managers (toolchain.ts); absent: the build root's (host mode). */
  tools?: BuildToolsConfig;
  /** How often to look for queued builds without a signal (other processes queue too). */
  pollMs?: number;
}

interface Active {
  build: Build;
  controller: AbortController;
  done: Promise<void>;
}

export class Runner {
  readonly id = `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
  private readonly active = new Map<string, Active>();
  private timers: NodeJS.Timeout[] = [];
  private unsubscribe: (() => void)[] = [];
  private scheduling: Promise<void> | undefined;
  private again = false;
  private stopping = false;

  constructor(
    private readonly store: StorePort,
    private readonly signals: BuildSignals,
    private readonly options: RunnerOptions,
    private readonly mirrors: Mirrors,
    private readonly logger: Logger,
  ) {}

  get running(): number {
    return this.active.size;
  }

  async start(): Promise<void> {
    const swept = await this.sweep();
    const workspaces = await this.clearLeftoverWorkspaces();
    const sandbox = await detectSandbox();
    const network = await detectNetwork();
    const netns = await sweepNetworks();
    ensureDataDir(this.options.dataDir);
    if (sandbox.mode === "bubblewrap") {
      const net = this.options.sandbox.network === "isolated" && !network.isolated ? `none (isolated unavailable: ${network.detail})` : this.options.sandbox.network;
      const level = net === this.options.sandbox.network && net !== "host" ? "info" : "warn";
      this.logger[level]({ sandbox: sandbox.mode, detail: sandbox.detail, build_network: net, network_namespaces_removed: netns }, `builds run under bubblewrap; build network: ${net}`);
    } else {
      this.logger.warn({ sandbox: sandbox.mode, detail: sandbox.detail }, `WARNING: builds are NOT isolated: ${sandbox.detail}`);
    }
    // Only bubblewrap builds take a network of their own: the fallback would leave the spare unused.
    if (sandbox.mode === "bubblewrap") await warmBuildNetwork({ mode: this.options.sandbox.network, allow: this.options.sandbox.networkAllow });
    this.logger.info({ runner: this.id, slots: this.options.slots, swept, workspaces_removed: workspaces }, "runner started");
    this.unsubscribe.push(this.signals.onQueued(() => this.schedule()));
    this.unsubscribe.push(this.signals.onCancel((uuid) => this.active.get(uuid)?.controller.abort("cancelled")));
    this.timers.push(setInterval(() => this.schedule(), this.options.pollMs ?? 1000));
    this.timers.push(setInterval(() => void this.heartbeat(), Math.max(250, this.options.leaseTtlMs / 3)));
    for (const t of this.timers) t.unref();
    // Any node stops the builds of a runner that went silent (its lease ran out).
    this.unsubscribe.push(
      startLeaseReaper(
        this.store,
        this.signals,
        Math.max(250, this.options.leaseTtlMs / 6),
        (error) => this.logger.warn({ err: error }, "lease reaping failed"),
        (b) => this.logger.warn({ build: b.build_uuid, runner: b.runner_id }, "stopped a build whose lease ran out"),
      ),
    );
    this.schedule();
  }

  /**
   * What a previous process left under work/: workspaces it was removing (`<uuid>.removing`),
   * and those of builds it never finished (killed, or stopped by a second signal before the
   * removal ran). Run after sweep(), so a dead runner's builds are stopped by then; a workspace
   * whose build still runs (another live runner sharing this data dir) is kept.
   */
  private async clearLeftoverWorkspaces(): Promise<number> {
    const root = path.join(this.options.dataDir, "work");
    const entries = await fs.readdir(root).catch(() => [] as string[]);
    let removed = 0;
    for (const entry of entries) {
      if (!entry.endsWith(".removing")) {
        // Only what Kiln names (a build uuid) is Kiln's to remove.
        if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(entry)) continue;
        const build = await this.store.builds.getByUuid(entry);
        if (build && build.status !== "stopped") continue;
      }
      await fs.rm(path.join(root, entry), { recursive: true, force: true }).then(() => removed++, () => undefined);
    }
    return removed;
  }

  /**
   * Stops claiming; lets the builds in progress run for up to `drainMs` (leases renewed, cancels
   * obeyed meanwhile), then terminates the rest and waits until every outcome is stored.
   */
  async stop(drainMs = 0): Promise<void> {
    this.stopping = true;
    await this.scheduling;
    const running = () => Promise.allSettled([...this.active.values()].map((a) => a.done));
    if (drainMs > 0 && this.active.size > 0 && !this.cut) {
      this.logger.info({ builds: this.active.size, drain_ms: drainMs }, "draining: letting running builds finish");
      let timer: NodeJS.Timeout | undefined;
      const cut = new Promise<void>((resolve) => (this.cutDrain = resolve));
      await Promise.race([running(), cut, new Promise<void>((resolve) => (timer = setTimeout(resolve, drainMs)))]);
      clearTimeout(timer);
    }
    for (const a of this.active.values()) a.controller.abort("shutdown");
    await running();
    await sandboxesReleased();
    await closeSpareNetwork();
    for (const t of this.timers) clearInterval(t);
    for (const u of this.unsubscribe) u();
  }

  private cut = false;
  private cutDrain: (() => void) | undefined;

  /**
   * Ends a drain now (an operator's second signal): stop() terminates the builds still running
   * and stores their outcomes without waiting for the rest of --drain-timeout.
   */
  endDrain(): void {
    this.cut = true;
    this.cutDrain?.();
  }

  /** Coalesces wake-ups: one scheduling pass at a time, one more if woken meanwhile. */
  schedule(): void {
    if (this.stopping) return;
    if (this.scheduling) {
      this.again = true;
      return;
    }
    this.scheduling = this.claimAndRun()
      .catch((error: unknown) => this.logger.error({ err: error }, "scheduling failed"))
      .finally(() => {
        this.scheduling = undefined;
        if (this.again) {
          this.again = false;
          this.schedule();
        }
      });
  }

  private async claimAndRun(): Promise<void> {
    if (this.options.slots - this.active.size <= 0) return;
    // Least loaded first: every runner hears of a freed place (a queued signal goes out when a
    // build ends), and a busy one gives the idle ones a head start of 15 ms per running build.
    if (this.active.size > 0) await new Promise((resolve) => setTimeout(resolve, 15 * this.active.size));
    const free = this.options.slots - this.active.size;
    if (free <= 0 || this.stopping) return;
    const claimed = await this.store.transaction(async (repos) => {
      const locked = await repos.builds.lockQueued(500);
      if (locked.length === 0) return [];
      // Counting and claiming an account's builds happens under that account's lock, so two
      // runners never both take the last free place of an account's concurrency.
      const accounts = new Set(await repos.builds.lockAccounts([...new Set(locked.map((b) => b.account_id))]));
      const queued = locked.filter((b) => accounts.has(b.account_id));
      if (queued.length === 0) return [];
      const picked = pickBuilds(
        queued,
        await repos.builds.inProgressByAccount(),
        await repos.builds.concurrencyLimits([...new Set(queued.map((b) => b.account_id))]),
        free,
      );
      const now = nowIso();
      const lease = new Date(Date.now() + this.options.leaseTtlMs).toISOString();
      const won: Build[] = [];
      for (const b of picked) {
        if (await repos.builds.claim(b.build_uuid, this.id, lease, now)) {
          won.push({ ...b, status: "initializing", initializing_on: now, runner_id: this.id, lease_expires_on: lease });
        }
      }
      return won;
    });
    for (const build of claimed) this.launch(build);
  }

  private launch(build: Build): void {
    const controller = new AbortController();
    const context: PipelineContext = {
      store: this.store,
      signals: this.signals,
      runnerId: this.id,
      options: this.options,
      mirrors: this.mirrors,
      logger: this.logger.child({ build: build.build_uuid }),
    };
    const done = runBuild(context, build, controller.signal)
      .catch((error: unknown) => this.logger.error({ err: error, build: build.build_uuid }, "build pipeline failed"))
      .finally(() => {
        this.active.delete(build.build_uuid);
        this.signals.stopped(build.build_uuid);
        // The account's place is free again: wake every runner of the fleet, this one included.
        this.signals.queued(build.build_uuid);
      });
    this.active.set(build.build_uuid, { build, controller, done });
  }

  /**
   * Renews the leases of this runner's builds and picks up cancel requests recorded by
   * other processes. A runner that cannot renew kills its builds itself before the lease
   * runs out (self-fencing), so a build never runs without a live claim.
   */
  private async heartbeat(): Promise<void> {
    if (this.active.size === 0) return;
    const until = new Date(Date.now() + this.options.leaseTtlMs).toISOString();
    try {
      await this.store.transaction((repos) => repos.builds.renewLeases(this.id, until));
      this.lastRenewal = Date.now();
      for (const [uuid, a] of this.active) {
        const current = await this.store.builds.getByUuid(uuid);
        if (current?.cancel_requested_on) a.controller.abort("cancelled");
        else if (current && (current.status === "stopped" || current.runner_id !== this.id)) a.controller.abort("lost");
      }
    } catch (error) {
      this.logger.warn({ err: error }, "lease renewal failed");
      if (Date.now() - this.lastRenewal > (this.options.leaseTtlMs * 2) / 3) {
        for (const a of this.active.values()) a.controller.abort("lost");
      }
    }
  }

  private lastRenewal = Date.now();

  /**
   * Builds left in progress by a runner that is gone are stopped as `terminated`: their
   * lease ran out, or they belong to a dead process of this host (a restart after kill -9
   * need not wait for the lease).
   */
  async sweep(): Promise<number> {
    const reaped = await reapExpiredLeases(this.store, this.signals);
    for (const b of reaped) this.logger.warn({ build: b.build_uuid, runner: b.runner_id }, "stopped a build whose lease ran out");
    let count = reaped.length;
    for (const b of await this.store.builds.heldBy(await this.deadLocalRunners())) {
      if (await stopAbandoned(this.store, b)) {
        count++;
        this.signals.stopped(b.build_uuid);
        this.logger.warn({ build: b.build_uuid, runner: b.runner_id, host: hostname() }, "stopped a build whose runner process is gone");
      }
    }
    return count;
  }

  /** Runner ids in the store that belong to this host but to a process that no longer exists. */
  private async deadLocalRunners(): Promise<string[]> {
    const ids = new Set<string>();
    // Every build in progress (all leases end before the far future).
    const candidates = await this.store.builds.expired("9999-12-31T00:00:00.000Z");
    const host = hostname();
    for (const b of candidates) {
      const [h, pid] = (b.runner_id ?? "").split(":");
      if (h !== host || !pid || b.runner_id === this.id) continue;
      if (!processExists(Number(pid))) ids.add(b.runner_id ?? "");
    }
    return [...ids].filter(Boolean);
  }
}


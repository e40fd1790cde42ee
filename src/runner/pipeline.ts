/**
 * One build, start to finish, in the steps of Cloudflare's build log: initializing (workspace, HOME, build
 * token check, quota check, fetch of exactly the commit) → running (build command, deploy
 * command, each sandboxed) → stopped (outcome, final log line, workspace removed).
 *
 * The runner is the single writer of a claimed build's state; every write is fenced by
 * runner_id, so a build that someone else already stopped (lease lost) is left alone.
 */
import fs from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import { BUILD_TOKEN_GONE, type Build, type BuildOutcome } from "../domain/build-types.ts";
import { cancelledLine } from "../domain/cancel.ts";
import { nowIso } from "../domain/ids.ts";
import { MIN_MASKED_SECRET_LENGTH } from "../domain/env-vars.ts";
import { buildMinutesState } from "../domain/limits.ts";
import type { StorePort } from "../domain/ports.ts";
import { cloneUrl } from "../git/url.ts";
import { Mirrors } from "../git/mirror.ts";
import type { BuildSignals } from "../domain/build-events.ts";
import { BuildLog, LostClaimError } from "./build-log.ts";
import { storageFailureOf } from "../store/database.ts";
import { parseWranglerOutput, VersionLineScanner } from "./wrangler-output.ts";
import { cacheDirFor, cacheRoot, enforceLimits, restore, save } from "./build-cache.ts";
import {
  detectedToolsLine,
  detectProject,
  installCommand,
  installLine,
  managerVersionWarning,
  missingToolLine,
  nodeVersionWarning,
  probeTimeoutLine,
  TOOL_PROBE_TIMEOUT_MS,
  toolVersions,
  type ToolProbe,
} from "./tools.ts";
import type { RunnerOptions } from "./runner.ts";
import { openBuildSandbox, type BuildSandbox } from "./build-sandbox.ts";
import { viewPath } from "./sandbox.ts";
import { watchWorkspace, workspaceLimitLine, type WorkspaceWatchdog } from "./workspace-watchdog.ts";
import { readTenantFile, type TenantRead } from "./tenant-file.ts";
import { resolveBuildRef } from "./resolve-ref.ts";
import { untilAborted } from "../abort.ts";
import { INSIDE_TOOLS, prepareTools, ToolError, toolRequests, type PreparedTools, type ToolName } from "./toolchain.ts";

export interface PipelineContext {
  store: StorePort;
  signals: BuildSignals;
  runnerId: string;
  options: RunnerOptions;
  logger: Logger;
  mirrors: Mirrors;
}

/** Per-step process and memory limits (cgroups, where writable): Cloudflare's build machines have 8 GB. */
const STEP_LIMITS = { pids: 4096, memoryBytes: 8 * 1024 ** 3 };

/** A build's PATH unless its variables set one; the only PATH the host-side tool probe uses. */
const BUILD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The wrangler output file is at most this large (its entries are a few hundred bytes each). */
const MAX_WRANGLER_OUTPUT_BYTES = 4 * 1024 * 1024;

/** Why a build's AbortSignal fired. */
type AbortReason = "cancelled" | "shutdown" | "lost" | "timeout" | "workspace" | "storage";

class Stop extends Error {
  constructor(
    readonly outcome: BuildOutcome,
    readonly line: string | undefined,
  ) {
    super(outcome);
  }
}

export async function runBuild(ctx: PipelineContext, build: Build, signal: AbortSignal): Promise<void> {
  const { store, runnerId, options } = ctx;
  const uuid = build.build_uuid;
  const work = path.join(options.dataDir, "work", uuid);
  const workspace = path.join(work, "repo");
  const home = path.join(work, "home");
  // The build's /tmp and /var/tmp (bound over them in the sandbox): private, and measured with the workspace.
  const tmp = path.join(work, "tmp");
  // The timeout shares the cancel path: one controller, one reason.
  const controller = new AbortController();
  const forward = () => controller.abort(signal.reason);
  signal.addEventListener("abort", forward, { once: true });
  const timer = setTimeout(() => controller.abort("timeout"), options.buildTimeoutMs);
  const abortReason = () => controller.signal.reason as AbortReason | undefined;

  const secrets: string[] = [];
  // A log that cannot be stored (a full disk) stops the build: it is not run on unrecorded.
  const log = new BuildLog(store, uuid, runnerId, build.log_lines, options.logCapBytes, secrets, () => ctx.signals.logs(uuid), (error) => {
    if (error instanceof LostClaimError) return;
    ctx.logger.error({ err: error }, "could not store the build's log: stopping the build");
    controller.abort("storage");
  });
  let outcome: BuildOutcome = "success";
  let watchdog: WorkspaceWatchdog | undefined;
  const dirs = { repo: workspace, home, tmp };
  // The sandbox (uid, network namespace, NAT) is made while the repository is fetched.
  const opening = openBuildSandbox(dirs, { ...options.sandbox, limits: STEP_LIMITS });
  opening.catch(() => undefined);
  let sandbox: BuildSandbox | undefined;
  // The build's tools, held in use (not evicted from the tool cache) until it ends.
  let tools: PreparedTools | undefined;
  // Work a stopped build no longer waits for but that may still touch its directories (a cache
  // copy finishing its current file): the workspace is deleted after it.
  const lingering: Promise<unknown>[] = [];
  // Every wait of the build ends when the build is stopped (cancel, timeout, lost lease, shutdown).
  const until = <T>(work: Promise<T>): Promise<T> => {
    lingering.push(work.catch(() => undefined));
    return untilAborted(work, controller.signal);
  };
  try {
    log.line("Initializing build environment...");
    await fs.mkdir(workspace, { recursive: true });
    await fs.mkdir(home, { recursive: true });
    await fs.mkdir(tmp, { recursive: true });

    const tokenSecret = await until(store.buildTokens.secret(build.account_id, build.metadata.build_token_uuid));
    if (tokenSecret === undefined) throw new Stop("fail", BUILD_TOKEN_GONE);
    secrets.push(tokenSecret);

    const limits = await until(store.accounts.limits(build.account_id));
    if (limits?.build_minutes_limit != null) {
      const now = new Date();
      const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)).toISOString();
      const used = await until(store.builds.minutesUsed(build.account_id, monthStart, now.toISOString()));
      const state = buildMinutesState(limits.build_minutes_limit, used, now);
      if (state.has_reached_build_minutes_limit) {
        throw new Stop(
          "fail",
          `Failed: the account has used its ${limits.build_minutes_limit} build minutes for this month; builds can run again from ${state.build_minutes_refresh_on}`,
        );
      }
    }

    const vars = await until(store.envVars.list(build.preview_id ? "preview" : "trigger", build.preview_id ?? build.trigger_uuid));
    for (const v of vars) if (v.is_secret) secrets.push(v.value);
    log.updateSecrets(secrets);
    const unmasked = vars.filter((v) => v.is_secret && v.value.length < MIN_MASKED_SECRET_LENGTH).map((v) => v.key);
    if (unmasked.length) log.line(`Warning: secret variables shorter than ${MIN_MASKED_SECRET_LENGTH} characters are not masked in this log: ${unmasked.join(", ")}`);

    log.line("Cloning repository...");
    try {
      const url = cloneUrl(build.metadata, options.gitUrlTemplate);
      const credential = options.gitCredentials?.(build.metadata.provider_type);
      await until(resolveBuildRef(ctx, build, url, { signal: controller.signal, ...(credential ? { credential } : {}) }));
      await until(ctx.mirrors.checkout(url, build.metadata.commit_hash, workspace, { signal: controller.signal, ...(credential ? { credential } : {}) }));
    } catch (error) {
      if (controller.signal.aborted) throw error;
      throw new Stop("fail", `Failed: error occurred while cloning repository: ${(error as Error).message}`);
    }
    try {
      sandbox = await untilAborted(opening, controller.signal);
    } catch (error) {
      if (controller.signal.aborted) throw error;
      throw new Stop("terminated", `Build was terminated: the build sandbox could not be made: ${(error as Error).message}`);
    }
    log.line(sandbox.line);
    log.line("Success: Finished initializing build environment");
    checkAbort(controller.signal);
    const box = sandbox;

    const at = nowIso();
    if (!(await until(store.transaction((r) => r.builds.update(uuid, runnerId, { status: "running", running_on: at }, at))))) {
      throw new Stop("terminated", undefined);
    }

    const worker = await until(store.workers.getByTag(build.account_id, build.worker_tag));
    const env = buildEnv(build, worker?.name ?? "", tokenSecret, vars, box.view.home);
    const cwd = path.join(workspace, path.normalize(`/${build.metadata.root_directory || "/"}`));
    const steps: [string, string][] = [];
    // Tool detection, build cache restore and the install step (docs/build-image.md).
    let stepEnv = env;
    let stepTools: { root: string; dirs: string[] } | undefined;
    let cache: { dir: string; generation: number } | undefined;
    const ownerUid = box.owner?.uid;
    const project = await until(detectProject(cwd, env, { within: workspace, signal: controller.signal, ...(ownerUid !== undefined ? { ownerUid } : {}) }));
    // Tools from the registry (toolchain.ts): not in the process-group fallback without root, where
    // a build runs as Kiln's own user and could change the shared tool cache; the host's then.
    const toolCache = options.tools?.mode === "registry" && (box.mode === "bubblewrap" || box.owner) ? options.tools.cache : undefined;
    let registryVersions: Partial<Record<ToolName, string>> | undefined;
    if (options.tools?.mode === "registry" && !toolCache) log.line("Warning: this build uses the build machine's own Node.js and package managers: without bubblewrap and root, a build could change a shared tool cache");
    if (toolCache && options.tools) {
      const defaults = options.tools.defaults;
      try {
        tools = await until(prepareTools(toolCache, toolRequests(project, env, defaults), defaults, (text) => log.line(text), controller.signal));
      } catch (error) {
        if (controller.signal.aborted || !(error instanceof ToolError)) throw error;
        throw new Stop("fail", `Failed: error occurred while installing tools: ${error.message}`);
      }
      registryVersions = tools.versions;
      const view = box.mode === "bubblewrap" ? INSIDE_TOOLS : toolCache.dir;
      const bins = tools.dirs.map((dir) => path.join(view, dir, "bin")).join(":");
      env.PATH = `${bins}:${env.PATH ?? BUILD_PATH}`;
      stepTools = { root: toolCache.dir, dirs: tools.dirs };
    }
    if (project.hasPackageJson) {
      const pm = project.packageManager;
      // The probe runs on the host, as Kiln's user (root): with Kiln's PATH, never the trigger's, whose
      // PATH variable could name a file a build wrote (another build's workspace, a saved cache).
      const probe: ToolProbe = registryVersions
        ? { versions: { node: registryVersions.node ?? null, [pm]: registryVersions[pm] ?? null }, timedOut: [] }
        : await until(toolVersions(["node", pm], { PATH: BUILD_PATH }, TOOL_PROBE_TIMEOUT_MS, controller.signal));
      const versions = probe.versions;
      if (versions[pm] == null) throw new Stop("fail", probe.timedOut.includes(pm) ? probeTimeoutLine(pm, TOOL_PROBE_TIMEOUT_MS) : missingToolLine(project));
      log.line(detectedToolsLine(pm, versions));
      if (!registryVersions) {
        for (const warning of [nodeVersionWarning(project, versions.node ?? null), managerVersionWarning(project, versions[pm] ?? null)]) {
          if (warning) log.line(warning);
        }
      }
      if (build.metadata.build_caching_enabled) {
        // The same cache directory, as the host and as the build see it.
        const hostCache = cacheDirFor(pm, home);
        // The trigger's own variables win over the cache location.
        stepEnv = { ...cacheDirFor(pm, box.view.home).env, ...env };
        const generation = (await until(store.triggers.get(build.account_id, build.trigger_uuid)))?.cache_generation ?? 0;
        cache = { dir: hostCache.dir, generation };
        log.line("Restoring from dependencies cache");
        const owner = box.owner;
        const restored = await until(
          restore({ root: cacheRoot(options.dataDir), triggerUuid: build.trigger_uuid, generation, target: hostCache.dir, within: home, signal: controller.signal, ...(owner ? { owner } : {}) }),
        );
        if (restored === "hit") log.line("Success: Dependencies restored from build cache.");
        else if (restored === "discarded") log.line("The dependencies cache was incomplete or corrupt and has been discarded.");
      }
      const install = installCommand(project, stepEnv, versions[pm] ?? null);
      if (install) steps.push(["install", install]);
    }
    if (build.metadata.build_command.trim()) steps.push(["build", build.metadata.build_command]);
    if (build.metadata.deploy_command.trim()) steps.push(["deploy", build.metadata.deploy_command]);
    const outputFile = path.join(home, ".wrangler-output.ndjson");
    const versionLines = new VersionLineScanner();
    // The disk limit: measured while the steps run; over it, the same abort as a cancel.
    if (steps.length > 0) {
      watchdog = watchWorkspace({
        dir: work,
        limitBytes: options.workspaceLimitBytes,
        onExceeded: (used) => {
          ctx.logger.warn({ build: uuid, used_bytes: used, limit_bytes: options.workspaceLimitBytes }, "build exceeded the workspace limit");
          controller.abort("workspace");
        },
        onError: (error) => ctx.logger.warn({ build: uuid, err: error }, "could not measure the build's workspace"),
      });
    }
    for (const [kind, command] of steps) {
      log.line(kind === "install" ? installLine(command) : `Executing user ${kind} command: ${command}`);
      const deploying = kind === "deploy";
      const result = await box.run(command, {
        cwd,
        env: deploying ? { ...stepEnv, WRANGLER_OUTPUT_FILE_PATH: viewPath(box.mode, dirs, outputFile) } : stepEnv,
        ...(stepTools ? { tools: stepTools } : {}),
        signal: controller.signal,
        graceMs: options.cancelGraceMs,
        onOutput: (chunk: Buffer, stream: "stdout" | "stderr") => {
          if (deploying) versionLines.feed(chunk.toString("utf8"));
          return log.chunk(chunk, stream);
        },
      });
      if (result.reason !== "exit") break;
      if (result.limitHit) {
        throw new Stop("terminated", `Build was terminated: it hit the ${result.limitHit === "pids" ? "process" : "memory"} limit of the build environment`);
      }
      if (result.exitCode !== 0) {
        throw new Stop("fail", kind === "install" ? "Failed: error occurred while installing project dependencies" : `Failed: error occurred while running ${kind} command`);
      }
      if (kind !== "install") log.line(`Success: ${kind === "build" ? "Build" : "Deploy"} command completed`);
      if (deploying) {
        // Written by the build: read as tenant-file.ts reads (a FIFO, a symlink to /dev/zero or to
        // another build's file is refused, not followed).
        const read = await until(readTenantFile(home, path.relative(home, outputFile), { maxBytes: MAX_WRANGLER_OUTPUT_BYTES, signal: controller.signal, ...(ownerUid !== undefined ? { ownerUid } : {}) }));
        if (!read.ok && read.reason !== "absent" && read.reason !== "aborted") log.line(`Warning: the deploy's WRANGLER_OUTPUT_FILE_PATH was not read: ${refusalText(read)}`);
        const fromFile = parseWranglerOutput(read.ok ? read.data.toString("utf8") : "");
        const version = { ...versionLines.end(), ...fromFile };
        if (version.version_id || version.preview_url) {
          const at = nowIso();
          await until(store.transaction((r) => r.builds.update(uuid, runnerId, version, at)));
        }
      }
    }
    await watchdog?.stop();
    checkAbort(controller.signal);
    if (cache) {
      // Saved only after a successful build, before the workspace goes.
      const owner = box.owner;
      const saved = await until(
        save({ root: cacheRoot(options.dataDir), triggerUuid: build.trigger_uuid, generation: cache.generation, source: cache.dir, within: work, signal: controller.signal, ...(owner ? { owner } : {}) }),
      );
      if (saved.status === "saved") log.line("Success: Dependencies cache saved.");
      void enforceLimits(cacheRoot(options.dataDir)).catch(() => undefined);
    }
  } catch (error) {
    if (error instanceof Stop) {
      outcome = error.outcome;
      if (error.line) log.line(error.line);
    } else if (!controller.signal.aborted) {
      ctx.logger.error({ err: error }, "build failed inside the runner");
      outcome = "terminated";
      log.line(`Build was terminated: ${(error as Error).message}`);
    }
  } finally {
    await watchdog?.stop();
    if (tools) {
      await tools.release();
      // The size cap, once this build's versions may go too (versions other builds hold stay).
      void options.tools?.cache?.prune().catch(() => undefined);
    }
    clearTimeout(timer);
    signal.removeEventListener("abort", forward);
  }

  if (controller.signal.aborted) {
    const reason = abortReason();
    if (reason === "cancelled") {
      const current = await store.builds.getByUuid(uuid);
      outcome = "cancelled";
      log.line(cancelledLine(current?.cancel_requested_by ?? "a user"));
    } else if (reason === "timeout") {
      outcome = "terminated";
      log.line("Build was timed out");
    } else if (reason === "workspace") {
      outcome = "terminated";
      log.line(workspaceLimitLine(options.workspaceLimitBytes));
    } else if (reason === "shutdown") {
      outcome = "terminated";
      log.line("Build was terminated: the server shut down before the build finished");
    } else if (reason === "storage") {
      outcome = "terminated";
    } else {
      outcome = "terminated";
    }
  }

  try {
    await log.close();
  } catch (error) {
    ctx.logger.error({ err: error }, "could not store the build log");
  }
  // Said after the last line that was stored, once there is room for one line (tried with the outcome).
  let lastLine: (() => Promise<boolean>) | undefined;
  if (log.failed !== undefined && !(log.failed instanceof LostClaimError)) {
    outcome = "terminated";
    const line = storageLine(log.failed);
    lastLine = () => log.lastLine(line);
  }
  // The workspace is gone before the outcome is stored (a reader who sees `stopped` finds
  // nothing left): renamed away at once, deleted after, so the answer does not wait on rm.
  const trash = `${work}.removing`;
  const moved = await fs.rename(work, trash).then(() => true, () => false);
  await storeOutcome(ctx, uuid, outcome, lastLine);
  // Nothing of the build runs any more (every step's namespace is empty): its uid goes back and
  // its network namespace is removed in the background, so that whoever waits for the outcome
  // (a cancel) does not wait for it; Runner.stop waits for these.
  const cleanup = (sandbox ? Promise.resolve(sandbox) : opening.catch(() => undefined)).then((box) => box?.close());
  cleanups.add(cleanup);
  void cleanup.finally(() => cleanups.delete(cleanup));
  // Not awaited: whoever waits for this build's outcome need not wait for the disk; Runner.stop
  // does (a shutdown leaves no workspace), and Runner.start() clears what a crash left behind.
  // After whatever the build stopped waiting for (each bounded on its own, see untilAborted).
  const removal = Promise.allSettled(lingering)
    .then(() => fs.rm(moved ? trash : work, { recursive: true, force: true }))
    .catch(() => undefined);
  cleanups.add(removal);
  void removal.finally(() => cleanups.delete(removal));
}

/** Sandboxes of finished builds still being released, and their workspaces still being removed. */
const cleanups = new Set<Promise<void>>();

/** Resolves once every finished build's sandbox is released (uid, network namespace) and its workspace removed. */
export async function sandboxesReleased(): Promise<void> {
  await Promise.allSettled([...cleanups]);
}

/** Why a file of the build was not read, for its log (no host paths). */
function refusalText(read: Extract<TenantRead, { ok: false }>): string {
  switch (read.reason) {
    case "symlink":
      return "it is a symbolic link (only a regular file is read)";
    case "not-regular":
      return "it is not a regular file";
    case "too-large":
      return `it is larger than ${MAX_WRANGLER_OUTPUT_BYTES} bytes`;
    case "hard-link":
      return "it is a hard link to a file that is not the build's";
    case "timeout":
      return "reading it took too long";
    default:
      return "it could not be read";
  }
}

/** How long a runner keeps trying to store an outcome the database refuses for lack of space. */
const OUTCOME_RETRY_MS = 30_000;

/**
 * The outcome, stored; on a full disk tried again (with back-off) while space may come back.
 * Given up after OUTCOME_RETRY_MS: the build is then stopped by the lease reaper of any node
 * once writes succeed again, so it never stays `running` for good.
 */
async function storeOutcome(ctx: PipelineContext, uuid: string, outcome: BuildOutcome, lastLine?: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + OUTCOME_RETRY_MS;
  let said = lastLine === undefined;
  for (let delay = 100; ; delay = Math.min(delay * 2, 2000)) {
    try {
      // The line goes first when there is room, so a reader who sees `stopped` also sees why.
      if (!said) said = await (lastLine as () => Promise<boolean>)();
      await ctx.store.transaction((r) => r.builds.finish(uuid, ctx.runnerId, outcome, nowIso()));
      return;
    } catch (error) {
      if (!storageFailureOf(error) || Date.now() + delay > deadline) throw error;
      ctx.logger.warn({ err: error, outcome }, "could not store the build's outcome; trying again");
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/** The last line of a build whose log the database refused: names the cause (ENOSPC for a full disk). */
function storageLine(error: unknown): string {
  const failure = storageFailureOf(error);
  const cause = failure ? `${failure.noSpace ? "ENOSPC: no space left on the disk of Kiln's database; " : ""}${failure.code}: ${failure.message}` : (error as Error).message;
  return `Build was terminated: its log could not be stored (${cause})`;
}

function checkAbort(signal: AbortSignal): void {
  if (signal.aborted) throw new Error(String(signal.reason));
}

/** Only the injected variables and the trigger's own; never the runner's environment (its secrets are not the build's). */
function buildEnv(build: Build, workerName: string, tokenSecret: string, vars: { key: string; value: string }[], home: string): Record<string, string> {
  const env: Record<string, string> = {
    PATH: BUILD_PATH,
    HOME: home,
    LANG: "C.UTF-8",
    CI: "true",
    WORKERS_CI: "1",
    WORKERS_CI_BUILD_UUID: build.build_uuid,
    WORKERS_CI_COMMIT_SHA: build.metadata.commit_hash,
    WORKERS_CI_BRANCH: build.metadata.branch,
    CLOUDFLARE_ACCOUNT_ID: build.account_id,
    CLOUDFLARE_API_TOKEN: tokenSecret,
    WRANGLER_CI_OVERRIDE_NAME: workerName,
    WRANGLER_CI_MATCH_TAG: build.worker_tag,
  };
  for (const v of vars) env[v.key] = v.value;
  return env;
}

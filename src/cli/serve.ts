/** `kiln serve`: the API server, and an embedded runner unless `--no-runner` (or `KILN_NO_RUNNER`) is given. */
import type { Server } from "node:http";
import path from "node:path";
import type { Command } from "commander";
import { loadConfig, serveOptions, type Config } from "../config.ts";
import { bootstrapIfEmpty, type Bootstrap } from "../domain/admin.ts";
import { createLogger } from "../logger.ts";
import { loadSecretKey } from "../secret-key.ts";
import { hasDatabase } from "../data-dir.ts";
import { addOptions } from "./store-options.ts";
import { startLeaseReaper } from "../domain/lease-reaper.ts";
import { prune } from "../domain/retention.ts";
import type { Store } from "../store/index.ts";
import type { Logger } from "pino";
import { handleShutdownSignals } from "./shutdown.ts";
import { ownApiOf } from "../outbound/address-guard.ts";

export function registerServe(program: Command): void {
  addOptions(program.command("serve").description("run the API server and an embedded runner"), serveOptions).action(async (opts: Record<string, unknown>, command: Command) => {
    // Commander gives `--no-runner` a default of true; only a flag actually given may beat KILN_NO_RUNNER.
    if (command.getOptionValueSource("runner") === "default") delete opts.runner;
    const config = loadConfig(opts as Partial<Record<keyof Config, unknown>>, process.env, serveOptions);
    await serve(config);
  });
}

export async function serve(config: Config): Promise<void> {
  // Loaded here, not at the top: admin commands share this entry point and start faster
  // without Fastify and the HTTP stack.
  const { createApp } = await import("../api/app.ts");
  const logger = createLogger(config.logLevel);
  const { openStore } = await import("../store/index.ts");
  // Said on stderr, so a server started in the wrong folder is noticed (its accounts are elsewhere).
  const fresh = !config.database && !hasDatabase(config.dataDir);
  const store = await openStore({ database: config.database, dataDir: config.dataDir, secretKey: loadSecretKey(config) });
  if (fresh) logger.info({ data_dir: path.resolve(config.dataDir) }, "created a new data directory");
  logger.info({ database: store.db.location }, "store ready");
  const boot = await bootstrapIfEmpty(store);
  const { composeKiln } = await import("./compose.ts");
  const kiln = composeKiln(config, store, logger);
  const { fastify, metrics } = await createApp(kiln.deps, { plugins: kiln.plugins });
  await limitConnections(fastify.server, config, logger, metrics.shed);
  await kiln.runner?.start();
  await fastify.listen({ host: config.host, port: config.port });
  const address = fastify.server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  const base = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;
  if (config.publicUrl === undefined) kiln.reporter.publicUrl = base;
  kiln.reporter.start();
  kiln.deliverer.ownApi = ownApiOf(config.publicUrl, config.host, port);
  kiln.deliverer.onAttempt = (result) => metrics.webhookAttempt(result);
  kiln.deliverer.start();
  const stopRetention = config.retentionDays === undefined ? undefined : startRetention(store, config.retentionDays, logger);
  // An API-only node still stops the builds of runners that went silent.
  const stopReaper = kiln.runner
    ? undefined
    : startLeaseReaper(
        store,
        kiln.signals,
        Math.max(250, (config.leaseTtl * 1000) / 6),
        (error) => logger.warn({ err: error }, "lease reaping failed"),
        (b) => logger.warn({ build: b.build_uuid, runner: b.runner_id }, "stopped a build whose lease ran out"),
      );
  logger.info({ url: `${base}/client/v4` }, "listening");
  if (boot) process.stdout.write(bootstrapBlock(boot, base));

  const runner = kiln.runner;
  handleShutdownSignals({
    logger,
    running: () => runner?.running ?? 0,
    drainSeconds: config.drainTimeout,
    // The API stays up through the drain: status, logs and cancels keep being answered.
    onFirst: () => {
      kiln.deps.health.draining = true;
      stopReaper?.();
      stopRetention?.();
    },
    endDrain: () => runner?.endDrain(),
    stop: async () => {
      await runner?.stop(config.drainTimeout * 1000);
      await kiln.reporter.stop();
      await kiln.deliverer.stop();
      await fastify.close();
      await kiln.close();
      await store.close();
    },
  });
}

/**
 * Raises the open-file limit (each connection is a descriptor) and caps connections below it.
 * Never fails the start: a limit that cannot be raised is logged and the cap follows it.
 */
async function limitConnections(server: Server, config: Config, logger: Logger, onShed: () => void): Promise<void> {
  const { raiseFileLimit } = await import("./fd-limit.ts");
  const { capConnections, defaultMaxConnections } = await import("../api/connection-cap.ts");
  const files = await raiseFileLimit();
  if (files.raisedFrom !== undefined) logger.info({ from: files.raisedFrom, to: files.limit?.soft }, "open-file limit raised to its hard limit");
  else if (files.failure) logger.warn({ soft: files.limit?.soft, hard: files.limit?.hard, reason: files.failure }, "open-file limit could not be raised");
  const max = config.maxConnections ?? defaultMaxConnections(files.limit?.soft);
  if (files.limit && max > files.limit.soft) {
    logger.warn({ max_connections: max, open_files: files.limit.soft }, "--max-connections is above the open-file limit: connections may exhaust it");
  }
  let shed = 0;
  let lastWarning = 0;
  capConnections(server, max, () => {
    onShed();
    shed++;
    // At most one line every 10 s: under attack this runs thousands of times a second.
    if (Date.now() - lastWarning >= 10_000) {
      lastWarning = Date.now();
      logger.warn({ max_connections: max, shed }, "connection cap reached: closed the connections waiting longest");
    }
  });
  logger.info({ max_connections: max, open_files: files.limit?.soft ?? "unknown", open_files_hard: files.limit?.hard ?? "unknown" }, "connection cap");
}

/** `--retention-days`: prunes at start and every hour (every node may; batches keep them out of each other's way). */
function startRetention(store: Store, days: number, logger: Logger): () => void {
  let running = false;
  const run = () => {
    if (running) return;
    running = true;
    const cutoff = new Date(Date.now() - days * 86_400_000).toISOString();
    prune(store, cutoff)
      .then((removed) => logger.info({ cutoff, ...removed }, "retention: pruned"))
      .catch((error: unknown) => logger.warn({ err: error }, "retention: prune failed"))
      .finally(() => (running = false));
  };
  run();
  const timer = setInterval(run, 3_600_000);
  timer.unref();
  return () => clearInterval(timer);
}

export function bootstrapBlock(boot: Bootstrap, base: string): string {
  return [
    "",
    "Kiln created a default account and an API token (Workers CI Write).",
    "They are shown this once; keep the token somewhere safe.",
    "",
    `account_id=${boot.account.id}`,
    `token=${boot.value}`,
    "",
    "Try it:",
    `  curl -s ${base}/client/v4/user/tokens/verify -H "Authorization: Bearer ${boot.value}"`,
    "",
    "",
  ].join("\n");
}

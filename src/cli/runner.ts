/**
 * `kiln runner`: a runner node without HTTP. It shares the database with the API nodes
 * (`kiln serve --no-runner`), claims queued builds, runs them, and on SIGTERM drains: it stops
 * claiming, lets running builds finish for up to --drain-timeout, then terminates the rest.
 */
import type { Command } from "commander";
import { loadConfig, runnerCommandOptions, type Config } from "../config.ts";
import { createLogger } from "../logger.ts";
import { loadSecretKey } from "../secret-key.ts";
import { addOptions } from "./store-options.ts";
import { handleShutdownSignals } from "./shutdown.ts";

export function registerRunner(program: Command): void {
  addOptions(program.command("runner").description("run builds only (no API): claims queued builds from the shared database"), runnerCommandOptions).action(
    async (opts: Record<string, unknown>) => {
      const config = loadConfig(opts as Partial<Record<keyof Config, unknown>>, process.env, runnerCommandOptions);
      await runRunner(config);
    },
  );
}

async function runRunner(config: Config): Promise<void> {
  const logger = createLogger(config.logLevel);
  const { openStore } = await import("../store/index.ts");
  const store = await openStore({ database: config.database, dataDir: config.dataDir, secretKey: loadSecretKey(config) });
  const { composeKiln } = await import("./compose.ts");
  const kiln = composeKiln({ ...config, runner: true }, store, logger);
  const runner = kiln.runner;
  if (!runner) throw new Error("no runner composed");
  await runner.start();
  logger.info({ runner: runner.id, slots: config.slots, database: store.db.location }, "runner ready");

  handleShutdownSignals({
    logger,
    running: () => runner.running,
    drainSeconds: config.drainTimeout,
    endDrain: () => runner.endDrain(),
    stop: async () => {
      await runner.stop(config.drainTimeout * 1000);
      await kiln.close();
      await store.close();
    },
  });
}

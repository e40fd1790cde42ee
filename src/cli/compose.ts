/**
 * The composition root: builds the API's dependencies and the embedded runner from one
 * configuration and store. `kiln serve` and the end-to-end tests both use it, so what is
 * tested is what runs.
 */
import type { Logger } from "pino";
import type { AppDeps } from "../api/deps.ts";
import type { Config } from "../config.ts";
import { localSignals, type BuildSignals } from "../domain/build-events.ts";
import { buildServices } from "../domain/build-services.ts";
import { Mirrors, mirrorsDir } from "../git/mirror.ts";
import { gitCommitResolver } from "../git/resolver.ts";
import { Runner } from "../runner/runner.ts";
import type { Store } from "../store/index.ts";

export interface Kiln {
  deps: AppDeps;
  signals: BuildSignals;
  runner: Runner | undefined;
}

export function composeKiln(config: Config, store: Store, logger: Logger): Kiln {
  const signals = localSignals();
  const mirrors = new Mirrors({ dir: mirrorsDir(config.dataDir) });
  const deps: AppDeps = {
    store,
    logger,
    config,
    builds: buildServices(store, signals, { cancelGraceSeconds: config.cancelGrace, leaseTtlSeconds: config.leaseTtl }),
    commits: gitCommitResolver({
      mirrors,
      template: config.gitUrlTemplate,
      onError: (error, connection) => logger.warn({ err: error, repo: connection.repo_name }, "could not resolve a ref"),
    }),
  };
  const runner = config.runner
    ? new Runner(
        store,
        signals,
        {
          slots: config.slots,
          leaseTtlMs: config.leaseTtl * 1000,
          buildTimeoutMs: config.buildTimeout * 1000,
          cancelGraceMs: config.cancelGrace * 1000,
          logCapBytes: config.logCap,
          buildUser: config.buildUser,
          dataDir: config.dataDir,
          gitUrlTemplate: config.gitUrlTemplate,
        },
        mirrors,
        logger.child({ component: "runner" }),
      )
    : undefined;
  return { deps, signals, runner };
}


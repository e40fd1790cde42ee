import type { Logger } from "pino";
import type { Config } from "../config.ts";
import type { Store } from "../store/index.ts";
import type { BuildServices } from "../domain/build-services.ts";
import type { CommitResolver } from "../domain/builds.ts";
import type { ServiceHealth } from "../domain/health.ts";

/** What the HTTP layer is given; passed down explicitly, never imported as a global. */
export interface AppDeps {
  store: Store;
  logger: Logger;
  config: Config;
  /** Signals to runners, cancel timing, and what deleting a trigger does to its builds. */
  builds: BuildServices;
  /** Resolves branches and commits through git (mirrors under the data dir). */
  commits: CommitResolver;
  /** Draining and storage failures, as /healthz reports them. */
  health: ServiceHealth;
}

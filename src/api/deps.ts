import type { Logger } from "pino";
import type { Config } from "../config.ts";
import type { Store } from "../store/index.ts";
import type { TriggerLifecycleHooks } from "../domain/triggers.ts";

/** What the HTTP layer is given; passed down explicitly, never imported as a global. */
export interface AppDeps {
  store: Store;
  logger: Logger;
  config: Config;
  /** What deleting a trigger or a Worker configuration does to its builds. */
  buildHooks: TriggerLifecycleHooks;
}

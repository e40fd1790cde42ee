import type { Kysely } from "kysely";
import * as m0001 from "./0001_foundation.ts";
import * as m0002 from "./0002_configuration.ts";
import * as m0003 from "./0003_builds.ts";
import * as m0004 from "./0004_build_branch.ts";
import * as m0005 from "./0005_webhooks.ts";
import * as m0006 from "./0006_retention.ts";
import * as m0007 from "./0007_credential_generation.ts";
import * as m0008 from "./0008_builds_worker_order.ts";
import * as m0009 from "./0009_build_events.ts";
import * as m0010 from "./0010_queue_consumers.ts";
import * as m0011 from "./0011_event_deliveries.ts";

export interface Migration {
  name: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are untyped by design
  up(db: Kysely<any>, dialect: "sqlite" | "postgres"): Promise<void>;
}

/** Every migration, in order. Names never change once released. */
export const migrations: Migration[] = [
  { name: "0001_foundation", ...m0001 },
  { name: "0002_configuration", ...m0002 },
  { name: "0003_builds", ...m0003 },
  { name: "0004_build_branch", ...m0004 },
  { name: "0005_webhooks", ...m0005 },
  { name: "0006_retention", ...m0006 },
  { name: "0007_credential_generation", ...m0007 },
  { name: "0008_builds_worker_order", ...m0008 },
  { name: "0009_build_events", ...m0009 },
  { name: "0010_queue_consumers", ...m0010 },
  { name: "0011_event_deliveries", ...m0011 },
];

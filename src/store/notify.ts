/**
 * BuildSignals across a fleet on PostgreSQL: every signal is raised in this process at once and
 * sent to every other node with NOTIFY; one dedicated connection per process LISTENs and raises
 * what other nodes sent. A lost connection is re-opened with back-off; meanwhile signals are
 * lost, which only delays the work they announce: every waiter also polls the database
 * (docs/scaling.md).
 */
import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import pg from "pg";
import type { Logger } from "pino";
import { localSignals, type BuildSignals, type SignalKind } from "../domain/build-events.ts";
import type { Db } from "./database.ts";
import { EVENTS_CHANNEL } from "./build-events.ts";

const CHANNEL: Record<SignalKind, string> = { queued: "kiln_queued", cancel: "kiln_cancel", logs: "kiln_logs", stopped: "kiln_stopped", events: EVENTS_CHANNEL };
const KIND_OF = new Map(Object.entries(CHANNEL).map(([kind, channel]) => [channel, kind as SignalKind]));

export interface FleetSignals extends BuildSignals {
  /** Raises a signal in this process only (build events: the database already NOTIFYed the fleet). */
  deliverLocal(kind: SignalKind, id: string): void;
  /** Resolves once the LISTEN connection is up (tests; a node works before that, by polling). */
  ready(): Promise<void>;
  close(): Promise<void>;
}

export function pgSignals(url: string, db: Db, logger: Logger): FleetSignals {
  const local = localSignals();
  // Our own notifications come back to us: the origin tag lets us skip them.
  const origin = randomBytes(6).toString("hex");
  let client: pg.Client | undefined;
  let closed = false;
  let retryMs = 250;
  let readyResolve: () => void = () => undefined;
  const readyPromise = new Promise<void>((resolve) => (readyResolve = resolve));

  const send = (kind: SignalKind, uuid: string) => {
    local.deliver(kind, uuid);
    if (closed) return;
    sql`select pg_notify(${CHANNEL[kind]}, ${`${origin}:${uuid}`})`.execute(db.kysely).catch((error: unknown) => {
      logger.debug({ err: error, kind }, "notify failed (other nodes will find it by polling)");
    });
  };

  const connect = async (): Promise<void> => {
    if (closed) return;
    const c = new pg.Client({ connectionString: url, application_name: "kiln-listen" });
    c.on("notification", (n) => {
      const kind = KIND_OF.get(n.channel);
      const [from, uuid] = (n.payload ?? "").split(":");
      if (kind && uuid && from !== origin) local.deliver(kind, uuid);
    });
    const reconnect = (why: unknown) => {
      if (client !== c) return;
      client = undefined;
      c.removeAllListeners("error");
      c.on("error", () => undefined);
      void c.end().catch(() => undefined);
      if (closed) return;
      logger.warn({ err: why, retry_ms: retryMs }, "lost the notification connection; polling meanwhile");
      setTimeout(() => void connect(), retryMs).unref();
      retryMs = Math.min(retryMs * 2, 10_000);
    };
    c.on("error", reconnect);
    c.on("end", () => reconnect(new Error("connection ended")));
    client = c;
    try {
      await c.connect();
      for (const channel of Object.values(CHANNEL)) await c.query(`LISTEN ${channel}`);
      retryMs = 250;
      readyResolve();
    } catch (error) {
      reconnect(error);
    }
  };
  void connect();

  return {
    ...local,
    queued: (uuid) => send("queued", uuid),
    cancel: (uuid) => send("cancel", uuid),
    logs: (uuid) => send("logs", uuid),
    stopped: (uuid) => send("stopped", uuid),
    events: (accountId) => send("events", accountId),
    deliverLocal: (kind, id) => local.deliver(kind, id),
    ready: () => readyPromise,
    async close() {
      closed = true;
      const c = client;
      client = undefined;
      if (c) {
        c.removeAllListeners("error");
        c.on("error", () => undefined);
        await c.end().catch(() => undefined);
      }
    },
  };
}

/**
 * `kiln queues create|list|pull|ack` and `kiln events subscribe|subscriptions|unsubscribe`:
 * Cloudflare's Queues and event subscriptions API over HTTP, against Kiln or Cloudflare itself.
 * `--json` prints the API's result as it is (pulled bodies stay base64, as the API sends them).
 */
import type { Command } from "commander";
import { BUILD_EVENT_TYPES, CLOUDFLARE_EVENTS, EVENT_PREFIX } from "../../domain/event-envelope.ts";
import { table, UsageError } from "../output.ts";
import { ClientError, type ApiClient } from "./api-client.ts";
import { clientCommand, out, session as connect, type Opts } from "./client-command.ts";
import { count } from "./commands.ts";

const HEX32 = /^[0-9a-f]{32}$/;

interface QueueView {
  queue_id: string;
  queue_name: string;
  created_on: string;
}

interface PulledView {
  message_backlog_count: number;
  messages: { id: string; lease_id: string; attempts: number; body: string; timestamp_ms: number }[];
}

interface SubscriptionView {
  id: string;
  name: string;
  enabled: boolean;
  source: { type: string; worker_name?: string };
  events: string[];
  destination: { type: string; queue_id?: string; url?: string };
  created_at: string;
}

/** A queue given by id or name → its id. */
async function queueId(api: ApiClient, account: string, queue: string): Promise<string> {
  if (HEX32.test(queue)) return queue;
  const queues = await api.request<QueueView[]>("GET", `/accounts/${account}/queues`);
  const found = queues.result.find((q) => q.queue_name === queue);
  if (!found) throw new ClientError(`no queue named ${JSON.stringify(queue)} in account ${account}`);
  return found.queue_id;
}

function whole(value: unknown, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(String(value)) || n < min || n > max) throw new UsageError(`invalid ${flag} ${JSON.stringify(String(value))}: a whole number from ${min} to ${max}`);
  return n;
}

/** `started,failed` or full type names → full type names. */
export function eventList(value: string | undefined): string[] {
  if (value === undefined) return [...CLOUDFLARE_EVENTS];
  const events = value
    .split(",")
    .map((e) => e.trim())
    .filter((e) => e !== "")
    .map((e) => (e.startsWith(EVENT_PREFIX) ? e : EVENT_PREFIX + e));
  const unknown = events.find((e) => !BUILD_EVENT_TYPES.includes(e));
  if (unknown !== undefined || events.length === 0) {
    throw new UsageError(`invalid --events ${JSON.stringify(value)}: a comma-separated list of ${BUILD_EVENT_TYPES.map((e) => e.slice(EVENT_PREFIX.length)).join(", ")}`);
  }
  return [...new Set(events)];
}

/** One line per pulled message: lease id, attempt, and what the event says. */
function messageLine(m: PulledView["messages"][number]): string {
  let what = "(not a build event)";
  try {
    const e = JSON.parse(Buffer.from(m.body, "base64").toString("utf8")) as { type?: string; source?: { workerName?: string }; payload?: { buildUuid?: string; buildOutcome?: string | null } };
    what = [e.type?.replace(EVENT_PREFIX, "") ?? "?", e.source?.workerName ?? "?", e.payload?.buildUuid ?? "?", e.payload?.buildOutcome ?? ""].join("  ").trim();
  } catch {
    // A message another producer sent: shown as is.
  }
  return `${m.lease_id}  attempt ${m.attempts}  ${what}`;
}

/** Returns the `events` command, for more subcommands (webhook deliveries). */
export function registerEventClient(program: Command): Command {
  const queues = program.command("queues").description("Cloudflare Queues (Kiln or Cloudflare): create, list, pull, ack");

  clientCommand(queues, "create", "create a queue")
    .argument("<name>")
    .action(async (name: string, opts: Opts) => {
      const { api, account, json } = connect(opts);
      const r = await api.request<QueueView>("POST", `/accounts/${account}/queues`, { queue_name: name });
      out(json, r.result, `queue ${r.result.queue_id} ${r.result.queue_name}`);
    });

  clientCommand(queues, "list", "the account's queues")
    .action(async (opts: Opts) => {
      const { api, account, json } = connect(opts);
      const r = await api.request<QueueView[]>("GET", `/accounts/${account}/queues`);
      out(json, r.result, r.result.length === 0 ? "no queues" : table(r.result.map((q) => ({ queue_id: q.queue_id, name: q.queue_name, created_on: q.created_on })), ["queue_id", "name", "created_on"]));
    });

  clientCommand(queues, "pull", "lease a batch of messages (acknowledge them with `kiln queues ack`)")
    .argument("<queue>", "the queue, by name or id")
    .option("--batch-size <n>", "at most this many messages (1–100, default 5)")
    .option("--visibility-timeout-ms <ms>", "how long the lease lasts (default 30000)")
    .action(async (queue: string, opts: Opts) => {
      const { api, account, json } = connect(opts);
      const batch = whole(opts.batchSize, "--batch-size", 1, 100);
      const visibility = whole(opts.visibilityTimeoutMs, "--visibility-timeout-ms", 1, 43_200_000);
      const id = await queueId(api, account, queue);
      const r = await api.request<PulledView>("POST", `/accounts/${account}/queues/${id}/messages/pull`, {
        ...(batch !== undefined ? { batch_size: batch } : {}),
        ...(visibility !== undefined ? { visibility_timeout_ms: visibility } : {}),
      });
      const lines = r.result.messages.map(messageLine);
      out(json, r.result, [...lines, `${count(r.result.messages.length, "message")} leased, ${r.result.message_backlog_count} in the queue`].join("\n"));
    });

  clientCommand(queues, "ack", "acknowledge messages by lease id, and/or mark some for retry")
    .argument("<queue>", "the queue, by name or id")
    .argument("[lease-ids...]", "lease ids to acknowledge")
    .option("--retry <lease-id...>", "lease ids to deliver again")
    .option("--delay-seconds <s>", "wait this long before delivering the retried ones again (0–43200)")
    .action(async (queue: string, leaseIds: string[], opts: Opts) => {
      const { api, account, json } = connect(opts);
      const retry = (opts.retry as string[] | undefined) ?? [];
      if (leaseIds.length === 0 && retry.length === 0) throw new UsageError("missing lease ids (to acknowledge, or after --retry)");
      const delay = whole(opts.delaySeconds, "--delay-seconds", 0, 43_200);
      const id = await queueId(api, account, queue);
      const r = await api.request<{ ackCount: number; retryCount: number; warnings: Record<string, string> }>("POST", `/accounts/${account}/queues/${id}/messages/ack`, {
        acks: leaseIds.map((lease_id) => ({ lease_id })),
        retries: retry.map((lease_id) => ({ lease_id, ...(delay !== undefined ? { delay_seconds: delay } : {}) })),
      });
      const warnings = Object.entries(r.result.warnings ?? {}).map(([lease, why]) => `warning: ${lease}: ${why}`);
      out(json, r.result, [`${r.result.ackCount} acknowledged, ${r.result.retryCount} to retry`, ...warnings].join("\n"));
    });

  const events = program.command("events").description("build events: subscriptions of a Worker's builds to a queue or a webhook");

  clientCommand(events, "subscribe", "subscribe a queue or a webhook URL to a Worker's build events")
    .requiredOption("--worker <name>", "the Worker, by name")
    .option("--queue <queue>", "deliver into this queue (name or id)")
    .option("--url <url>", "deliver to this webhook URL (Kiln extension)")
    .option("--events <list>", `comma-separated: ${BUILD_EVENT_TYPES.map((e) => e.slice(EVENT_PREFIX.length)).join(", ")} (default: Cloudflare's four; queued and skipped are Kiln's)`)
    .option("--name <name>", "the subscription's name (default: <worker> builds)")
    .option("--disabled", "create it disabled")
    .action(async (opts: Opts) => {
      const { api, account, json } = connect(opts);
      if ((opts.queue === undefined) === (opts.url === undefined)) throw new UsageError("give one of --queue or --url");
      const list = eventList(opts.events as string | undefined);
      const worker = String(opts.worker);
      const destination = opts.url !== undefined ? { type: "webhook", url: String(opts.url) } : { type: "queues.queue", queue_id: await queueId(api, account, String(opts.queue)) };
      const r = await api.request<SubscriptionView & { destination: { secret?: string } }>("POST", `/accounts/${account}/event_subscriptions/subscriptions`, {
        name: opts.name === undefined ? `${worker} builds` : String(opts.name),
        enabled: opts.disabled !== true,
        source: { type: "workersBuilds.worker", worker_name: worker },
        events: list,
        destination,
      });
      const to = "url" in destination ? `webhook ${destination.url}` : `queue ${destination.queue_id}`;
      const line = `subscription ${r.result.id}: ${worker} → ${to} (${r.result.events.map((e) => e.replace(EVENT_PREFIX, "")).join(", ")})`;
      // The webhook secret is answered this once: say so next to it.
      const secret = r.result.destination.secret;
      out(json, r.result, secret === undefined ? line : `${line}\nsigning secret (shown only now; verify deliveries with it): ${secret}`);
    });

  clientCommand(events, "subscriptions", "the account's event subscriptions")
    .action(async (opts: Opts) => {
      const { api, account, json } = connect(opts);
      const r = await api.request<SubscriptionView[]>("GET", `/accounts/${account}/event_subscriptions/subscriptions?per_page=200`);
      const rows = r.result.map((s) => ({
        id: s.id,
        name: s.name,
        worker: s.source.worker_name ?? s.source.type,
        destination: s.destination.type === "queues.queue" ? `queue ${s.destination.queue_id ?? ""}` : `${s.destination.type} ${s.destination.url ?? ""}`.trim(),
        events: s.events.map((e) => e.replace(EVENT_PREFIX, "")).join(","),
        enabled: s.enabled ? "yes" : "no",
      }));
      out(json, { result: r.result, result_info: r.result_info }, rows.length === 0 ? "no subscriptions" : table(rows, ["id", "name", "worker", "destination", "events", "enabled"]));
    });

  clientCommand(events, "unsubscribe", "delete an event subscription")
    .argument("<subscription-id>")
    .action(async (id: string, opts: Opts) => {
      const { api, account, json } = connect(opts);
      if (!HEX32.test(id)) throw new UsageError(`invalid subscription id ${JSON.stringify(id)}: 32 hex characters are expected`);
      const r = await api.request<SubscriptionView>("DELETE", `/accounts/${account}/event_subscriptions/subscriptions/${id}`);
      out(json, r.result, `subscription ${r.result.id} deleted`);
    });

  return events;
}

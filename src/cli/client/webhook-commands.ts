/**
 * `kiln events deliveries --subscription ID [--delivery ID]` and `kiln events redeliver`: the
 * delivery log of a webhook subscription (a Kiln extension) and sending one delivery again.
 */
import type { Command } from "commander";
import { EVENT_PREFIX } from "../../domain/event-envelope.ts";
import { table, UsageError } from "../output.ts";
import { clientCommand, out, session as connect, type Opts } from "./client-command.ts";

const HEX32 = /^[0-9a-f]{32}$/;

interface DeliveryView {
  id: string;
  event_type: string;
  build_uuid: string;
  state: string;
  attempts: number;
  created_on: string;
  next_attempt_on: string | null;
  last_status: number | null;
  last_error: string | null;
  attempt_log?: { attempt: number; started_on: string; duration_ms: number; status: number | null; error: string | null; node: string }[];
}

function id(value: unknown, what: string): string {
  const text = String(value);
  if (!HEX32.test(text)) throw new UsageError(`invalid ${what} ${JSON.stringify(text)}: 32 hex characters are expected`);
  return text;
}

const result = (d: DeliveryView) => (d.state === "delivered" ? `delivered (${d.last_status})` : d.state === "failed" ? `gave up: ${d.last_error ?? ""}` : `pending${d.last_error ? `: ${d.last_error}` : ""}`);

export function registerWebhookClient(events: Command): void {
  clientCommand(events, "deliveries", "a webhook subscription's deliveries, newest event first (with --delivery: one, attempt by attempt)")
    .requiredOption("--subscription <id>", "the subscription")
    .option("--delivery <id>", "show this delivery's attempts")
    .option("--page <n>", "page of 50 (default 1)")
    .action(async (opts: Opts) => {
      const { api, account, json } = connect(opts);
      const base = `/accounts/${account}/event_subscriptions/subscriptions/${id(opts.subscription, "--subscription")}/deliveries`;
      if (opts.delivery !== undefined) {
        const r = await api.request<DeliveryView>("GET", `${base}/${id(opts.delivery, "--delivery")}`);
        const d = r.result;
        const rows = (d.attempt_log ?? []).map((a) => ({ attempt: String(a.attempt), started_on: a.started_on, ms: String(a.duration_ms), status: a.status === null ? "-" : String(a.status), error: a.error ?? "", node: a.node }));
        const head = `${d.id}  ${d.event_type.replace(EVENT_PREFIX, "")}  build ${d.build_uuid}  ${result(d)}${d.next_attempt_on ? `, next attempt ${d.next_attempt_on}` : ""}`;
        out(json, d, rows.length === 0 ? `${head}\nno attempt yet` : `${head}\n${table(rows, ["attempt", "started_on", "ms", "status", "error", "node"])}`);
        return;
      }
      const page = opts.page === undefined ? 1 : Number(opts.page);
      if (!Number.isInteger(page) || page < 1) throw new UsageError(`invalid --page ${JSON.stringify(String(opts.page))}: a whole number from 1`);
      const r = await api.request<DeliveryView[]>("GET", `${base}?page=${page}&per_page=50`);
      const rows = r.result.map((d) => ({ id: d.id, event: d.event_type.replace(EVENT_PREFIX, ""), build: d.build_uuid, attempts: String(d.attempts), result: result(d), created_on: d.created_on }));
      const total = r.result_info?.total_count ?? rows.length;
      out(json, { result: r.result, result_info: r.result_info }, rows.length === 0 ? "no deliveries" : `${table(rows, ["id", "event", "build", "attempts", "result", "created_on"])}\n${total} ${total === 1 ? "delivery" : "deliveries"}`);
    });

  clientCommand(events, "redeliver", "send a webhook delivery again now (same webhook-id, fresh retries)")
    .requiredOption("--subscription <id>", "the subscription")
    .argument("<delivery-id>")
    .action(async (delivery: string, opts: Opts) => {
      const { api, account, json } = connect(opts);
      const r = await api.request<DeliveryView>("POST", `/accounts/${account}/event_subscriptions/subscriptions/${id(opts.subscription, "--subscription")}/deliveries/${id(delivery, "delivery id")}/redeliver`);
      out(json, r.result, `delivery ${r.result.id} will be sent again now`);
    });
}

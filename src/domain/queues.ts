/**
 * Queues and their HTTP pull consumer, as Cloudflare Queues documents them
 * (https://developers.cloudflare.com/queues/configuration/pull-consumers/): a pull leases up to
 * `batch_size` messages for `visibility_timeout_ms`; an ack deletes a message (accepted even
 * after its lease ran out, as Cloudflare does), a retry makes it visible again after its delay;
 * a message not acknowledged comes back when its lease runs out. Once a message has been
 * delivered `max_retries` times it is not delivered again: it moves to the dead-letter queue,
 * or is deleted when there is none (https://developers.cloudflare.com/queues/configuration/dead-letter-queues/).
 */
import { randomBytes } from "node:crypto";
import { errors } from "../errors.ts";
import type { StorePort, Repositories } from "./ports.ts";
import type { LeasedMessage, Queue } from "./event-ports.ts";
import { newHexId, nowIso } from "./ids.ts";

export const PULL_LIMITS = { batch_size: 100, visibility_timeout_ms: 12 * 3600 * 1000, delay_seconds: 12 * 3600, max_retries: 100 } as const;
/** Cloudflare's defaults for a new queue and its HTTP pull consumer. */
export const QUEUE_DEFAULTS = { delivery_delay: 0, message_retention_period: 345_600, max_retries: 3, batch_size: 5, visibility_timeout_ms: 30_000, retry_delay: 0 } as const;

export async function createQueue(repos: Repositories, accountId: string, name: string): Promise<Queue> {
  const now = nowIso();
  const queue: Queue = { queue_id: newHexId(), account_id: accountId, queue_name: name, created_on: now, modified_on: now, ...QUEUE_DEFAULTS, dead_letter_queue: null };
  if (!(await repos.queues.insert(queue))) throw errors.queueNameTaken(name);
  return queue;
}

export async function requireQueue(repos: Pick<Repositories, "queues">, accountId: string, queueId: string): Promise<Queue> {
  const queue = await repos.queues.get(accountId, queueId);
  if (!queue) throw errors.queueNotFound();
  return queue;
}

export interface ConsumerSettings {
  dead_letter_queue?: string | undefined;
  settings?: { batch_size?: number | undefined; max_retries?: number | undefined; visibility_timeout_ms?: number | undefined; retry_delay?: number | undefined } | undefined;
}

/**
 * Sets the queue's HTTP pull consumer (Cloudflare's create and update consumer: Kiln's queues
 * always have one, so both set it). Settings not given keep their value; a dead-letter queue
 * must be another queue of the account ("" removes it).
 */
export async function configureConsumer(repos: Repositories, accountId: string, queueId: string, input: ConsumerSettings): Promise<Queue> {
  const queue = await requireQueue(repos, accountId, queueId);
  let dlq = queue.dead_letter_queue;
  if (input.dead_letter_queue !== undefined) {
    dlq = input.dead_letter_queue === "" ? null : input.dead_letter_queue;
    if (dlq === queue.queue_name) throw errors.invalidBody("dead_letter_queue", "must be another queue than this one");
    if (dlq !== null && !(await repos.queues.getByName(accountId, dlq))) throw errors.invalidBody("dead_letter_queue", `no queue named ${JSON.stringify(dlq)} in this account`);
  }
  const s = input.settings ?? {};
  const updated: Queue = {
    ...queue,
    dead_letter_queue: dlq,
    batch_size: s.batch_size ?? queue.batch_size,
    max_retries: s.max_retries ?? queue.max_retries,
    visibility_timeout_ms: s.visibility_timeout_ms ?? queue.visibility_timeout_ms,
    retry_delay: s.retry_delay ?? queue.retry_delay,
    modified_on: nowIso(),
  };
  await repos.queues.updateConsumer(updated);
  return updated;
}

export async function deleteQueue(repos: Repositories, accountId: string, queueId: string): Promise<void> {
  if (!(await repos.queues.remove(accountId, queueId))) throw errors.queueNotFound();
}

/** A lease id: the message id and the token of the pull that leased it. */
export const leaseIdOf = (m: Pick<LeasedMessage, "id" | "lease">): string => `${m.id}.${m.lease}`;

function parseLeaseId(leaseId: string): { id: string; lease: string } | undefined {
  const match = /^([0-9]{1,18})\.([0-9a-f]{32})$/.exec(leaseId);
  return match ? { id: match[1] as string, lease: match[2] as string } : undefined;
}

export interface Pulled {
  messages: LeasedMessage[];
  backlog: number;
}

/** `batchSize` and `visibilityMs` default to the consumer's settings. */
export async function pullMessages(store: StorePort, accountId: string, queueId: string, batchSize: number | undefined, visibilityMs: number | undefined): Promise<Pulled> {
  return store.transaction(async (repos) => {
    const queue = await requireQueue(repos, accountId, queueId);
    const dlq = queue.dead_letter_queue === null ? undefined : await repos.queues.getByName(accountId, queue.dead_letter_queue);
    const token = randomBytes(16).toString("hex");
    const messages = await repos.queues.pull(queue, batchSize ?? queue.batch_size, visibilityMs ?? queue.visibility_timeout_ms, Date.now(), token, dlq && dlq.queue_id !== queue.queue_id ? dlq.queue_id : null);
    return { messages, backlog: await repos.queues.backlog(queue.queue_id) };
  });
}

export interface AckResult {
  ackCount: number;
  retryCount: number;
  /** By lease id: why it was neither acknowledged nor retried. */
  warnings: Record<string, string>;
}

export async function ackMessages(
  store: StorePort,
  accountId: string,
  queueId: string,
  acks: string[],
  /** `delay_seconds` defaults to the consumer's retry_delay. */
  retries: { lease_id: string; delay_seconds?: number | undefined }[],
): Promise<AckResult> {
  return store.transaction(async (repos) => {
    const queue = await requireQueue(repos, accountId, queueId);
    const warnings: Record<string, string> = {};
    const parsedAcks = new Map<string, string>();
    for (const leaseId of acks) {
      const parsed = parseLeaseId(leaseId);
      if (parsed) parsedAcks.set(leaseId, parsed.id);
      else warnings[leaseId] = "malformed lease_id";
    }
    const acked = new Set(await repos.queues.ack(queue.queue_id, [...parsedAcks.values()]));
    let ackCount = 0;
    for (const [leaseId, id] of parsedAcks) {
      if (acked.has(id)) {
        ackCount++;
        acked.delete(id); // the same message twice counts once
      } else warnings[leaseId] ??= "no such message (already acknowledged, dead-lettered or expired)";
    }
    const now = Date.now();
    const wanted: { leaseId: string; id: string; lease: string; visibleMs: number }[] = [];
    for (const r of retries) {
      const parsed = parseLeaseId(r.lease_id);
      if (!parsed) warnings[r.lease_id] = "malformed lease_id";
      else if (!parsedAcks.has(r.lease_id)) wanted.push({ leaseId: r.lease_id, ...parsed, visibleMs: now + (r.delay_seconds ?? queue.retry_delay) * 1000 });
    }
    const retried = new Set(await repos.queues.retry(queue.queue_id, wanted));
    let retryCount = 0;
    for (const r of wanted) {
      if (retried.has(r.id)) {
        retryCount++;
        retried.delete(r.id);
      } else warnings[r.leaseId] ??= "lease is no longer current (it ran out, or the message was acknowledged or leased again)";
    }
    return { ackCount, retryCount, warnings };
  });
}

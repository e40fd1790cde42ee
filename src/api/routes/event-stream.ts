/**
 * Kiln extension: the account's build events, live, as Server-Sent Events.
 *
 *   GET …/accounts/{account_id}/builds/events/stream
 *
 * Every event of every Worker of the account, in the envelope subscriptions get
 * (domain/event-envelope.ts; `metadata.eventSubscriptionId` is "" since no subscription is
 * involved), Kiln's extensions (`build.queued`, `build.skipped`) included: one SSE message per
 * event, `id:` the event's id, `data:` the envelope as JSON. `?events=a,b` keeps only those types.
 *
 * Resumable: `Last-Event-ID: N` continues with the first event after N, and misses none (the
 * outbox answers ids in commit order, store/build-events.ts); `?after=N` does the same for clients
 * that cannot set headers, the header winning when both are given. Without either the stream
 * starts with the next event. It sleeps until the outbox signals a commit for the account
 * (LISTEN/NOTIFY in a fleet, so any API node serves it) and reads the store at least every
 * `pollMs` in case a signal was lost; a `: ping` comment goes out after `heartbeatMs` without a
 * write. Open streams are capped like log streams (stream-caps.ts).
 */
import { z } from "zod";
import { BUILD_EVENT_TYPES, envelopeOf } from "../../domain/event-envelope.ts";
import { errors } from "../../errors.ts";
import type { AppDeps } from "../deps.ts";
import type { FastifyReply, FastifyRequest } from "fastify";
import { defineRoute, ok, type HandlerResult } from "../route.ts";
import { accountParams } from "../schemas/common.ts";
import { openSse } from "../sse.ts";
import { reserveStream } from "../stream-caps.ts";

/** Tunables (tests shorten them). */
export const eventStreamOptions = { pollMs: 1000, heartbeatMs: 15_000, batch: 500 };

let active = 0;
/** Event streams open in this process (tests check that a disconnect frees its stream). */
export const activeEventStreams = (): number => active;

const ID = /^\d{1,15}$/;

const eventList = z
  .string()
  .transform((v, ctx) => {
    const names = v.split(",").map((s) => s.trim()).filter(Boolean);
    const unknown = names.find((n) => !BUILD_EVENT_TYPES.includes(n));
    if (unknown !== undefined || names.length === 0) ctx.addIssue({ code: "custom", message: `must be a comma-separated list of ${BUILD_EVENT_TYPES.join(", ")}` });
    return names;
  });

export const streamAccountEvents = defineRoute({
  method: "GET",
  path: "/accounts/:account_id/builds/events/stream",
  operationId: "streamAccountBuildEvents",
  summary:
    "Live build events of every Worker of the account as Server-Sent Events (text/event-stream, not the envelope): id = event id, data = the event envelope as JSON; resumable with Last-Event-ID (or ?after=id); ?events=type,… filters",
  tag: "Events",
  auth: "read",
  kilnStatus: "extension",
  contentType: "text/event-stream",
  params: accountParams,
  query: z.object({ after: z.string().regex(ID, "must be an event id").optional(), events: eventList.optional() }),
  // Never sent: the reply is hijacked and the answer is text/event-stream (see the summary).
  result: z.null(),
  async handler({ params, query, deps, request, reply, principal }) {
    // A read route always has a principal; the check keeps the types honest.
    if (!principal) throw errors.unauthenticated();
    const release = reserveStream(deps, principal, params.account_id, "events");
    try {
      return await stream(params.account_id, query, deps, request, reply);
    } finally {
      release();
    }
  },
});

async function stream(
  accountId: string,
  query: { after?: string | undefined; events?: string[] | undefined },
  deps: AppDeps,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<HandlerResult<null>> {
  const header = request.headers["last-event-id"];
  let after: number | undefined = query.after === undefined ? undefined : Number(query.after);
  if (header !== undefined) {
    const value = (Array.isArray(header) ? header[0] : header)?.trim();
    if (!value || !ID.test(value)) throw errors.invalidBody("Last-Event-ID", "must be an event id");
    after = Number(value);
  }
  const wanted = query.events === undefined ? undefined : new Set(query.events);
  const reader = deps.store.buildEvents;
  // Listening before the first read: an event committed in between wakes the loop.
  let early = false;
  let wakeStream: () => void = () => void (early = true);
  const unsubscribe = deps.builds.signals.onEvents(accountId, () => wakeStream());
  try {
    let next = after ?? (await reader.lastEventId(accountId));
    const sse = openSse(reply);
    wakeStream = () => sse.wake();
    if (early) sse.wake();
    active++;
    try {
      const idleMs = deps.config.idleTimeout * 1000;
      // A ping well within --idle-timeout, so a quiet account's stream is not cut as idle.
      const heartbeatMs = idleMs > 0 ? Math.min(eventStreamOptions.heartbeatMs, idleMs / 2) : eventStreamOptions.heartbeatMs;
      // Tells EventSource how soon to reconnect.
      await sse.send("retry: 1000\n\n");
      for (;;) {
        let more = true;
        while (more && !sse.closed) {
          const events = await reader.eventsAfter(accountId, next, eventStreamOptions.batch);
          more = events.length === eventStreamOptions.batch;
          let chunk = "";
          for (const event of events) {
            next = event.id;
            if (wanted && !wanted.has(event.type)) continue;
            chunk += `id: ${event.id}\ndata: ${JSON.stringify(envelopeOf(event, ""))}\n\n`;
          }
          if (chunk) await sse.send(chunk);
        }
        if (sse.closed) return ok(null);
        if (sse.idleMs() >= heartbeatMs) await sse.send(": ping\n\n");
        await sse.sleep(eventStreamOptions.pollMs);
        if (sse.closed) return ok(null);
      }
    } catch (error) {
      // Headers are gone: no envelope can follow. Log and cut the connection.
      if (!sse.closed) request.log.error({ err: error }, "event stream failed");
      return ok(null);
    } finally {
      active--;
      sse.dispose();
    }
  } finally {
    unsubscribe();
  }
}

export const eventStreamRoutes = [streamAccountEvents];

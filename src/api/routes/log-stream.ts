/**
 * Kiln extension: a build's log as Server-Sent Events (documented in docs/compatibility.md, "log stream").
 *
 *   GET …/builds/builds/{build_uuid}/logs/stream
 *
 * One `line` event per log line, `id:` its 0-based index, `data:` the JSON `[timestampMs, text]`.
 * Resumable: `Last-Event-ID: N` continues with line N+1; `?from=N` (for clients that cannot set
 * headers) starts at line N; the header wins when both are present (an EventSource reconnects
 * with the header to the same URL). Once the build is stopped and every line has been sent, a
 * final `end` event carries `{build_outcome, status: "stopped"}` and the stream closes.
 *
 * Auth, params and the 404 for an unknown or foreign build go through the usual route wrapper
 * and envelope; only then is the reply hijacked. While the build runs the stream sleeps until the
 * runner signals stored lines or the end (LISTEN/NOTIFY in a fleet, so any API node serves any
 * build), and reads the store at least every `pollMs` in case a signal was lost; a `: ping`
 * comment goes out after `heartbeatMs` without a write. Writes respect back-pressure. A client
 * that disconnects stops the loop at once (no timer or listener stays).
 *
 * Every open stream polls the store, so their number is capped per token (or global key) and per
 * account (--log-streams-per-token, --log-streams-per-account): past a cap the answer is 429
 * 10429 naming it, before the build is even read. The counts are this API node's own.
 */
import { z } from "zod";
import { requireBuild } from "../../domain/builds.ts";
import { errors } from "../../errors.ts";
import type { AppDeps } from "../deps.ts";
import type { FastifyReply, FastifyRequest } from "fastify";
import { defineRoute, ok, type HandlerResult } from "../route.ts";
import { accountParams, uuid } from "../schemas/common.ts";
import { openSse } from "../sse.ts";
import { reserveStream } from "../stream-caps.ts";

/** Tunables (tests shorten them). */
export const logStreamOptions = { pollMs: 1000, heartbeatMs: 15_000, batchLines: 1000 };

/** Times a stream waited for 'drain' (tests check that back-pressure is respected). */
export const logStreamStats = { drainWaits: 0 };

let active = 0;
/** Streams currently open in this process (tests check that a disconnect frees its stream). */
export const activeLogStreams = (): number => active;

const INDEX = /^\d{1,15}$/;

export const streamBuildLogs = defineRoute({
  method: "GET",
  path: "/accounts/:account_id/builds/builds/:build_uuid/logs/stream",
  operationId: "streamBuildLogs",
  summary:
    "Live log as Server-Sent Events (text/event-stream, not the envelope): `line` events with id = 0-based index and data = JSON [timestampMs, text], resumable with Last-Event-ID (or ?from=first index); a final `end` event with {build_outcome, status}",
  tag: "Builds",
  auth: "read",
  kilnStatus: "extension",
  contentType: "text/event-stream",
  params: accountParams.extend({ build_uuid: uuid }),
  query: z.object({ from: z.string().regex(INDEX, "must be a line index").optional() }),
  // Never sent: the reply is hijacked and the answer is text/event-stream (see the summary).
  result: z.null(),
  async handler({ params, query, deps, request, reply, principal }) {
    // A read route always has a principal; the check keeps the types honest.
    if (!principal) throw errors.unauthenticated();
    const release = reserveStream(deps, principal, params.account_id, "logs");
    try {
      return await stream(params, query, deps, request, reply);
    } finally {
      release();
    }
  },
});

async function stream(
  params: { account_id: string; build_uuid: string },
  query: { from?: string | undefined },
  deps: AppDeps,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<HandlerResult<null>> {
  const build = await requireBuild(deps.store, params.account_id, params.build_uuid);
  const header = request.headers["last-event-id"];
  let next = query.from === undefined ? 0 : Number(query.from);
  if (header !== undefined) {
    const value = Array.isArray(header) ? header[0] : header;
    if (!value || !INDEX.test(value.trim())) throw errors.invalidBody("Last-Event-ID", "must be a line index");
    next = Number(value.trim()) + 1;
  }

  // Listening before the first write: a signal while lines are read wakes the next sleep.
  let early = false;
  let wakeStream: () => void = () => void (early = true);
  const onSignal = () => wakeStream();
  const unsubscribe = [deps.builds.signals.onLogs(build.build_uuid, onSignal), deps.builds.signals.onStopped(build.build_uuid, onSignal)];
  const sse = openSse(reply, () => logStreamStats.drainWaits++);
  wakeStream = () => sse.wake();
  if (early) sse.wake();
  active++;
  try {
    // A ping well within --idle-timeout, so a quiet build's stream is not cut as idle.
    const idleMs = deps.config.idleTimeout * 1000;
    const heartbeatMs = idleMs > 0 ? Math.min(logStreamOptions.heartbeatMs, idleMs / 2) : logStreamOptions.heartbeatMs;
    let current = build;
    for (;;) {
      // Lines up to the count read with the status: when that row says stopped, its count is final.
      while (!sse.gone && next < current.log_lines) {
        const limit = Math.min(logStreamOptions.batchLines, current.log_lines - next);
        const lines = await deps.store.builds.readLogs(current.build_uuid, next, limit);
        if (lines.length === 0) break;
        let chunk = "";
        for (const line of lines) chunk += `id: ${next++}\nevent: line\ndata: ${JSON.stringify(line)}\n\n`;
        await sse.send(chunk);
      }
      if (sse.gone) return ok(null);
      if (current.status === "stopped" && next >= current.log_lines) {
        await sse.send(`event: end\ndata: ${JSON.stringify({ build_outcome: current.build_outcome, status: "stopped" })}\n\n`);
        sse.end();
        return ok(null);
      }
      if (sse.idleMs() >= heartbeatMs) await sse.send(": ping\n\n");
      // A signal that came while we were reading is not lost: the sleep returns at once.
      await sse.sleep(logStreamOptions.pollMs);
      if (sse.closed) return ok(null);
      const fresh = await deps.store.builds.get(params.account_id, params.build_uuid);
      // Deleted meanwhile (pruned): nothing more will come.
      if (!fresh) return ok(null);
      current = fresh;
    }
  } catch (error) {
    // Headers are gone: no envelope can follow. Log and cut the connection.
    if (!sse.gone) request.log.error({ err: error }, "log stream failed");
    return ok(null);
  } finally {
    active--;
    for (const off of unsubscribe) off();
    sse.dispose();
  }
}

export const logStreamRoutes = [streamBuildLogs];

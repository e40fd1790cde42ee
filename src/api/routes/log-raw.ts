/**
 * Kiln extension: a build's whole log as plain text, for download.
 *
 *   GET …/builds/builds/{build_uuid}/logs/raw
 *
 * `text/plain; charset=utf-8`, one line of the build's output per line (escape sequences kept as
 * the build printed them, no timestamps), served as an attachment named after the build. The
 * lines stored when the request arrives are sent; a running build's later lines are not waited
 * for (the SSE stream is for following). The log is read from the store in pages and written as
 * each page arrives, respecting back-pressure, so a log of any length costs one page of memory.
 *
 * Auth, params and the 404 for an unknown or foreign build go through the route wrapper and the
 * envelope; only then is the reply hijacked. A client that goes away stops the reading.
 */
import { z } from "zod";
import { requireBuild } from "../../domain/builds.ts";
import { defineRoute, ok } from "../route.ts";
import { accountParams, uuid } from "../schemas/common.ts";
import { drained } from "../sse.ts";

/** Lines read from the store per page (tests shorten it to exercise paging). */
export const rawLogOptions = { pageLines: 2000 };

/** Pages read and times a download waited for 'drain' (tests check it is streamed, not built in memory). */
export const rawLogStats = { pages: 0, drainWaits: 0 };

export const getRawBuildLog = defineRoute({
  method: "GET",
  path: "/accounts/:account_id/builds/builds/:build_uuid/logs/raw",
  operationId: "getRawBuildLog",
  summary:
    "The whole log as text/plain (not the envelope), one output line per line, as an attachment; the lines stored when asked, read and sent in pages",
  tag: "Builds",
  auth: "read",
  kilnStatus: "extension",
  contentType: "text/plain",
  params: accountParams.extend({ build_uuid: uuid }),
  // Never sent: the reply is hijacked and the answer is text/plain (see the summary).
  result: z.null(),
  async handler({ params, deps, request, reply }) {
    const build = await requireBuild(deps.store, params.account_id, params.build_uuid);
    const total = build.log_lines;
    reply.hijack();
    const raw = reply.raw;
    let closed = false;
    const onClose = () => {
      closed = true;
    };
    raw.on("close", onClose);
    try {
      const inherited = Object.entries(reply.getHeaders()).filter((e): e is [string, string | number | string[]] => e[1] !== undefined);
      raw.writeHead(200, {
        ...Object.fromEntries(inherited),
        "content-type": "text/plain; charset=utf-8",
        "content-disposition": `attachment; filename="build-${build.build_uuid}.log"`,
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
      });
      if (request.method === "HEAD") return ok(null);
      for (let next = 0; next < total && !closed; ) {
        const lines = await deps.store.builds.readLogs(build.build_uuid, next, Math.min(rawLogOptions.pageLines, total - next));
        if (lines.length === 0) break;
        next += lines.length;
        rawLogStats.pages++;
        let chunk = "";
        for (const [, text] of lines) chunk += `${text}\n`;
        if (!raw.write(chunk) && !closed && !raw.destroyed) {
          rawLogStats.drainWaits++;
          await drained(raw);
        }
      }
      return ok(null);
    } catch (error) {
      // Headers are gone: no envelope can follow. Log and cut the connection.
      if (!closed) request.log.error({ err: error }, "raw log download failed");
      raw.destroy();
      return ok(null);
    } finally {
      raw.off("close", onClose);
      if (!raw.destroyed && !raw.writableEnded) raw.end();
    }
  },
});

export const rawLogRoutes = [getRawBuildLog];

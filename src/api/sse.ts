/**
 * A Server-Sent Events answer on a hijacked Fastify reply: the headers (with those the app had
 * set, the request id among them), writes that respect back-pressure, a sleep that a signal or
 * the client's disconnect cuts short, and the teardown. What to send is the route's business.
 */
import { once } from "node:events";
import type { ServerResponse } from "node:http";
import type { FastifyReply } from "fastify";

export interface SseConnection {
  /** The client went away (or the server is shutting down): stop at once. */
  readonly closed: boolean;
  /** Milliseconds since the last write. */
  idleMs(): number;
  /** Writes `text`, waiting for 'drain' when the socket's buffer is full. */
  send(text: string): Promise<void>;
  /** Resolves after `ms`, or sooner on `wake()` or a disconnect; a wake while awake is kept for the next sleep. */
  sleep(ms: number): Promise<void>;
  wake(): void;
  /** Ends the answer normally. */
  end(): void;
  /** Releases listeners and cuts the connection unless it was ended. */
  dispose(): void;
}

export function openSse(reply: FastifyReply, onDrainWait: () => void = () => undefined): SseConnection {
  reply.hijack();
  const raw = reply.raw;
  const server = reply.server.server;
  // Only a listening server can be shut down underneath us; inject() never listens.
  const watchShutdown = server.listening;
  let closed = false;
  let woken = false;
  let wakeSleeper: (() => void) | undefined;
  const onClose = () => {
    closed = true;
    wakeSleeper?.();
  };
  raw.on("close", onClose);
  // The client may have gone before the hijack: its 'close' has been emitted already.
  if (raw.destroyed || !raw.socket || raw.socket.destroyed) closed = true;
  const inherited = Object.entries(reply.getHeaders()).filter((e): e is [string, string | number | string[]] => e[1] !== undefined);
  raw.writeHead(200, {
    ...Object.fromEntries(inherited),
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    connection: "keep-alive",
    "x-accel-buffering": "no",
  });
  raw.flushHeaders();
  let lastWrite = Date.now();
  return {
    get closed() {
      return closed || (watchShutdown && !server.listening);
    },
    idleMs: () => Date.now() - lastWrite,
    async send(text) {
      lastWrite = Date.now();
      // Checked synchronously before listening: a socket already closed never emits 'close' again.
      if (!raw.write(text) && !closed && !raw.destroyed) {
        onDrainWait();
        await drained(raw);
      }
    },
    sleep(ms) {
      if (woken || closed) {
        woken = false;
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        const timer = setTimeout(done, ms);
        function done() {
          clearTimeout(timer);
          wakeSleeper = undefined;
          woken = false;
          resolve();
        }
        wakeSleeper = done;
      });
    },
    wake() {
      woken = true;
      wakeSleeper?.();
    },
    end: () => raw.end(),
    dispose() {
      raw.off("close", onClose);
      wakeSleeper = undefined;
      if (!raw.writableEnded) raw.destroy();
    },
  };
}

/** Resolves once the socket drained or closed (a closed socket never drains). */
async function drained(raw: ServerResponse): Promise<void> {
  const ac = new AbortController();
  try {
    await Promise.race([once(raw, "drain", { signal: ac.signal }), once(raw, "close", { signal: ac.signal })]);
  } finally {
    ac.abort();
  }
}

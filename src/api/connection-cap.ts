/**
 * A cap on open HTTP connections, so that file descriptors never run out (past the limit
 * `accept` fails and nobody at all is answered).
 *
 * Node's own server.maxConnections closes the newest connection at the cap, which lets whoever
 * holds the connections first (slowloris: partial headers, a body one byte at a time) keep
 * everybody else out until the timeouts free them. Here the newcomer displaces instead the
 * connection that has waited longest without a complete request: an idle keep-alive connection
 * or one still sending its headers or body. Connections being answered (the request arrived,
 * the response is not finished: a handler at work, a live log stream) are never displaced;
 * when every connection is being answered the newcomer is closed.
 */
import type { IncomingMessage, Server } from "node:http";
import type { Socket } from "node:net";

/** Without a known open-file limit (not Linux). */
const FALLBACK_MAX_CONNECTIONS = 4096;

/** A quarter of the descriptors stays for the store, logs, git and the builds' pipes. */
export function defaultMaxConnections(fileLimit: number | undefined): number {
  return fileLimit === undefined ? FALLBACK_MAX_CONNECTIONS : Math.max(16, Math.floor(fileLimit * 0.75));
}

interface Tracked {
  /** The request in flight on the connection, until its response has finished. */
  request: IncomingMessage | undefined;
}

export interface ConnectionCap {
  /** Connections open now. */
  open(): number;
  /** Stops tracking (the server keeps running uncapped). */
  stop(): void;
}

export function capConnections(server: Server, max: number, onShed: () => void = () => undefined): ConnectionCap {
  // Insertion order is kept up to date (a connection is moved to the end whenever its state
  // changes), so the first connection not being answered is the one waiting longest.
  const open = new Map<Socket, Tracked>();
  const moveToEnd = (socket: Socket, tracked: Tracked) => {
    open.delete(socket);
    open.set(socket, tracked);
  };
  const shedOne = () => {
    for (const [socket, tracked] of open) {
      if (tracked.request?.complete) continue;
      open.delete(socket);
      socket.destroy();
      onShed();
      return;
    }
  };
  const onConnection = (socket: Socket) => {
    open.set(socket, { request: undefined });
    socket.once("close", () => open.delete(socket));
    // The newcomer is last in the map, so it is the one shed when every other one is busy.
    if (open.size > max) shedOne();
  };
  const onRequest = (request: IncomingMessage, response: { once(event: string, f: () => void): unknown }) => {
    const socket = request.socket;
    const tracked = open.get(socket);
    if (!tracked) return;
    tracked.request = request;
    moveToEnd(socket, tracked);
    const done = () => {
      if (tracked.request !== request) return;
      tracked.request = undefined;
      if (open.has(socket)) moveToEnd(socket, tracked);
    };
    // Node emits 'close' on every response, after 'finish' or when the connection drops: one
    // listener, not two (this runs on every request).
    response.once("close", done);
  };
  server.on("connection", onConnection);
  server.on("request", onRequest);
  return {
    open: () => open.size,
    stop() {
      server.off("connection", onConnection);
      server.off("request", onRequest);
      open.clear();
    },
  };
}

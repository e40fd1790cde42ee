/**
 * A cap on open HTTP connections, so that file descriptors never run out (past the limit
 * `accept` fails and nobody at all is answered).
 *
 * Node's own server.maxConnections closes the newest connection at the cap, which lets whoever
 * holds the connections first (slowloris: partial headers, a body one byte at a time) keep
 * everybody else out until the timeouts free them. Here the newcomer displaces instead the
 * connection not being answered whose last request began longest ago (or that never sent a whole
 * one): an idle keep-alive connection or one still sending its headers or body. Connections being answered (the request arrived,
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
  /** The last request on the connection, and its response (finished or not). */
  request: IncomingMessage | undefined;
  response: { writableFinished: boolean } | undefined;
}

/**
 * Being answered: the request arrived whole and its response has not finished. Worked out when
 * a connection must be shed (rare), not kept up to date on every request with listeners (3% of
 * a cached token verify's CPU).
 */
const answering = (t: Tracked): boolean => t.request?.complete === true && t.response?.writableFinished === false;

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
      if (answering(tracked)) continue;
      open.delete(socket);
      socket.destroy();
      onShed();
      return;
    }
  };
  const onConnection = (socket: Socket) => {
    open.set(socket, { request: undefined, response: undefined });
    socket.once("close", () => open.delete(socket));
    // The newcomer is last in the map, so it is the one shed when every other one is busy.
    if (open.size > max) shedOne();
  };
  // A connection moves to the end when a request starts on it: the first one not being answered
  // is then the one whose last request began longest ago (or that never sent one).
  const onRequest = (request: IncomingMessage, response: { writableFinished: boolean }) => {
    const socket = request.socket;
    const tracked = open.get(socket);
    if (!tracked) return;
    tracked.request = request;
    tracked.response = response;
    moveToEnd(socket, tracked);
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

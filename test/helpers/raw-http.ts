/**
 * HTTP over raw sockets, for tests and benchmarks that must control every byte and every moment:
 * partial headers, a body a byte at a time, headers without their body, thousands of sockets.
 */
import net from "node:net";

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each test asserts the shape it expects
  body: any;
  /** Milliseconds from connecting to the complete answer. */
  ms: number;
}

export const portOf = (base: string) => Number(new URL(base).port);

/** A socket written to as the test says; `answer` resolves with the first response on it. */
export interface Held {
  socket: net.Socket;
  openedAt: number;
  /** When the server closed it (undefined while open). */
  closedAt: number | undefined;
  received(): string;
  answer: Promise<RawAnswer | undefined>;
}

export function hold(port: number, first: string | Buffer): Promise<Held> {
  return new Promise((resolve, reject) => {
    const openedAt = Date.now();
    const socket = net.connect(port, "127.0.0.1");
    let all = "";
    let data = Buffer.alloc(0);
    let settle: (a: RawAnswer | undefined) => void = () => undefined;
    const answer = new Promise<RawAnswer | undefined>((r) => (settle = r));
    const held: Held = { socket, openedAt, closedAt: undefined, received: () => all, answer };
    const tryParse = () => {
      const end = data.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = data.subarray(0, end).toString("latin1").split("\r\n");
      const status = Number(head[0]?.split(" ")[1]);
      // 100 Continue is not the answer: it is skipped.
      if (status === 100) {
        data = data.subarray(end + 4);
        return tryParse();
      }
      const headers: Record<string, string> = {};
      for (const line of head.slice(1)) {
        const at = line.indexOf(":");
        headers[line.slice(0, at).toLowerCase()] = line.slice(at + 1).trim();
      }
      const length = Number(headers["content-length"] ?? Number.NaN);
      const body = data.subarray(end + 4);
      if (Number.isFinite(length) && body.length < length) return;
      const text = Number.isFinite(length) ? body.subarray(0, length).toString("utf8") : body.toString("utf8");
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* not JSON (event stream) */
      }
      settle({ status, headers, body: parsed, ms: Date.now() - openedAt });
    };
    socket.on("data", (chunk: Buffer) => {
      all += chunk.toString("utf8");
      data = Buffer.concat([data, chunk]);
      tryParse();
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      held.closedAt = Date.now();
      settle(undefined);
    });
    socket.once("connect", () => {
      socket.write(first);
      resolve(held);
    });
    socket.once("error", reject);
  });
}

/** Sends `request` on a new connection and resolves with the answer (or throws if closed unanswered). */
export async function send(port: number, request: string | Buffer): Promise<RawAnswer> {
  const h = await hold(port, request);
  const a = await h.answer;
  h.socket.destroy();
  if (!a) throw new Error(`closed without an answer; received ${JSON.stringify(h.received().slice(0, 200))}`);
  return a;
}

/** Opens `n` sockets in batches (so the listen backlog never overflows and drops SYNs). */
export async function holdMany(port: number, n: number, first: (i: number) => string): Promise<Held[]> {
  const all: Held[] = [];
  for (let i = 0; i < n; i += 100) {
    const batch = await Promise.all(Array.from({ length: Math.min(100, n - i) }, (_, j) => hold(port, first(i + j))));
    all.push(...batch);
  }
  return all;
}

/** Writes one more byte to every open socket every `ms` (the slow part of slowloris). */
export function dribble(sockets: Held[], byte: string, ms: number): () => void {
  const timer = setInterval(() => {
    for (const h of sockets) if (h.closedAt === undefined && !h.socket.destroyed) h.socket.write(byte);
  }, ms);
  return () => clearInterval(timer);
}

/** A GET request's bytes, with a bearer token and extra header lines, closing the connection after. */
export const get = (path: string, token?: string, extra = "") =>
  `GET ${path} HTTP/1.1\r\nHost: kiln\r\n${token ? `Authorization: Bearer ${token}\r\n` : ""}${extra}Connection: close\r\n\r\n`;

/** Polls `probe` every 20 ms until it holds; throws after `ms`. */
export const waitUntil = async (what: string, probe: () => boolean, ms: number) => {
  const deadline = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

/** The p-th percentile (nearest rank). */
export const percentile = (xs: number[], p: number) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
};

/** A Server-Sent Events reader over real HTTP, for the live log and account event streams. */
import http from "node:http";

export interface SseEvent {
  id?: string;
  event?: string;
  data?: string;
  comment?: string;
}

export interface SseStream {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The next event or comment; undefined once the server closed the stream. */
  next(timeoutMs?: number): Promise<SseEvent | undefined>;
  /** The whole body, for non-stream answers (errors). */
  text(): Promise<string>;
  abort(): void;
  /** Stop / start reading the socket (back-pressure). */
  pause(): void;
  resume(): void;
}

export function openSse(base: string, path: string, token: string, headers: Record<string, string> = {}): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    const req = http.get(base + path, { headers: { authorization: `Bearer ${token}`, ...headers } }, (res) => {
      res.setEncoding("utf8");
      let buffer = "";
      let ended = false;
      const queue: SseEvent[] = [];
      let waiter: (() => void) | undefined;
      const poke = () => {
        const w = waiter;
        waiter = undefined;
        w?.();
      };
      res.on("data", (chunk: string) => {
        buffer += chunk;
        let at: number;
        while ((at = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, at);
          buffer = buffer.slice(at + 2);
          const ev: SseEvent = {};
          for (const line of block.split("\n")) {
            if (line.startsWith(":")) ev.comment = line.slice(1).trim();
            else {
              const colon = line.indexOf(":");
              const field = line.slice(0, colon);
              const value = line.slice(colon + 1).replace(/^ /, "");
              if (field === "id" || field === "event") ev[field] = value;
              else if (field === "data") ev.data = ev.data === undefined ? value : `${ev.data}\n${value}`;
            }
          }
          queue.push(ev);
        }
        poke();
      });
      const finish = () => {
        ended = true;
        poke();
      };
      res.on("end", finish);
      res.on("close", finish);
      res.on("error", finish);
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        async next(timeoutMs = 20_000) {
          const deadline = Date.now() + timeoutMs;
          while (queue.length === 0 && !ended) {
            const left = deadline - Date.now();
            if (left <= 0) throw new Error("no event in time");
            await new Promise<void>((r) => {
              const t = setTimeout(r, left);
              waiter = () => {
                clearTimeout(t);
                r();
              };
            });
          }
          return queue.shift();
        },
        async text() {
          while (!ended) await new Promise<void>((r) => (waiter = r));
          return buffer;
        },
        abort: () => req.destroy(),
        pause: () => void res.pause(),
        resume: () => void res.resume(),
      });
    });
    req.on("error", (e) => {
      if ((e as NodeJS.ErrnoException).code !== "ECONNRESET") reject(e);
    });
  });
}

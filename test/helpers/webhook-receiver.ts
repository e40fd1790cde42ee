/**
 * A webhook receiver on loopback that verifies every delivery with the `standardwebhooks`
 * library, as a user's would, and can be taken down (connection refused) or made to fail (5xx).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";

export interface Received {
  id: string;
  timestamp: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- checked by the tests
  body: any;
  verified: boolean;
  answered: number;
}

export interface Receiver {
  url: string;
  port: number;
  /** Every request, in arrival order. */
  requests: Received[];
  /** Answers 2xx to verified deliveries from now on (the default). */
  healthy(): void;
  /** Answers this status to every delivery. */
  failWith(status: number): void;
  /** Waits this long before answering (a slow receiver keeps deliveries in flight). */
  delayAnswers(ms: number): void;
  /** Stops listening: connections are refused until `up()`. */
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startReceiver(secret: () => string, path = "/hooks/kiln"): Promise<Receiver> {
  const requests: Received[] = [];
  let failStatus: number | undefined;
  let delayMs = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      let verified = false;
      let body: unknown;
      try {
        body = new Webhook(secret()).verify(raw, req.headers as Record<string, string>);
        verified = true;
      } catch {
        body = raw;
      }
      const answered = failStatus ?? (verified ? 204 : 401);
      requests.push({ id: String(req.headers["webhook-id"]), timestamp: String(req.headers["webhook-timestamp"]), body, verified, answered });
      if (delayMs > 0) setTimeout(() => res.writeHead(answered).end(), delayMs).unref();
      else res.writeHead(answered).end();
    });
  });
  const listen = (port: number) => new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  await listen(0);
  const port = (server.address() as AddressInfo).port;
  const close = async () => {
    if (!server.listening) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
  return {
    url: `http://127.0.0.1:${port}${path}`,
    port,
    requests,
    healthy: () => void (failStatus = undefined),
    failWith: (status) => void (failStatus = status),
    delayAnswers: (ms) => void (delayMs = ms),
    down: close,
    up: () => listen(port),
    close,
  };
}

/**
 * A stand-in for GitHub's and GitLab's REST APIs on loopback (we cannot reach the real ones):
 * a real HTTP server that records every call the status reporter makes and can be told to fail.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedCall {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read the fields they check
  body: any;
  answered: number;
}

export interface FakeProvider {
  url: string;
  calls: RecordedCall[];
  /** Answer the next `n` calls with this status (500 by default). */
  failNext(n: number, status?: number): void;
  close(): Promise<void>;
}

export async function startFakeProvider(): Promise<FakeProvider> {
  const calls: RecordedCall[] = [];
  let failures = 0;
  let failStatus = 500;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const status = failures > 0 ? failStatus : 201;
      if (failures > 0) failures--;
      calls.push({ method: req.method ?? "", path: req.url ?? "", headers: req.headers, body: text ? JSON.parse(text) : undefined, answered: status });
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(status === 201 ? { id: calls.length, state: "ok" } : { message: "Server Error" }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    failNext(n, status = 500) {
      failures = n;
      failStatus = status;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

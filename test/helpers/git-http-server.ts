/**
 * A private git server over HTTP on loopback: git's own smart-HTTP backend (git-http-backend,
 * run as a CGI per request) behind HTTP Basic authentication, like GitHub's and GitLab's HTTPS
 * remotes for a private repository. Records who asked for what.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";

export const GIT_HTTP_BACKEND = "/usr/lib/git-core/git-http-backend";

export interface GitHttpServer {
  url: string;
  /** Each request: path and the Basic credentials it carried (decoded), or null. */
  requests: { path: string; credentials: string | null; status: number }[];
  close(): Promise<void>;
}

export interface GitHttpServerOptions {
  /**
   * Each ref advertisement (`GET …/info/refs`, the first request of every fetch and ls-remote)
   * is answered this much later: a remote as far away as a real provider.
   */
  delayMs?: number;
}

/** Serves the bare repositories under `root`; only `username:password` may read them. */
export async function startGitHttpServer(root: string, username: string, password: string, options: GitHttpServerOptions = {}): Promise<GitHttpServer> {
  if (!fs.existsSync(GIT_HTTP_BACKEND)) throw new Error(`${GIT_HTTP_BACKEND} is missing (Debian package git)`);
  const requests: GitHttpServer["requests"] = [];
  const expected = `${username}:${password}`;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (options.delayMs && url.pathname.endsWith("/info/refs")) {
      req.pause();
      setTimeout(() => serve(req, res, url), options.delayMs);
    } else serve(req, res, url);
  });
  const serve = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => {
    const auth = req.headers.authorization;
    const credentials = auth?.startsWith("Basic ") ? Buffer.from(auth.slice(6), "base64").toString("utf8") : null;
    if (credentials !== expected) {
      requests.push({ path: url.pathname, credentials, status: 401 });
      res.writeHead(401, { "www-authenticate": 'Basic realm="private git"' });
      res.end("authentication required\n");
      return;
    }
    const child = spawn(GIT_HTTP_BACKEND, [], {
      env: {
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: "1",
        PATH_INFO: url.pathname,
        QUERY_STRING: url.search.slice(1),
        REQUEST_METHOD: req.method ?? "GET",
        CONTENT_TYPE: req.headers["content-type"] ?? "",
        REMOTE_USER: username,
        REMOTE_ADDR: "127.0.0.1",
        GIT_PROTOCOL: String(req.headers["git-protocol"] ?? ""),
        HTTP_CONTENT_ENCODING: String(req.headers["content-encoding"] ?? ""),
        PATH: process.env.PATH ?? "/usr/bin:/bin",
      },
    });
    req.pipe(child.stdin);
    // CGI output: headers, a blank line, the body.
    let head = Buffer.alloc(0);
    let started = false;
    child.stdout.on("data", (chunk: Buffer) => {
      if (started) {
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      started = true;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, end).toString("utf8").split("\r\n")) {
        const colon = line.indexOf(":");
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === "status") status = Number(value.split(" ")[0]);
        else headers[name] = value;
      }
      requests.push({ path: url.pathname, credentials, status });
      res.writeHead(status, headers);
      res.write(head.subarray(end + 4));
    });
    child.stdout.on("end", () => res.end());
    child.on("error", () => res.destroy());
  };
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * A network peer of the test's own, on this machine: a network namespace `kiln-test-peer-<hex>`
 * joined to the host by a veth pair, with addresses on both ends and an HTTP server inside the
 * namespace. Traffic to the peer's addresses never leaves the machine: they are routed only to
 * the veth (connected routes, more specific than any default route), and the namespace has no
 * other link.
 *
 *   const peer = await startPeer({ host: ["198.51.100.1/24"], peer: ["198.51.100.2/24"] });
 *   await peer.get("198.51.100.2");   // "kiln-peer <token> 198.51.100.2" — from the host
 *   peer.hits                         // ["198.51.100.2"]: the address of every request served
 *   await peer.close();               // server, namespace and veth gone
 *
 * `server` runs another program in the namespace instead (e.g. test/helpers/fake-cloudflare.ts):
 * it must print `LISTENING` once it accepts connections on `port` (given to it as PORT); every
 * other line it prints is pushed to `output`.
 *
 * The name never matches the runner's `kiln-<pid>-<hex>` pattern, so no runner sweeps it. Needs
 * root and iproute2; every command is argv (no shell).
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import http from "node:http";

export interface NetnsPeer {
  /** The namespace (under /run/netns). */
  name: string;
  /** The veth end left on the host. */
  hostIf: string;
  /** The HTTP server's port inside the namespace. */
  port: number;
  /** Part of every answer, so an answer cannot come from anything else. */
  token: string;
  /** The local address of every request the server answered, in order. */
  hits: string[];
  /** Every other line the server printed, in order (only a `server` of the test's own prints any). */
  output: string[];
  /** GET / from the host (the test process); rejects after `timeoutMs`. */
  get(address: string, timeoutMs?: number): Promise<string>;
  close(): Promise<void>;
}

const ROOT_ENV = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" };
const ip = (...args: string[]) => execFileSync("ip", args, { env: ROOT_ENV, stdio: ["ignore", "pipe", "pipe"] }).toString();

/** The server: one answer per request, each request's local address on stdout. */
const SERVER = [
  'const http = require("node:http");',
  "const s = http.createServer((q, r) => {",
  "  const a = q.socket.localAddress.replace(/^::ffff:/, '');",
  '  console.log("HIT " + a);',
  '  r.end("kiln-peer " + process.env.TOKEN + " " + a + "\\n");',
  "});",
  's.listen(Number(process.env.PORT), "0.0.0.0", () => console.log("LISTENING"));',
].join("\n");

export interface PeerServer {
  /** argv of the program (run by `ip netns exec`). */
  argv: string[];
  /** Its environment besides PATH, PORT and TOKEN. */
  env?: Record<string, string>;
}

export async function startPeer(options: { host: string[]; peer: string[]; port?: number; server?: PeerServer }): Promise<NetnsPeer> {
  const id = randomBytes(3).toString("hex");
  const name = `kiln-test-peer-${id}`;
  const hostIf = `ktp${id}h`;
  const peerIf = `ktp${id}p`;
  const port = options.port ?? 8080;
  const token = randomBytes(8).toString("hex");
  const hits: string[] = [];
  const output: string[] = [];
  let server: ChildProcess | undefined;

  const close = async () => {
    if (server && server.exitCode === null && server.signalCode === null) {
      const gone = new Promise<void>((resolve) => server?.once("exit", () => resolve()));
      server.kill("SIGKILL");
      await gone;
    }
    // Deleting the namespace destroys the veth end in it, and with it the pair.
    try {
      ip("netns", "delete", name);
    } catch {
      /* not made */
    }
    try {
      ip("link", "delete", hostIf);
    } catch {
      /* gone with the namespace */
    }
  };

  try {
    ip("netns", "add", name);
    ip("link", "add", hostIf, "type", "veth", "peer", "name", peerIf);
    ip("link", "set", peerIf, "netns", name);
    for (const a of options.host) ip("addr", "add", a, "dev", hostIf);
    ip("link", "set", hostIf, "up");
    for (const a of options.peer) ip("-n", name, "addr", "add", a, "dev", peerIf);
    ip("-n", name, "link", "set", peerIf, "up");
    ip("-n", name, "link", "set", "lo", "up");
    const argv = options.server?.argv ?? [process.execPath, "-e", SERVER];
    const child = spawn("ip", ["netns", "exec", name, ...argv], {
      env: { ...ROOT_ENV, ...options.server?.env, TOKEN: token, PORT: String(port) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    server = child;
    let stderr = "";
    child.stderr?.on("data", (c: Buffer) => (stderr += c.toString()));
    await new Promise<void>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error(`peer server not listening after 10 s: ${stderr}`)), 10_000);
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`peer server exited (${code}): ${stderr}`));
      });
      child.stdout?.on("data", (c: Buffer) => {
        out += c.toString();
        let nl: number;
        while ((nl = out.indexOf("\n")) >= 0) {
          const line = out.slice(0, nl);
          out = out.slice(nl + 1);
          if (line === "LISTENING") {
            clearTimeout(timer);
            resolve();
          } else if (line.startsWith("HIT ")) hits.push(line.slice(4));
          else output.push(line);
        }
      });
    });
  } catch (error) {
    await close();
    throw error;
  }

  return {
    name,
    hostIf,
    port,
    token,
    hits,
    output,
    get: (address, timeoutMs = 3000) =>
      new Promise((resolve, reject) => {
        const req = http.get({ host: address, port, path: "/", timeout: timeoutMs, agent: false }, (res) => {
          let body = "";
          res.on("data", (c: Buffer) => (body += c.toString()));
          res.on("end", () => resolve(body));
          res.on("error", reject);
        });
        req.on("timeout", () => req.destroy(new Error(`no answer from ${address}:${port} in ${timeoutMs} ms`)));
        req.on("error", reject);
      }),
    close,
  };
}

/** Whether a namespace or link of that name is still there (for leave-nothing-behind checks). */
export function peerLeftovers(peer: Pick<NetnsPeer, "name" | "hostIf">): string[] {
  const left: string[] = [];
  if (fs.existsSync(`/run/netns/${peer.name}`)) left.push(`netns ${peer.name}`);
  if (fs.existsSync(`/sys/class/net/${peer.hostIf}`)) left.push(`link ${peer.hostIf}`);
  return left;
}

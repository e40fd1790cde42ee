/**
 * A loopback fake of the Cloudflare API endpoints `wrangler deploy` and `wrangler versions upload`
 * call (test/helpers/fake-cloudflare-server.ts), served from a test network namespace
 * (netns-peer.ts) so an isolated build reaches it: the peer's address is in a private range the
 * harness names with --build-network-allow. Cloudflare is a service the tests cannot reach; this
 * server is the other end of the real HTTP conversation wrangler has.
 *
 *   const cf = await startFakeCloudflare({ host: "10.98.0.1/24", peer: "10.98.0.2/24", accounts: { [accountId]: { token, workers: { app: tag } } } });
 *   env CLOUDFLARE_API_BASE_URL = cf.baseUrl           // http://10.98.0.2:8787/client/v4
 *   cf.exchanges()                                     // every request and its answer, in order
 *   await cf.close();                                  // server, namespace and veth gone
 *
 * Needs root and iproute2 (as startPeer).
 */
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { startPeer, type NetnsPeer } from "./netns-peer.ts";

export interface FakeExchange {
  method: string;
  path: string;
  query: string;
  authorization: string | null;
  contentType: string | null;
  bodyBytes: number;
  /** The request body (its first 64 KiB) as UTF-8. */
  body: string;
  status: number;
  answer: { success: boolean; errors: { code: number; message: string }[]; result: unknown };
}

export interface FakeCloudflare {
  peer: NetnsPeer;
  /** What CLOUDFLARE_API_BASE_URL is set to. */
  baseUrl: string;
  /** The `<subdomain>.workers.dev` of every account. */
  subdomain: string;
  exchanges(): FakeExchange[];
  close(): Promise<void>;
}

export interface FakeCloudflareOptions {
  /** The veth's host end, with prefix (e.g. "10.98.0.1/24"). */
  host: string;
  /** The peer's address, with prefix, in the same network. */
  peer: string;
  port?: number;
  subdomain?: string;
  /** Accounts the fake knows: the API token that is accepted for each, and its Workers (name → tag). */
  accounts: Record<string, { token: string; workers: Record<string, string> }>;
}

const SERVER = fileURLToPath(new URL("./fake-cloudflare-server.ts", import.meta.url));

/**
 * The server as plain JavaScript (type-checked with the tests, its types stripped here), run by
 * `node -e`: through tsx it would start an esbuild service process that outlives a killed server.
 */
function serverSource(): string {
  const out = ts.transpileModule(fs.readFileSync(SERVER, "utf8"), { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false } });
  return out.outputText;
}

export async function startFakeCloudflare(options: FakeCloudflareOptions): Promise<FakeCloudflare> {
  const subdomain = options.subdomain ?? "kiln-test";
  const port = options.port ?? 8787;
  const peer = await startPeer({
    host: [options.host],
    peer: [options.peer],
    port,
    server: {
      argv: [process.execPath, "--input-type=module", "-e", serverSource()],
      env: { FAKE_CLOUDFLARE: JSON.stringify({ subdomain, accounts: options.accounts }) },
    },
  });
  const address = options.peer.split("/")[0] ?? "";
  return {
    peer,
    baseUrl: `http://${address}:${port}/client/v4`,
    subdomain,
    exchanges: () => peer.output.filter((l) => l.startsWith("EXCHANGE ")).map((l) => JSON.parse(l.slice("EXCHANGE ".length)) as FakeExchange),
    close: () => peer.close(),
  };
}

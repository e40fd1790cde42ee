/**
 * Each build's own network (docs/architecture.md, Sandbox): a network namespace owned by the
 * host (so nothing inside, with or without a user namespace, can reconfigure it), whose only way
 * out is a user-mode NAT, slirp4netns, and whose output is filtered by an nftables table made
 * before the NAT is attached:
 * - the host's loopback is unreachable (slirp4netns --disable-host-loopback; the namespace has
 *   its own 127.0.0.1), and so are the host's abstract unix sockets (they belong to a network
 *   namespace) and its filesystem sockets (not mounted);
 * - the runner's own interface addresses are rejected (TCP reset, ICMP admin-prohibited), and so
 *   are link-local (cloud metadata at 169.254.169.254), private, shared, multicast and reserved
 *   ranges unless `--build-network-allow` names them;
 * - DNS goes to slirp4netns's forwarder (10.0.2.3), which asks the host's resolver from the host
 *   side, so names resolve even when that resolver has a private address.
 *
 * slirp4netns parses the build's packets as root, so it runs in a private mount namespace with
 * its own sandbox (pivot_root into an empty root, all capabilities but one dropped) and seccomp
 * filter, and exits when Kiln's end of its exit pipe closes — also when Kiln is SIGKILLed.
 *
 * Namespaces are named kiln-<runner pid>-<id> under /run/netns; `sweepNetworks` removes those of
 * runners that are gone.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import { promisify } from "node:util";
import { DENIED_V4, DENIED_V6 } from "../domain/address-ranges.ts";
import { parseCidr, type Cidr } from "../domain/cidr.ts";
import { ROOT_PATH, which } from "./sandbox-mode.ts";
import { processExists } from "./process-tree.ts";

export type BuildNetworkMode = "isolated" | "host" | "none";

const NETNS_DIR = "/run/netns";
/** slirp4netns's fixed addresses (its defaults): the build is 10.0.2.100, DNS is 10.0.2.3. */
export const SLIRP_DNS = "10.0.2.3";

/** Never reachable from a build unless allowed: private, shared, link-local, loopback, multicast, reserved. */
export { DENIED_V4, DENIED_V6 };

interface NetworkTools {
  ip: string;
  unshare: string;
  nsenter: string;
  slirp4netns: string;
  nft: string;
}

export interface NetworkSupport {
  /** true when `isolated` works here. */
  isolated: boolean;
  detail: string;
  tools?: NetworkTools;
}

const execFileP = promisify(execFile);

let detected: Promise<NetworkSupport> | undefined;

/** Probes once per process: the tools, and one real namespace with the firewall loaded. */
export function detectNetwork(): Promise<NetworkSupport> {
  detected ??= probe();
  return detected;
}

async function probe(): Promise<NetworkSupport> {
  if (process.platform !== "linux" || process.getuid?.() !== 0) return { isolated: false, detail: "needs Linux and root" };
  const found = { ip: which("ip"), unshare: which("unshare"), nsenter: which("nsenter"), slirp4netns: which("slirp4netns"), nft: which("nft") };
  const missing = Object.entries(found)
    .filter(([, file]) => file === undefined)
    .map(([name]) => name);
  if (missing.length) return { isolated: false, detail: `${missing.join(", ")} not found (apt-get install slirp4netns nftables iproute2)` };
  const tools = found as NetworkTools;
  const name = `kiln-probe-${process.pid}-${randomBytes(3).toString("hex")}`;
  try {
    await createNamespace(tools, name, networkRules([], []));
    return { isolated: true, detail: "own network namespace, egress through slirp4netns, host and private addresses refused", tools };
  } catch (error) {
    return { isolated: false, detail: `network namespace trial failed: ${(error as Error).message.split("\n")[0]}` };
  } finally {
    await deleteNamespace(tools, name);
  }
}

/**
 * The nftables ruleset of a build's namespace: loopback and DNS to the NAT first, then the host's
 * own addresses refused (always), then what the operator allowed, then the denied ranges refused,
 * then everything else accepted.
 */
export function networkRules(allow: Cidr[], hostAddresses: Cidr[]): string {
  const v4 = (list: Cidr[]) => list.filter((c) => c.family === 4).map((c) => c.text);
  const v6 = (list: Cidr[]) => list.filter((c) => c.family === 6).map((c) => c.text);
  const set = (name: string, type: string, elements: string[]) =>
    `  set ${name} { type ${type}; flags interval; auto-merge;${elements.length ? ` elements = { ${elements.join(", ")} };` : ""} }`;
  return [
    "table inet kiln {",
    set("allow4", "ipv4_addr", v4(allow)),
    set("allow6", "ipv6_addr", v6(allow)),
    set("host4", "ipv4_addr", v4(hostAddresses)),
    set("host6", "ipv6_addr", v6(hostAddresses)),
    set("deny4", "ipv4_addr", DENIED_V4),
    set("deny6", "ipv6_addr", DENIED_V6),
    "  chain output {",
    "    type filter hook output priority 0; policy accept;",
    '    oifname "lo" accept',
    `    ip daddr ${SLIRP_DNS} meta l4proto { tcp, udp } th dport 53 accept`,
    // The runner's own addresses, whatever is allowed: a NAT on the host reaches every service
    // bound to 0.0.0.0 through them (--build-network host is the way to give builds the host).
    "    ip daddr @host4 meta l4proto tcp reject with tcp reset",
    "    ip daddr @host4 reject with icmp type admin-prohibited",
    "    ip6 daddr @host6 meta l4proto tcp reject with tcp reset",
    "    ip6 daddr @host6 reject with icmpv6 type admin-prohibited",
    "    ip daddr @allow4 accept",
    "    ip6 daddr @allow6 accept",
    "    ip daddr @deny4 meta l4proto tcp reject with tcp reset",
    "    ip daddr @deny4 reject with icmp type admin-prohibited",
    "    ip6 daddr @deny6 meta l4proto tcp reject with tcp reset",
    "    ip6 daddr @deny6 reject with icmpv6 type admin-prohibited",
    "  }",
    "}",
    "",
  ].join("\n");
}

/** Every address of this machine's interfaces (a NAT on the host reaches services bound to 0.0.0.0 through them). */
export function hostAddresses(): Cidr[] {
  const out: Cidr[] = [];
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) {
      const parsed = parseCidr(a.address.split("%")[0] ?? "");
      if (parsed) out.push(parsed);
    }
  }
  return out;
}

function run(file: string, args: string[], input?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: { PATH: ROOT_PATH }, stdio: [input === undefined ? "ignore" : "pipe", "ignore", "pipe"] });
    let stderr = "";
    child.stderr?.on("data", (c: Buffer) => (stderr += c.toString()));
    child.stdin?.on("error", () => undefined);
    child.stdin?.end(input);
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`${path.basename(file)}: ${stderr.trim() || `exit ${code}`}`))));
  });
}

/** The namespace, bound at /run/netns/NAME, with its firewall already loaded (one process). */
async function createNamespace(tools: NetworkTools, name: string, rules: string): Promise<string> {
  const file = path.join(NETNS_DIR, name);
  if (!fs.existsSync(NETNS_DIR)) await run(tools.ip, ["netns", "add", `${name}-init`]).then(() => deleteNamespace(tools, `${name}-init`));
  fs.writeFileSync(file, "", { mode: 0o444 });
  try {
    await run(tools.unshare, [`--net=${file}`, "--", tools.nft, "-f", "-"], rules);
  } catch (error) {
    await deleteNamespace(tools, name);
    throw error;
  }
  return file;
}

async function deleteNamespace(tools: NetworkTools, name: string): Promise<void> {
  await execFileP(tools.ip, ["netns", "delete", name], { env: { PATH: ROOT_PATH } }).catch(() => {
    fs.rmSync(path.join(NETNS_DIR, name), { force: true });
  });
}

export interface BuildNetwork {
  /** The mode in force (an `isolated` request on a host that cannot gives `none`). */
  mode: BuildNetworkMode;
  /** For the build's sandbox line. */
  detail: string;
  /** The namespace to enter (isolated mode). */
  netnsPath?: string;
  /** /etc/resolv.conf inside the sandbox (isolated mode). */
  resolvConf?: string;
  close(): Promise<void>;
}

export interface NetworkRequest {
  mode: BuildNetworkMode;
  allow: Cidr[];
}

/** Opens a build's network; never throws for an unsupported host (it says why in `detail`). */
export async function openBuildNetwork(request: NetworkRequest, options: { spare?: boolean } = {}): Promise<BuildNetwork> {
  const nothing = async () => undefined;
  if (request.mode === "host") return { mode: "host", detail: "network: the host's (--build-network host): the build reaches the runner's loopback and private networks", close: nothing };
  if (request.mode === "none") return { mode: "none", detail: "network: none (loopback only)", close: nothing };
  const support = await detectNetwork();
  if (!support.isolated || !support.tools) return { mode: "none", detail: `network: none (loopback only): isolated network unavailable: ${support.detail}`, close: nothing };
  const tools = support.tools;
  const hosts = hostAddresses();
  const key = spareKey(request.allow, hosts);
  if (options.spare === false) return makeIsolated(tools, request.allow, hosts);
  const ready = takeSpare(key);
  const network = (ready ? await ready.catch(() => undefined) : undefined) ?? (await makeIsolated(tools, request.allow, hosts));
  prepareSpare(key, () => makeIsolated(tools, request.allow, hosts));
  return network;
}

/**
 * One isolated network made ahead of time, for the next build: every build of a runner gets the
 * same rules, so the namespace, the firewall and slirp4netns (~25 ms of process start-ups) are
 * made while a build runs rather than while the next one is dispatched. Discarded when the rules
 * would differ (the host's addresses changed) or its slirp4netns is gone.
 */
let spare: { key: string; network: Promise<Isolated>; timer?: NodeJS.Timeout } | undefined;

/** What makes two isolated networks interchangeable: the same rules. */
function spareKey(allow: Cidr[], hosts: Cidr[]): string {
  return JSON.stringify([allow.map((c) => c.text), hosts.map((c) => c.text)]);
}

/** After a build took its network: long enough to leave the CPU to its checkout. */
const SPARE_DELAY_MS = 0;

function takeSpare(key: string): Promise<Isolated> | undefined {
  const found = spare;
  spare = undefined;
  if (!found) return undefined;
  if (found.timer) {
    clearTimeout(found.timer);
    return undefined;
  }
  const usable = found.network.then((n) => {
    if (found.key === key && n.alive()) return n;
    void n.close();
    throw new Error("stale spare network");
  });
  usable.catch(() => undefined);
  return usable;
}

function prepareSpare(key: string, make: () => Promise<Isolated>): void {
  if (spare) return;
  let resolveLater: (n: Promise<Isolated>) => void = () => undefined;
  const network = new Promise<Isolated>((resolve) => (resolveLater = resolve));
  const entry: { key: string; network: Promise<Isolated>; timer?: NodeJS.Timeout } = { key, network };
  entry.timer = setTimeout(() => {
    delete entry.timer;
    const made = make();
    made.catch(() => {
      if (spare === entry) spare = undefined;
    });
    resolveLater(made);
  }, SPARE_DELAY_MS);
  entry.timer.unref();
  network.catch(() => undefined);
  spare = entry;
}

/** Makes the spare network now (a runner starting), so that its first build does not wait for one. */
export async function warmBuildNetwork(request: NetworkRequest): Promise<void> {
  if (request.mode !== "isolated") return;
  const support = await detectNetwork();
  if (!support.isolated || !support.tools) return;
  const tools = support.tools;
  const hosts = hostAddresses();
  prepareSpare(spareKey(request.allow, hosts), () => makeIsolated(tools, request.allow, hosts));
}

/** Removes the spare network (the runner stops). */
export async function closeSpareNetwork(): Promise<void> {
  const found = spare;
  spare = undefined;
  if (!found) return;
  if (found.timer) return clearTimeout(found.timer);
  await found.network.then((n) => n.close(), () => undefined);
}

interface Isolated extends BuildNetwork {
  alive(): boolean;
}

async function makeIsolated(tools: NetworkTools, allow: Cidr[], hosts: Cidr[]): Promise<Isolated> {
  const name = `kiln-${process.pid}-${randomBytes(6).toString("hex")}`;
  const netnsPath = await createNamespace(tools, name, networkRules(allow, hosts));
  let slirp: ChildProcess;
  try {
    slirp = await startSlirp(tools, netnsPath);
  } catch (error) {
    await deleteNamespace(tools, name);
    throw error;
  }
  const allowed = allow.length ? `; allowed: ${allow.map((c) => c.text).join(", ")}` : "";
  let closed: Promise<void> | undefined;
  return {
    mode: "isolated",
    detail: `network: isolated (own namespace, slirp4netns NAT, host, link-local and private addresses refused${allowed})`,
    netnsPath,
    resolvConf: `nameserver ${SLIRP_DNS}\noptions edns0\n`,
    alive: () => slirp.exitCode === null && slirp.signalCode === null,
    close() {
      closed ??= (async () => {
        const gone = new Promise<void>((resolve) => (slirp.exitCode !== null || slirp.signalCode !== null ? resolve() : slirp.once("exit", () => resolve())));
        slirp.ref(); // its exit is waited for
        slirp.kill("SIGKILL");
        await gone;
        await deleteNamespace(tools, name);
      })();
      return closed;
    },
  };
}

/** slirp4netns attached to the namespace, resolved once it says it is ready (or rejected within 5 s). */
function startSlirp(tools: NetworkTools, netnsPath: string): Promise<ChildProcess> {
  const args = [
    ...["--mount", "--propagation", "private", "--", tools.slirp4netns],
    ...["--configure", "--mtu=65520", "--disable-host-loopback", "--enable-sandbox", "--enable-seccomp"],
    ...["--netns-type=path", "--ready-fd=3", "--exit-fd=4", netnsPath, "tap0"],
  ];
  const child = spawn(tools.unshare, args, { env: { PATH: ROOT_PATH }, cwd: "/", stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (c: Buffer) => (stderr = (stderr + c.toString()).slice(-2000)));
  // fd 4 stays open on Kiln's side for slirp4netns's whole life: when Kiln dies it closes and slirp4netns exits.
  (child.stdio[4] as Readable | null)?.on("error", () => undefined);

  return new Promise((resolve, reject) => {
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(new Error(`slirp4netns: ${why}${stderr.trim() ? `: ${stderr.trim().split("\n").pop()}` : ""}`));
    };
    const timer = setTimeout(() => fail("not ready after 5 s"), 5000);
    child.once("error", (error) => fail(error.message));
    child.once("exit", (code, signal) => fail(`exited (${code ?? signal})`));
    (child.stdio[3] as Readable | null)?.once("data", () => {
      clearTimeout(timer);
      child.removeAllListeners("exit");
      child.stdio[3]?.destroy();
      // Once it runs, a network (the spare, say) does not keep Kiln's process alive: it goes with it.
      child.unref();
      for (const stream of child.stdio) (stream as unknown as { unref?: () => void } | null)?.unref?.();
      resolve(child);
    });
  });
}

/** Removes namespaces of runners that died without removing theirs (the slirp4netns of each exited with them). */
export async function sweepNetworks(): Promise<number> {
  const support = await detectNetwork();
  if (!support.tools) return 0;
  let names: string[];
  try {
    names = fs.readdirSync(NETNS_DIR);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    const m = /^kiln-(?:probe-)?(\d+)-[0-9a-f]+$/.exec(name);
    if (!m || Number(m[1]) === process.pid || processExists(Number(m[1]))) continue;
    await deleteNamespace(support.tools, name);
    removed++;
  }
  return removed;
}


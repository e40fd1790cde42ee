/**
 * Whether a webhook URL may be delivered to, and where exactly: the host is resolved once, every
 * address it resolves to is checked, and the delivery then connects to those checked addresses
 * (http-sender.ts pins them), never to a second resolution — so a DNS answer that changes between
 * the check and the connection (DNS rebinding) cannot lead Kiln to a private address.
 *
 * Refused: anything but http(s); a user name or password in the URL (it would be shown in every
 * answer that lists the subscription); a host resolving to any denied address (domain/
 * address-ranges.ts: loopback, private, link-local, shared, multicast, unspecified, reserved,
 * IPv4-mapped ones by their IPv4 part) unless the operator allows private destinations; and
 * Kiln's own API, allowed or not (a webhook to one of Kiln's own deploy hooks would build forever).
 */
import dns from "node:dns";
import net from "node:net";
import os from "node:os";
import { isDeniedAddress } from "../domain/address-ranges.ts";

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

/** getaddrinfo, as every other program on the host resolves names (/etc/hosts included). */
export const systemResolver: Resolver = async (hostname) => {
  const answers = await dns.promises.lookup(hostname, { all: true, verbatim: true });
  return answers.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

export interface OwnApi {
  /** Origins Kiln is reached at (its --public-url, its listening address). */
  origins: string[];
  /** The port this node's API listens on: a local address on this port is Kiln itself. */
  port: number | undefined;
}

export interface GuardOptions {
  allowPrivate: boolean;
  ownApi: OwnApi;
  resolver?: Resolver;
}

export class DestinationRefused extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = "DestinationRefused";
  }
}

export interface CheckedDestination {
  url: URL;
  addresses: ResolvedAddress[];
}

/** Syntax only (no DNS): what a subscription's URL must look like. Throws DestinationRefused. */
export function parseWebhookUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new DestinationRefused("must be an absolute http:// or https:// URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new DestinationRefused("must be an http:// or https:// URL");
  if (url.username || url.password) throw new DestinationRefused("must not carry a user name or password (put a token in the path or query instead)");
  if (!url.hostname) throw new DestinationRefused("must name a host");
  return url;
}

const portOf = (url: URL): number => (url.port ? Number(url.port) : url.protocol === "https:" ? 443 : 80);

function bareHost(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, "");
}

/** Loopback, unspecified, or an address of one of this host's interfaces. */
function isLocalAddress(address: string): boolean {
  const bare = address.replace(/%.*$/, "").toLowerCase();
  if (bare === "::" || bare === "::1" || bare === "0.0.0.0" || bare.startsWith("127.") || bare.startsWith("::ffff:127.")) return true;
  const mapped = bare.startsWith("::ffff:") && net.isIPv4(bare.slice(7)) ? bare.slice(7) : bare;
  for (const list of Object.values(os.networkInterfaces())) {
    for (const nic of list ?? []) if (nic.address.replace(/%.*$/, "").toLowerCase() === mapped) return true;
  }
  return false;
}

/**
 * Parses, resolves and checks a destination; answers the URL and the addresses to connect to.
 * Called when a subscription is created or changed, and before every delivery attempt.
 */
export async function checkDestination(text: string, options: GuardOptions): Promise<CheckedDestination> {
  const url = parseWebhookUrl(text);
  if (options.ownApi.origins.includes(url.origin)) throw new DestinationRefused("is Kiln's own API");
  const host = bareHost(url);
  const literal = net.isIP(host);
  let addresses: ResolvedAddress[];
  if (literal !== 0) addresses = [{ address: host, family: literal === 6 ? 6 : 4 }];
  else {
    try {
      addresses = await (options.resolver ?? systemResolver)(host);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new DestinationRefused(`host ${host} does not resolve${code ? ` (${code})` : ""}`);
    }
    if (addresses.length === 0) throw new DestinationRefused(`host ${host} does not resolve`);
  }
  if (options.ownApi.port !== undefined && portOf(url) === options.ownApi.port && addresses.some((a) => isLocalAddress(a.address))) {
    throw new DestinationRefused("is Kiln's own API");
  }
  if (!options.allowPrivate) {
    const denied = addresses.find((a) => isDeniedAddress(a.address));
    if (denied) {
      throw new DestinationRefused(
        `host ${host} resolves to ${denied.address}, a loopback, private, link-local or reserved address (allowed only with kiln serve --webhook-allow-private)`,
      );
    }
  }
  return { url, addresses };
}

/** Kiln's own API as one node knows it: its public URL, its listening address, and its port. */
export function ownApiOf(publicUrl: string | undefined, host: string, port: number): OwnApi {
  const origins = [`http://${host.includes(":") ? `[${host}]` : host}:${port}`];
  if (publicUrl) {
    try {
      origins.push(new URL(publicUrl).origin);
    } catch {
      // A malformed public URL is refused by the configuration before this runs.
    }
  }
  return { origins, port };
}

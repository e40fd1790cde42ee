/**
 * CIDR blocks as operators write them (`10.1.2.0/24`, `fd00::/8`, or one address), validated and
 * put in canonical form for nft. Used by the configuration and the build network's firewall.
 */
import net from "node:net";

export interface Cidr {
  family: 4 | 6;
  /** As nft takes it: `10.1.2.0/24`, `fd00::/8`, `192.0.2.7` (a single address has no prefix). */
  text: string;
}

/** Parses one block; undefined when it is not an IPv4 or IPv6 address with an optional prefix. */
export function parseCidr(input: string): Cidr | undefined {
  const m = /^([^/\s]+)(?:\/(\d{1,3}))?$/.exec(input.trim());
  if (!m) return undefined;
  const address = m[1] ?? "";
  const family = net.isIPv4(address) ? 4 : net.isIPv6(address) ? 6 : 0;
  // An IPv4-mapped IPv6 address ("::ffff:10.0.0.1") is written as the IPv4 block it is.
  if (family === 0 || (family === 6 && address.includes("."))) return undefined;
  if (m[2] === undefined) return { family, text: address };
  const prefix = Number(m[2]);
  if (prefix > (family === 4 ? 32 : 128)) return undefined;
  // nft refuses a prefix with host bits set ("10.1.2.3/24"): clear them.
  return { family, text: `${network(address, prefix, family)}/${prefix}` };
}

function network(address: string, prefix: number, family: 4 | 6): string {
  const list = new net.SocketAddress({ address, family: family === 4 ? "ipv4" : "ipv6" });
  const bytes = family === 4 ? Buffer.from(list.address.split(".").map(Number)) : ipv6Bytes(list.address);
  for (let bit = prefix; bit < bytes.length * 8; bit++) bytes[bit >> 3] = (bytes[bit >> 3] ?? 0) & ~(0x80 >> (bit & 7));
  if (family === 4) return [...bytes].join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  return new net.SocketAddress({ address: groups.join(":"), family: "ipv6" }).address;
}

function ipv6Bytes(address: string): Buffer {
  const [head = "", tail] = address.split("::");
  const part = (s: string | undefined) => (s ? s.split(":") : []);
  const left = part(head);
  const right = part(tail);
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g || "0", 16), i * 2));
  return out;
}

/**
 * The address ranges Kiln never reaches on a user's behalf unless an operator allows it:
 * unspecified, loopback, private, shared (CGNAT), link-local, multicast and reserved, IPv4 and
 * IPv6. One list for the build network's firewall (runner/build-network.ts) and the webhook
 * destination guard (outbound/address-guard.ts), so the two cannot disagree.
 */
import net from "node:net";

/** As nft takes them. */
export const DENIED_V4 = ["0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4"];
/** `::ffff:0:0/96` (IPv4-mapped) is here for nft; the BlockList below judges a mapped address by its IPv4 part instead. */
export const DENIED_V6 = ["::/127", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8"];

const MAPPED = "::ffff:0:0/96";

function blockList(): net.BlockList {
  const list = new net.BlockList();
  for (const block of DENIED_V4) {
    const [address = "", prefix = "32"] = block.split("/");
    list.addSubnet(address, Number(prefix), "ipv4");
  }
  // Node's BlockList checks an IPv4-mapped IPv6 address (::ffff:127.0.0.1, ::ffff:7f00:1)
  // against the IPv4 rules, and would match every IPv4 address against a mapped subnet.
  for (const block of DENIED_V6.filter((b) => b !== MAPPED)) {
    const [address = "", prefix = "128"] = block.split("/");
    list.addSubnet(address, Number(prefix), "ipv6");
  }
  return list;
}

const DENIED = blockList();

/**
 * Whether an IP address (v4, or v6 with or without a zone) lies in a denied range; an input that
 * is not an IP address at all counts as denied, so a caller can never mistake garbage for a
 * public address.
 */
export function isDeniedAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  const family = net.isIP(bare);
  if (family === 0) return true;
  return DENIED.check(bare, family === 4 ? "ipv4" : "ipv6");
}

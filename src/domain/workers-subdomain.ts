/**
 * The account's `<subdomain>.workers.dev`, as `GET /accounts/{id}/workers/subdomain` answers it:
 * Cloudflare's build notifications link to the live Worker at `<worker>.<subdomain>.workers.dev`,
 * and Kiln does not know the real one (it is Cloudflare's, set in its dashboard). So the operator
 * names it (`--workers-subdomain`), or it is the account's name made into a DNS label: a guess
 * that holds when the Cloudflare subdomain was named after the account, and is always well formed.
 */
import type { Account } from "./types.ts";

/** At most one DNS label (63 characters). */
const LABEL_MAX = 63;

/** "My Team's Café" → "my-team-s-cafe"; a name with no letter or digit left → the account id. */
export function subdomainFromName(name: string, accountId: string): string {
  const slug = name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .slice(0, LABEL_MAX + 1)
    .replace(/^-+|-+$/g, "")
    .slice(0, LABEL_MAX)
    .replace(/-+$/, "");
  return slug || accountId.toLowerCase();
}

export function workersSubdomainOf(account: Pick<Account, "id" | "name">, configured: string | undefined): string {
  return configured ?? subdomainFromName(account.name, account.id);
}

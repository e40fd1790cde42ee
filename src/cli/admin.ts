/**
 * Admin commands that work directly on the database, the way self-hosted servers bootstrap
 * their first users: accounts, users, API tokens, Workers.
 */
import type { Command } from "commander";
import { storeOptions } from "../config.ts";
import { accountWebhookSecret, AdminError, createAccount, createToken, createUser, createWorker, revokeToken } from "../domain/admin.ts";
import { DELIVERIES_KEPT } from "../domain/delivery-types.ts";
import { listDeliveries } from "../domain/webhook-builds.ts";
import { parseAge, prune } from "../domain/retention.ts";
import { HEX_ID_FORMAT } from "../domain/ids.ts";
import { setAccountLimits } from "../domain/limits.ts";
import { PERMISSION_GROUPS, type ApiToken, type PermissionGroup } from "../domain/types.ts";
import type { Store } from "../store/index.ts";
import { emit, table, UsageError } from "./output.ts";
import { addOptions, storeFromOptions, type StoreMode } from "./store-options.ts";

type Opts = Record<string, unknown>;

const WORKER_NAME = /^[a-z0-9]([a-z0-9_-]{0,62}[a-z0-9])?$/;
const EMAIL = /^[^\s@]+@[^\s@]+$/;

function required(opts: Opts, flag: string, key = flag): string {
  const value = opts[key];
  if (typeof value !== "string" || value.trim() === "") throw new UsageError(`missing required option --${flag}`);
  return value.trim();
}

function accountFlag(opts: Opts): string {
  const id = required(opts, "account");
  if (!HEX_ID_FORMAT.test(id)) throw new UsageError(`invalid --account ${JSON.stringify(id)}: an account id is 32 lowercase hex characters`);
  return id;
}

async function withStore<T>(opts: Opts, fn: (store: Store) => Promise<T>, mode: StoreMode = "existing"): Promise<T> {
  const { store } = await storeFromOptions(opts, mode);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

const tokenView = (t: ApiToken) => ({
  id: t.id,
  name: t.name,
  permission_groups: t.permission_groups,
  account_ids: t.account_ids,
  expires_on: t.expires_on,
  revoked_on: t.revoked_on,
  created_on: t.created_on,
});

/** A leaf command with the store options and --json. */
/** An optional 32-hex id flag (`--id`, `--tag`): absent → undefined; malformed → usage error. */
function optionalHex(opts: Opts, flag: string, what: string): string | undefined {
  const value = opts[flag];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || !HEX_ID_FORMAT.test(value)) throw new UsageError(`invalid --${flag} ${JSON.stringify(value)}: ${what} is 32 lowercase hex characters`);
  return value;
}

function leaf(parent: Command, name: string, description: string): Command {
  return addOptions(parent.command(name).description(description), storeOptions).option("--json", "print one JSON object on stdout");
}

export function registerAdmin(program: Command): void {
  const account = program.command("account").description("manage accounts");
  leaf(account, "create", "create an account")
    .option("--name <name>", "account name")
    .option("--id <id>", "the account's id: its real Cloudflare account id (32 lowercase hex), so clients keep the ids they have (default: a new one)")
    .action(async (opts: Opts) => {
      const name = required(opts, "name");
      const id = optionalHex(opts, "id", "an account id");
      // The one admin command that may start a new store: the first account of a new install.
      const created = await withStore(opts, (store) => store.transaction((repos) => createAccount(repos, name, id)), "create");
      emit(Boolean(opts.json), { id: created.id, name: created.name }, `created account ${created.id} (${created.name})`);
    });
  leaf(account, "list", "list accounts").action(async (opts: Opts) => {
    const { items } = await withStore(opts, (store) => store.accounts.list());
    emit(Boolean(opts.json), { accounts: items }, table(items, ["id", "name", "created_on"]));
  });
  registerSetLimits(account);
  leaf(account, "webhook-secret", "show the account's webhook secret (for /webhooks/github|gitlab/<account id>), or rotate it")
    .option("--account <id>", "account id")
    .option("--rotate", "replace it with a new one (deliveries signed with the old one are refused from now on)")
    .action(async (opts: Opts) => {
      const accountId = accountFlag(opts);
      const shown = await withStore(opts, (store) => store.transaction((repos) => accountWebhookSecret(repos, accountId, Boolean(opts.rotate))));
      emit(Boolean(opts.json), shown, shown.webhook_secret);
    });

  leaf(program, "prune", "delete builds (with their logs) stopped, and webhook deliveries received, longer ago than --older-than")
    .option("--older-than <age>", "an age such as 30d, 12h or 90m")
    .action(async (opts: Opts) => {
      const text = required(opts, "older-than", "olderThan");
      const ms = parseAge(text);
      if (ms === undefined) throw new UsageError(`invalid --older-than ${JSON.stringify(text)}: use a number of days, hours or minutes such as 30d, 12h or 90m`);
      const cutoff = new Date(Date.now() - ms).toISOString();
      const removed = await withStore(opts, (store) => prune(store, cutoff));
      emit(Boolean(opts.json), { cutoff, ...removed }, `pruned ${removed.builds} builds (${removed.log_lines} log lines), ${removed.deliveries} deliveries and ${removed.events} build events older than ${cutoff}`);
    });

  const deliveries = program.command("deliveries").description("webhook deliveries received (the last 1000 per account)");
  leaf(deliveries, "list", "list an account's webhook deliveries, newest first")
    .option("--account <id>", "account id")
    .option("--limit <n>", "at most this many (default 1000)")
    .action(async (opts: Opts) => {
      const accountId = accountFlag(opts);
      const limit = opts.limit === undefined ? DELIVERIES_KEPT : Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > DELIVERIES_KEPT) {
        throw new UsageError(`invalid --limit ${JSON.stringify(String(opts.limit))}: use an integer from 1 to ${DELIVERIES_KEPT}`);
      }
      const list = await withStore(opts, async (store) => {
        if (!(await store.accounts.get(accountId))) throw new AdminError(`no account with id ${accountId}`);
        return listDeliveries(store, accountId, limit);
      });
      const rows = list.map((d) => ({
        received_on: d.received_on,
        provider: d.provider,
        event: d.event,
        delivery_id: d.delivery_id ?? "",
        status: d.status,
        outcome: d.outcome,
        builds: d.result.builds.length,
        skipped: d.result.skipped.map((s) => s.reason).join(","),
      }));
      emit(Boolean(opts.json), { deliveries: list }, table(rows, ["received_on", "provider", "event", "delivery_id", "status", "outcome", "builds", "skipped"]));
    });

  const user = program.command("user").description("manage users (email + global API key)");
  leaf(user, "create", "create a user with a global API key (shown once)")
    .option("--email <email>", "the user's email")
    .option("--account <id...>", "account(s) the user belongs to")
    .action(async (opts: Opts) => {
      const email = required(opts, "email");
      if (!EMAIL.test(email)) throw new UsageError(`invalid --email ${JSON.stringify(email)}`);
      const accounts = listFlag(opts, "account");
      if (accounts.length === 0) throw new UsageError("missing required option --account");
      for (const id of accounts) accountFlag({ account: id });
      const created = await withStore(opts, (store) => store.transaction((repos) => createUser(repos, email, accounts)));
      emit(Boolean(opts.json), created, `created user ${created.email}\napi_key=${created.api_key}`);
    });

  const token = program.command("token").description("manage API tokens");
  leaf(token, "create", "create an API token (its value is shown once)")
    .option("--account <id...>", "account(s) the token covers")
    .option("--name <name>", "token name")
    .option("--permission <group...>", `permission group: ${PERMISSION_GROUPS.map((g) => `"${g}"`).join(" or ")}`)
    .option("--expires-on <iso>", "expiry, an ISO 8601 date-time")
    .action(async (opts: Opts) => {
      const accounts = listFlag(opts, "account");
      if (accounts.length === 0) throw new UsageError("missing required option --account");
      for (const id of accounts) accountFlag({ account: id });
      const name = required(opts, "name");
      const permissions = listFlag(opts, "permission");
      if (permissions.length === 0) throw new UsageError("missing required option --permission");
      for (const p of permissions) {
        if (!(PERMISSION_GROUPS as readonly string[]).includes(p)) {
          throw new UsageError(`invalid --permission ${JSON.stringify(p)}: use ${PERMISSION_GROUPS.map((g) => `"${g}"`).join(" or ")}`);
        }
      }
      let expiresOn: string | undefined;
      if (opts.expiresOn !== undefined) {
        const raw = required(opts, "expires-on", "expiresOn");
        const when = Date.parse(raw);
        if (!/^\d{4}-\d{2}-\d{2}/.test(raw) || Number.isNaN(when)) {
          throw new UsageError(`invalid --expires-on ${JSON.stringify(raw)}: use an ISO 8601 date-time such as 2027-01-01T00:00:00Z`);
        }
        expiresOn = new Date(when).toISOString();
      }
      const created = await withStore(opts, (store) =>
        store.transaction((repos) =>
          createToken(repos, { accountIds: accounts, name, permissionGroups: permissions as PermissionGroup[], expiresOn }),
        ),
      );
      emit(Boolean(opts.json), { id: created.token.id, value: created.value }, `created token ${created.token.id}\ntoken=${created.value}`);
    });
  leaf(token, "list", "list an account's API tokens (never their values)")
    .option("--account <id>", "account id")
    .action(async (opts: Opts) => {
      const accountId = accountFlag(opts);
      const tokens = (await withStore(opts, (store) => store.tokens.listForAccount(accountId))).map(tokenView);
      emit(Boolean(opts.json), { tokens }, table(tokens, ["id", "name", "permission_groups", "expires_on", "revoked_on"]));
    });
  leaf(token, "revoke", "revoke an API token at once")
    .argument("<id>", "token id")
    .action(async (id: string, opts: Opts) => {
      if (!HEX_ID_FORMAT.test(id)) throw new UsageError(`invalid token id ${JSON.stringify(id)}: a token id is 32 lowercase hex characters`);
      const revoked = await withStore(opts, (store) => store.transaction((repos) => revokeToken(repos, id)));
      emit(Boolean(opts.json), tokenView(revoked), `revoked token ${revoked.id}`);
    });

  const worker = program.command("worker").description("manage Workers (name + immutable tag)");
  leaf(worker, "create", "register a Worker")
    .option("--account <id>", "account id")
    .option("--name <name>", "Worker name (lowercase letters, digits, - and _)")
    .option("--tag <tag>", "the Worker's tag: its real Cloudflare tag (32 lowercase hex), so clients keep the tags they have (default: a new one)")
    .action(async (opts: Opts) => {
      const accountId = accountFlag(opts);
      const name = required(opts, "name");
      const tag = optionalHex(opts, "tag", "a Worker tag");
      if (!WORKER_NAME.test(name)) {
        throw new UsageError(`invalid --name ${JSON.stringify(name)}: use 1-64 lowercase letters, digits, - or _, not starting or ending with - or _`);
      }
      const created = await withStore(opts, (store) => store.transaction((repos) => createWorker(repos, accountId, name, tag)));
      emit(Boolean(opts.json), { id: created.name, tag: created.tag }, `created Worker ${created.name} (tag ${created.tag})`);
    });
  leaf(worker, "list", "list an account's Workers")
    .option("--account <id>", "account id")
    .action(async (opts: Opts) => {
      const accountId = accountFlag(opts);
      const workers = (await withStore(opts, (store) => store.workers.list(accountId))).map((w) => ({
        id: w.name,
        tag: w.tag,
        created_on: w.created_on,
        modified_on: w.modified_on,
      }));
      emit(Boolean(opts.json), { workers }, table(workers, ["id", "tag", "created_on"]));
    });
}

function listFlag(opts: Opts, key: string): string[] {
  const value = opts[key];
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).map(String).map((s) => s.trim()).filter(Boolean);
}

// ---------- kiln account set-limits ----------

/** Limits fit PostgreSQL's integer column. */
const MAX_LIMIT = 2_147_483_647;

/** A limit flag: absent → unchanged; the `reset` word → null (the default); else an integer ≥ min. */
function limitFlag(opts: Opts, key: string, flag: string, min: number, reset: string): number | null | undefined {
  const raw = opts[key];
  if (raw === undefined) return undefined;
  const text = String(raw).trim();
  if (text === reset) return null;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > MAX_LIMIT) {
    throw new UsageError(`invalid --${flag} ${JSON.stringify(String(raw))}: use an integer from ${min} to ${MAX_LIMIT}, or ${reset}`);
  }
  return n;
}

function registerSetLimits(account: Command): void {
  leaf(account, "set-limits", "set an account's build minutes per month and build concurrency (no limit flag: show them)")
    .option("--account <id>", "account id")
    .option("--build-minutes <n>", "build minutes per calendar month (UTC), or \"unlimited\" (the default)")
    .option("--concurrency <n>", "builds running at once (≥ 1), or \"default\" (the server default)")
    .action(async (opts: Opts) => {
      const accountId = accountFlag(opts);
      const buildMinutes = limitFlag(opts, "buildMinutes", "build-minutes", 0, "unlimited");
      const concurrency = limitFlag(opts, "concurrency", "concurrency", 1, "default");
      const limits = await withStore(opts, (store) =>
        store.transaction((repos) =>
          setAccountLimits(repos, accountId, { build_minutes_limit: buildMinutes, concurrency_limit: concurrency }),
        ),
      );
      emit(
        Boolean(opts.json),
        { account_id: accountId, ...limits },
        `account ${accountId}: build_minutes_limit=${limits.build_minutes_limit ?? "unlimited"} concurrency_limit=${limits.concurrency_limit ?? "default"}`,
      );
    });
}

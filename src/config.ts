/**
 * All of Kiln's configuration, in one place: every option is a flag and a KILN_* variable,
 * with one default and one validation rule. A flag beats the variable,
 * the variable beats the default. The parsed object is passed down explicitly; nothing reads
 * process.env elsewhere.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { parseSecretKey } from "./domain/secrets.ts";
import { parseCidr } from "./domain/cidr.ts";
import { parseUidRange } from "./domain/uid-range.ts";
import { CLOUDFLARE_DEFAULT_TOOLS, parseToolList } from "./domain/build-image.ts";

export interface OptionSpec {
  /** Property name in the parsed config. */
  key: keyof Config;
  /** Long flag, without the leading dashes. */
  flag: string;
  env: string;
  description: string;
  /** Placeholder in --help; absent for boolean switches. */
  arg?: string;
  /** The flag may be given several times; the variable takes a comma-separated list. */
  repeatable?: boolean;
}

/** Options shared by every command that opens the store (serve, runner, admin commands). */
export const storeOptions: OptionSpec[] = [
  { key: "dataDir", flag: "data-dir", env: "KILN_DATA_DIR", arg: "dir", description: "data directory (SQLite database, key file)" },
  { key: "database", flag: "database", env: "KILN_DATABASE_URL", arg: "url", description: "postgres://… URL; SQLite in the data dir when absent" },
  { key: "logLevel", flag: "log-level", env: "KILN_LOG_LEVEL", arg: "level", description: "fatal, error, warn, info, debug or trace" },
  { key: "secretKey", flag: "secret-key", env: "KILN_SECRET_KEY", arg: "base64", description: "32-byte key (base64) sealing secrets at rest; required with PostgreSQL, a key file in the data dir otherwise" },
  { key: "gitUrlTemplate", flag: "git-url-template", env: "KILN_GIT_URL_TEMPLATE", arg: "template", description: "clone URL with {provider_type} {provider_account_id} {provider_account_name} {repo_id} {repo_name}" },
];

/** Options of the runner (embedded in `kiln serve`, or `kiln runner`). */
export const runnerOptions: OptionSpec[] = [
  { key: "slots", flag: "slots", env: "KILN_SLOTS", arg: "n", description: "builds this runner runs at once (default: CPU count)" },
  { key: "buildTimeout", flag: "build-timeout", env: "KILN_BUILD_TIMEOUT", arg: "seconds", description: "a build running longer is terminated (default 1200)" },
  { key: "cancelGrace", flag: "cancel-grace", env: "KILN_CANCEL_GRACE", arg: "seconds", description: "SIGTERM → SIGKILL grace on cancel (default 5)" },
  { key: "leaseTtl", flag: "lease-ttl", env: "KILN_LEASE_TTL", arg: "seconds", description: "a runner silent this long loses its builds (default 30)" },
  { key: "logCap", flag: "log-cap", env: "KILN_LOG_CAP", arg: "bytes", description: "per-build log cap; past it head and tail are kept (default 67108864)" },
  { key: "workspaceLimit", flag: "workspace-limit", env: "KILN_WORKSPACE_LIMIT", arg: "bytes", description: "a build whose workspace and HOME grow past this is terminated (default 21474836480, 20 GiB)" },
  { key: "drainTimeout", flag: "drain-timeout", env: "KILN_DRAIN_TIMEOUT", arg: "seconds", description: "on SIGTERM, running builds may finish for this long before they are terminated (default 60)" },
  { key: "buildUser", flag: "build-user", env: "KILN_BUILD_USER", arg: "user", description: "user builds run as in the process-group fallback (no bubblewrap) when Kiln runs as root (default nobody)" },
  { key: "buildUids", flag: "build-uids", env: "KILN_BUILD_UIDS", arg: "first-last", description: "uids given to running builds, one each, under bubblewrap (default 1000000-1065535)" },
  { key: "buildNetwork", flag: "build-network", env: "KILN_BUILD_NETWORK", arg: "mode", description: "isolated (own namespace, NAT to the internet, host and private addresses refused), host, or none (default isolated)" },
  { key: "buildNetworkAllow", flag: "build-network-allow", env: "KILN_BUILD_NETWORK_ALLOW", arg: "cidr", repeatable: true, description: "a private or host range isolated builds may reach after all (e.g. a private registry); repeatable" },
  { key: "buildCpus", flag: "build-cpus", env: "KILN_BUILD_CPUS", arg: "n", description: "CPUs per build (cgroup CPU bandwidth; default 4, at most the machine's count)" },
  { key: "buildRoot", flag: "build-root", env: "KILN_BUILD_ROOT", arg: "dir", description: "prepared root filesystem (debootstrap, an exported image) whose /usr and /etc builds see instead of the host's" },
  { key: "buildTools", flag: "build-tools", env: "KILN_BUILD_TOOLS", arg: "mode", description: "registry: Node.js, npm, pnpm, yarn and bun at the versions a project asks for, installed from the npm registry into the tool cache; host: the build root's own, unchanged (default registry)" },
  { key: "defaultTools", flag: "default-tools", env: "KILN_DEFAULT_TOOLS", arg: "list", description: "versions when a project asks for none, e.g. node@22.16.0,npm@10.9.2,pnpm@10.11.1,yarn@4.9.1,bun@1.2.15 (default: Cloudflare's build image's)" },
  { key: "npmRegistry", flag: "npm-registry", env: "KILN_NPM_REGISTRY", arg: "url", description: "registry tools are installed from (default: the one npm on this machine uses, with its credentials from npm's config)" },
  { key: "toolCacheLimit", flag: "tool-cache-limit", env: "KILN_TOOL_CACHE_LIMIT", arg: "bytes", description: "size of the tool cache (data dir tools/) past which least recently used versions not in use are removed (default 4294967296, 4 GiB)" },
];

/** Git providers: clone credentials, webhook secrets, status reporting (docs/webhooks.md). */
export const providerOptions: OptionSpec[] = [
  { key: "githubToken", flag: "github-token", env: "KILN_GITHUB_TOKEN", arg: "token", description: "GitHub token: clones private repositories, reports commit statuses" },
  { key: "gitlabToken", flag: "gitlab-token", env: "KILN_GITLAB_TOKEN", arg: "token", description: "GitLab token: clones private repositories, reports commit statuses" },
  { key: "githubApiUrl", flag: "github-api-url", env: "KILN_GITHUB_API_URL", arg: "url", description: "GitHub API base (GitHub Enterprise: https://host/api/v3; default https://api.github.com)" },
  { key: "gitlabApiUrl", flag: "gitlab-api-url", env: "KILN_GITLAB_API_URL", arg: "url", description: "GitLab API base (self-managed: https://host/api/v4; default https://gitlab.com/api/v4)" },
  { key: "githubWebUrl", flag: "github-web-url", env: "KILN_GITHUB_WEB_URL", arg: "url", description: "GitHub's web address, for the dashboard's commit and repository links (default: --github-api-url without /api/v3, else https://github.com)" },
  { key: "gitlabWebUrl", flag: "gitlab-web-url", env: "KILN_GITLAB_WEB_URL", arg: "url", description: "GitLab's web address, for the dashboard's commit and repository links (default: --gitlab-api-url without /api/v4, else https://gitlab.com)" },
  { key: "publicUrl", flag: "public-url", env: "KILN_PUBLIC_URL", arg: "url", description: "Kiln's address as users reach it, for the links in commit statuses (default http://host:port)" },
];

/** Options of `kiln runner` (a runner node: no HTTP). */
export const runnerCommandOptions: OptionSpec[] = [
  ...storeOptions,
  ...runnerOptions,
  ...providerOptions.filter((o) => o.key === "githubToken" || o.key === "gitlabToken"),
];

/** Limits of the HTTP server (slow clients, connections, live log streams). */
export const httpOptions: OptionSpec[] = [
  { key: "headersTimeout", flag: "headers-timeout", env: "KILN_HEADERS_TIMEOUT", arg: "seconds", description: "a client must send a request's headers within this, or gets 408 and is disconnected (default 20)" },
  { key: "requestTimeout", flag: "request-timeout", env: "KILN_REQUEST_TIMEOUT", arg: "seconds", description: "a client must send the whole request, body included, within this (default 60, at least --headers-timeout); answers, live log streams included, are not limited" },
  { key: "keepAliveTimeout", flag: "keep-alive-timeout", env: "KILN_KEEP_ALIVE_TIMEOUT", arg: "seconds", description: "an idle keep-alive connection is closed after this (default 72, longer than the usual proxy's 60)" },
  { key: "idleTimeout", flag: "idle-timeout", env: "KILN_IDLE_TIMEOUT", arg: "seconds", description: "a connection that moves no byte either way for this long is closed, e.g. a client that stopped reading (default 300; 0: never)" },
  { key: "maxConnections", flag: "max-connections", env: "KILN_MAX_CONNECTIONS", arg: "n", description: "open HTTP connections at most; past it a new one displaces the one waiting longest for its request (default 3/4 of the open-file limit, which is raised to its hard limit at start)" },
  { key: "logStreamsPerToken", flag: "log-streams-per-token", env: "KILN_LOG_STREAMS_PER_TOKEN", arg: "n", description: "live log streams one token (or global key) may hold open at once; past it 429 (default 100)" },
  { key: "logStreamsPerAccount", flag: "log-streams-per-account", env: "KILN_LOG_STREAMS_PER_ACCOUNT", arg: "n", description: "live log streams of one account open at once, all its tokens together; past it 429 (default 500)" },
];

/** Webhook destinations of event subscriptions (docs/events.md). */
export const webhookOptions: OptionSpec[] = [
  { key: "webhookAllowPrivate", flag: "webhook-allow-private", env: "KILN_WEBHOOK_ALLOW_PRIVATE", description: "let webhook destinations resolve to loopback, private and link-local addresses (single-host installs, tests); Kiln's own API stays refused" },
  { key: "webhookTimeout", flag: "webhook-timeout", env: "KILN_WEBHOOK_TIMEOUT", arg: "seconds", description: "a webhook receiver must answer within this, body included, or the attempt failed (default 15)" },
  { key: "webhookRetrySchedule", flag: "webhook-retry-schedule", env: "KILN_WEBHOOK_RETRY_SCHEDULE", arg: "seconds,…", description: "waits before each retry of a failed webhook delivery (default 5,300,1800,7200,18000,36000,36000: 8 attempts over about 27.5 hours)" },
];

/** Options of `kiln serve`. */
export const serveOptions: OptionSpec[] = [
  { key: "host", flag: "host", env: "KILN_HOST", arg: "host", description: "address to listen on" },
  { key: "port", flag: "port", env: "KILN_PORT", arg: "port", description: "port to listen on (0 picks a free one)" },
  { key: "runner", flag: "no-runner", env: "KILN_NO_RUNNER", description: "serve the API only; builds run on `kiln runner` nodes" },
  { key: "githubWebhookSecret", flag: "github-webhook-secret", env: "KILN_GITHUB_WEBHOOK_SECRET", arg: "secret", description: "secret of the single-tenant POST /webhooks/github (matches every account)" },
  { key: "retentionDays", flag: "retention-days", env: "KILN_RETENTION_DAYS", arg: "days", description: "delete builds, logs, webhook deliveries and delivered build events older than this, hourly (default: keep everything)" },
  { key: "gitlabWebhookToken", flag: "gitlab-webhook-token", env: "KILN_GITLAB_WEBHOOK_TOKEN", arg: "token", description: "token of the single-tenant POST /webhooks/gitlab (matches every account)" },
  { key: "workersSubdomain", flag: "workers-subdomain", env: "KILN_WORKERS_SUBDOMAIN", arg: "name", description: "the <name>.workers.dev subdomain GET /accounts/{id}/workers/subdomain answers for every account (default: each account's name as a DNS label, e.g. \"My Team\" → my-team)" },
  ...httpOptions,
  ...storeOptions,
  ...runnerOptions,
  ...providerOptions,
  ...webhookOptions,
];

const positive = (max: number) =>
  z.coerce.number({ error: "must be a number" }).positive("must be greater than 0").max(max, `must be at most ${max}`);

const port = z.coerce
  .number({ error: "must be a number" })
  .int("must be a whole number")
  .min(0, "must be between 0 and 65535")
  .max(65535, "must be between 0 and 65535");

/** A secret from the operator: never echoed back in a message. */
const secretText = z.string().min(8, "must be at least 8 characters").max(4096, "must be at most 4096 characters");
/** An http(s) base URL, kept without its trailing slash. */
const httpUrl = z
  .string()
  .regex(/^https?:\/\/[^\s]+$/, "must be an http:// or https:// URL")
  .transform((v) => v.replace(/\/+$/, ""));

export const configSchema = z.object({
  host: z.string().min(1, "must not be empty").default("127.0.0.1"),
  port: port.default(8787),
  dataDir: z.string().min(1, "must not be empty").default("./.kiln"),
  database: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL")
    .optional(),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  secretKey: z
    .string()
    .refine((v) => parseSecretKey(v) !== undefined, "must be 32 bytes in base64 (e.g. `openssl rand -base64 32`)")
    .optional(),
  /** Unset: per provider, https://github.com/{provider_account_name}/{repo_name}.git and the GitLab equivalent. */
  gitUrlTemplate: z.string().min(1, "must not be empty").optional(),
  /** false with --no-runner (or KILN_NO_RUNNER=1). */
  runner: z.preprocess((v) => (v === "1" || v === "true" ? false : v === "0" || v === "false" ? true : v), z.boolean()).default(true),
  slots: positive(1024).int("must be a whole number").default(Math.max(1, os.availableParallelism())),
  buildTimeout: positive(7 * 24 * 3600).default(1200),
  cancelGrace: z.coerce.number({ error: "must be a number" }).min(0, "must be 0 or more").max(3600, "must be at most 3600").default(5),
  leaseTtl: positive(3600).default(30),
  drainTimeout: z.coerce.number({ error: "must be a number" }).min(0, "must be 0 or more").max(24 * 3600, "must be at most 86400").default(60),
  logCap: positive(2 ** 40).int("must be a whole number").min(65_536, "must be at least 65536").default(64 * 1024 * 1024),
  workspaceLimit: positive(2 ** 50).int("must be a whole number").min(1_048_576, "must be at least 1048576").default(20 * 1024 ** 3),
  buildUser: z.string().regex(/^[a-z_][a-z0-9_-]*$/, "must be a user name").default("nobody"),
  buildUids: z
    .string()
    .transform((v, ctx) => {
      const range = parseUidRange(v);
      if (!range) ctx.addIssue({ code: "custom", message: "must be FIRST-LAST, two uids from 1 to 2147483646 (e.g. 1000000-1065535)" });
      return range ?? { first: 0, last: 0 };
    })
    .default({ first: 1_000_000, last: 1_065_535 }),
  buildNetwork: z.enum(["isolated", "host", "none"], { error: "must be isolated, host or none" }).default("isolated"),
  buildNetworkAllow: z
    .preprocess((v) => (typeof v === "string" ? v.split(",").map((x) => x.trim()).filter(Boolean) : v), z.array(z.string()))
    .transform((list, ctx) =>
      list.map((item) => {
        const cidr = parseCidr(item);
        if (!cidr) ctx.addIssue({ code: "custom", message: `${JSON.stringify(item)} is not an IPv4 or IPv6 address or CIDR block` });
        return cidr ?? { family: 4 as const, text: "" };
      }),
    )
    .default([]),
  buildCpus: z.coerce.number({ error: "must be a number" }).min(0.01, "must be at least 0.01").max(1024, "must be at most 1024").default(4),
  buildRoot: z
    .string()
    .min(1, "must not be empty")
    .transform((v) => path.resolve(v))
    .refine((v) => fs.existsSync(path.join(v, "usr")) && fs.existsSync(path.join(v, "etc")), "must be a directory holding usr/ and etc/ (a root filesystem)")
    .optional(),
  buildTools: z.enum(["registry", "host"], { error: "must be registry or host" }).default("registry"),
  defaultTools: z
    .string()
    .transform((v, ctx) => {
      try {
        return { ...CLOUDFLARE_DEFAULT_TOOLS, ...parseToolList(v) };
      } catch (error) {
        ctx.addIssue({ code: "custom", message: (error as Error).message });
        return { ...CLOUDFLARE_DEFAULT_TOOLS };
      }
    })
    .default({ ...CLOUDFLARE_DEFAULT_TOOLS }),
  npmRegistry: httpUrl.transform((v) => `${v}/`).optional(),
  toolCacheLimit: positive(2 ** 50).int("must be a whole number").default(4 * 1024 ** 3),
  githubToken: secretText.optional(),
  gitlabToken: secretText.optional(),
  githubApiUrl: httpUrl.default("https://api.github.com"),
  gitlabApiUrl: httpUrl.default("https://gitlab.com/api/v4"),
  githubWebUrl: httpUrl.optional(),
  gitlabWebUrl: httpUrl.optional(),
  publicUrl: httpUrl.optional(),
  githubWebhookSecret: secretText.optional(),
  retentionDays: positive(36_500).int("must be a whole number").optional(),
  gitlabWebhookToken: secretText.optional(),
  /** Unset: each account's own, derived from its name (src/domain/workers-subdomain.ts). */
  workersSubdomain: z
    .string()
    .regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, "must be a DNS label: 1-63 of a-z, 0-9 and -, not starting or ending with -")
    .optional(),
  headersTimeout: positive(3600).default(20),
  requestTimeout: positive(24 * 3600).default(60),
  keepAliveTimeout: positive(3600).default(72),
  idleTimeout: z.coerce.number({ error: "must be a number" }).min(0, "must be 0 or more").max(24 * 3600, "must be at most 86400").default(300),
  /** Unset: derived from the open-file limit at start (src/api/connection-cap.ts). */
  maxConnections: positive(10_000_000).int("must be a whole number").optional(),
  logStreamsPerToken: positive(1_000_000).int("must be a whole number").default(100),
  logStreamsPerAccount: positive(1_000_000).int("must be a whole number").default(500),
  webhookAllowPrivate: z.preprocess((v) => (v === "1" || v === "true" ? true : v === "0" || v === "false" ? false : v), z.boolean({ error: "must be 1, true, 0 or false" })).default(false),
  webhookTimeout: positive(300).default(15),
  /** Milliseconds, as domain/webhook-backoff.ts takes them. */
  webhookRetrySchedule: z
    .string()
    .transform((v, ctx) => {
      const waits = v.split(",").map((x) => x.trim());
      if (waits.length > 20 || waits.some((w) => !/^\d+(\.\d+)?$/.test(w) || Number(w) > 7 * 24 * 3600)) {
        ctx.addIssue({ code: "custom", message: "must be at most 20 comma-separated waits in seconds, each at most 604800 (e.g. 5,300,1800)" });
        return [];
      }
      return waits.map((w) => Math.round(Number(w) * 1000));
    })
    .optional(),
});

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/**
 * Merges flags (already parsed by the CLI, undefined when absent) over KILN_* variables and
 * validates the result. Throws ConfigError naming the flag and the variable to fix.
 */
export function loadConfig(
  flags: Partial<Record<keyof Config, unknown>>,
  env: NodeJS.ProcessEnv,
  specs: OptionSpec[] = serveOptions,
): Config {
  const raw: Record<string, unknown> = {};
  for (const spec of specs) {
    const fromFlag = flags[spec.key];
    const fromEnv = env[spec.env];
    if (fromFlag !== undefined) raw[spec.key] = fromFlag;
    else if (fromEnv !== undefined && fromEnv !== "") raw[spec.key] = fromEnv;
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? "");
      const spec = specs.find((s) => s.key === key);
      const where = spec ? `--${spec.flag} (or ${spec.env})` : key;
      return `invalid ${where}: ${issue.message}`;
    });
    throw new ConfigError(lines.join("\n"));
  }
  if (parsed.data.database && !parsed.data.secretKey) {
    throw new ConfigError(
      "missing --secret-key (or KILN_SECRET_KEY): with PostgreSQL every node must seal and open secrets with the same key (e.g. `openssl rand -base64 32`)",
    );
  }
  // Node refuses a header timeout longer than the request timeout (the headers are part of the request).
  if (parsed.data.headersTimeout > parsed.data.requestTimeout && specs.some((s) => s.key === "requestTimeout")) {
    throw new ConfigError("invalid --headers-timeout (or KILN_HEADERS_TIMEOUT): must be at most --request-timeout (or KILN_REQUEST_TIMEOUT)");
  }
  return { ...parsed.data, dataDir: path.resolve(parsed.data.dataDir) };
}

/**
 * The command-line client (`kiln builds …`, `kiln triggers …`): it talks HTTP to any Workers
 * Builds API, Kiln's or Cloudflare's, so its settings fall back to Cloudflare's own variables.
 */
export interface ClientConfig {
  /** Includes /client/v4. */
  apiUrl: string;
  apiToken: string;
  accountId: string;
}

export const clientOptions = [
  { key: "apiUrl", flag: "api-url", env: "KILN_API_URL", arg: "url", description: "Workers Builds API base, /client/v4 included (default http://127.0.0.1:8787/client/v4; Cloudflare: https://api.cloudflare.com/client/v4)" },
  { key: "apiToken", flag: "api-token", env: "KILN_API_TOKEN", arg: "token", description: "API token (falls back to CLOUDFLARE_API_TOKEN)" },
  { key: "account", flag: "account", env: "KILN_ACCOUNT_ID", arg: "id", description: "account id (falls back to CLOUDFLARE_ACCOUNT_ID)" },
] as const;

export function loadClientConfig(flags: { apiUrl?: unknown; apiToken?: unknown; account?: unknown }, env: NodeJS.ProcessEnv): ClientConfig {
  const pick = (flag: unknown, ...vars: (string | undefined)[]) => (typeof flag === "string" && flag !== "" ? flag : vars.find((v) => v !== undefined && v !== ""));
  const apiUrl = pick(flags.apiUrl, env.KILN_API_URL) ?? "http://127.0.0.1:8787/client/v4";
  if (!/^https?:\/\/[^\s]+$/.test(apiUrl)) throw new ConfigError("invalid --api-url (or KILN_API_URL): must be an http:// or https:// URL ending in /client/v4");
  const apiToken = pick(flags.apiToken, env.KILN_API_TOKEN, env.CLOUDFLARE_API_TOKEN);
  if (!apiToken) throw new ConfigError("missing --api-token (or KILN_API_TOKEN, or CLOUDFLARE_API_TOKEN)");
  const accountId = pick(flags.account, env.KILN_ACCOUNT_ID, env.CLOUDFLARE_ACCOUNT_ID);
  if (!accountId) throw new ConfigError("missing --account (or KILN_ACCOUNT_ID, or CLOUDFLARE_ACCOUNT_ID)");
  return { apiUrl: apiUrl.replace(/\/+$/, ""), apiToken, accountId };
}

/**
 * An in-process Kiln for API tests: a real store (SQLite or PostgreSQL), the real Fastify
 * app driven through inject(), answers checked against their route schemas, and helpers
 * that seed accounts and credentials through the same domain code the CLI uses. With
 * `transport: "http"` the app listens on loopback and calls are real HTTP requests: inject()
 * goes past the server's request listener, so what answers there (api/reuse-front.ts) is only
 * reached this way.
 */
import { pino } from "pino";
import { createApp, type AppOptions } from "../../src/api/app.ts";
import { createAccount, createToken, createUser, createWorker } from "../../src/domain/admin.ts";
import type { Account, PermissionGroup, Worker } from "../../src/domain/types.ts";
import { openStore, type Store } from "../../src/store/index.ts";
import { loadConfig, type Config } from "../../src/config.ts";
import { composeKiln, type Kiln } from "../../src/cli/compose.ts";
import { makeDatabase, type DatabaseOptions, type TestDatabase } from "./databases.ts";

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  // Tests read whatever the server answered; each asserts the shape it expects.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
  body: any;
}

export interface CallOptions {
  token?: string;
  headers?: Record<string, string>;
  body?: unknown;
  /** Sent as-is, for malformed-JSON tests. */
  rawBody?: string;
}

export interface Harness {
  db: TestDatabase;
  store: Store;
  call(method: string, url: string, options?: CallOptions): Promise<Answer>;
  account(name?: string): Promise<Account>;
  token(accountIds: string[], groups: PermissionGroup[], options?: { expiresOn?: string; name?: string }): Promise<{ id: string; value: string }>;
  user(email: string, accountIds: string[]): Promise<{ email: string; api_key: string }>;
  worker(accountId: string, name: string): Promise<Worker>;
  kiln: Kiln;
  config: Config;
  close(): Promise<void>;
}

/** How the harness reaches the app: fastify.inject(), or real HTTP over loopback. */
export type Transport = "inject" | "http";
export const TRANSPORTS: readonly Transport[] = ["inject", "http"];

export async function startHarness(
  dialect: "sqlite" | "postgres",
  options: AppOptions = {},
  configOverrides: Partial<Record<keyof Config, unknown>> = {},
  /** `logs`: every server log line (debug level, or `logLevel`) is pushed here, for tests that check what is logged. `database`: how the test database is made. */
  extras: { logs?: string[]; logLevel?: string; database?: DatabaseOptions; transport?: Transport } = {},
): Promise<Harness> {
  const db = await makeDatabase(dialect, extras.database);
  const store = await openStore({ dataDir: db.dataDir, database: db.database, poolSize: 4, secretKey: Buffer.from(db.secretKey, "base64") });
  const captured = extras.logs;
  const logger = captured
    ? pino({ level: extras.logLevel ?? "debug" }, { write: (line: string) => void captured.push(line) })
    : pino({ level: process.env.KILN_TEST_LOG_LEVEL ?? "silent" });
  // Builds use the host's tools unless a test asks for the registry (nothing else downloads anything).
  const config = loadConfig({ dataDir: db.dataDir, database: db.database, secretKey: db.secretKey, buildTools: "host", ...configOverrides }, {});
  const kiln = composeKiln(config, store, logger);
  const { fastify } = await createApp(kiln.deps, { validateResponses: true, plugins: kiln.plugins, ...options });
  // API-only suites leave the runner idle; build suites ask for it with { runner: true }.
  if (configOverrides.runner === true) await kiln.runner?.start();
  const base = extras.transport === "http" ? await fastify.listen({ host: "127.0.0.1", port: 0 }) : undefined;
  return {
    db,
    store,
    async call(method, url, opts = {}) {
      const headers: Record<string, string> = { ...(opts.headers ?? {}) };
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      let payload: string | undefined;
      if (opts.rawBody !== undefined) payload = opts.rawBody;
      else if (opts.body !== undefined) payload = JSON.stringify(opts.body);
      if (payload !== undefined) headers["content-type"] ??= "application/json";
      let status: number;
      let text: string;
      let answerHeaders: Answer["headers"];
      if (base) {
        const res = await fetch(base + url, { method, headers, ...(payload !== undefined ? { body: payload } : {}) });
        status = res.status;
        text = await res.text();
        answerHeaders = Object.fromEntries(res.headers);
      } else {
        const res = await fastify.inject({ method: method as "GET", url, headers, ...(payload !== undefined ? { payload } : {}) });
        status = res.statusCode;
        text = res.body;
        answerHeaders = res.headers;
      }
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        /* non-JSON answers (metrics) stay text */
      }
      return { status, headers: answerHeaders, body };
    },
    account: (name = "acme") => store.transaction((r) => createAccount(r, name)),
    async token(accountIds, groups, o = {}) {
      const { token, value } = await store.transaction((r) =>
        createToken(r, { accountIds, name: o.name ?? "test", permissionGroups: groups, expiresOn: o.expiresOn }),
      );
      return { id: token.id, value };
    },
    user: (email, accountIds) => store.transaction((r) => createUser(r, email, accountIds)),
    worker: (accountId, name) => store.transaction((r) => createWorker(r, accountId, name)),
    kiln,
    config,
    async close() {
      await fastify.close();
      await kiln.runner?.stop();
      await kiln.reporter.stop();
      await kiln.deliverer.stop();
      await kiln.close();
      await store.close();
      await db.cleanup();
    },
  };
}

/** Asserts the Cloudflare error envelope with the given status and codes. */
export function errorCodes(answer: Answer): number[] {
  return (answer.body?.errors ?? []).map((e: { code: number }) => e.code);
}

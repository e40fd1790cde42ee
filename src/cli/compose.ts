/**
 * The composition root: builds the API's dependencies and the embedded runner from one
 * configuration and store. `kiln serve` and the end-to-end tests both use it, so what is
 * tested is what runs.
 */
import type { Logger } from "pino";
import type { AppDeps } from "../api/deps.ts";
import type { Config } from "../config.ts";
import { localSignals, type BuildSignals } from "../domain/build-events.ts";
import { buildServices } from "../domain/build-services.ts";
import { Mirrors, mirrorsDir } from "../git/mirror.ts";
import { gitCommitResolver } from "../git/resolver.ts";
import { effectiveCpus } from "../runner/build-sandbox.ts";
import { Runner } from "../runner/runner.ts";
import { ToolCache, toolsDir } from "../runner/toolchain.ts";
import type { Store } from "../store/index.ts";
import { pgSignals } from "../store/notify.ts";
import { providerCredential, type GitCredential } from "../git/url.ts";
import { StatusReporter } from "../webhooks/status-reporter.ts";
import { WebhookDeliverer } from "../outbound/webhook-deliverer.ts";
import { ownApiOf } from "../outbound/address-guard.ts";
import { webhookRoutes } from "../webhooks/routes.ts";
import { dashboardRoutes } from "../web/routes.ts";
import type { FastifyInstance } from "fastify";

export interface Kiln {
  deps: AppDeps;
  signals: BuildSignals;
  runner: Runner | undefined;
  /** Sends build statuses back to GitHub and GitLab (every node runs one; claims keep them apart). */
  reporter: StatusReporter;
  /** Delivers build events to webhook subscriptions (every API node runs one; leases keep them apart). */
  deliverer: WebhookDeliverer;
  /** HTTP routes outside the Cloudflare API (the webhook endpoints), registered by createApp. */
  plugins: ((fastify: FastifyInstance, deps: AppDeps) => Promise<void>)[];
  /** Releases what composing opened (the notification connection); the store is the caller's. */
  close(): Promise<void>;
}

/** The server's token for a provider's private repositories, as git's Basic credentials. */
export function gitCredentials(config: Config): (providerType: string) => GitCredential | undefined {
  return (providerType) => {
    const token = providerType === "github" ? config.githubToken : providerType.startsWith("gitlab") ? config.gitlabToken : undefined;
    return token === undefined ? undefined : providerCredential(providerType, token);
  };
}

/** The runner's tool cache (`<dataDir>/tools`), as `kiln tools` sees it too. */
export function toolCache(config: Pick<Config, "dataDir" | "npmRegistry" | "toolCacheLimit">): ToolCache {
  return new ToolCache({ dir: toolsDir(config.dataDir), limitBytes: config.toolCacheLimit, ...(config.npmRegistry ? { registry: config.npmRegistry } : {}) });
}

export function composeKiln(config: Config, store: Store, logger: Logger): Kiln {
  // On PostgreSQL the nodes of a fleet hear each other through LISTEN/NOTIFY.
  const fleet = config.database ? pgSignals(config.database, store.db, logger.child({ component: "signals" })) : undefined;
  const signals: BuildSignals = fleet ?? localSignals();
  // Committed build events wake this node's streams and deliverers at once. On PostgreSQL the
  // transaction that wrote them also NOTIFYed every node (store/build-events.ts), this one too:
  // a second, harmless wake-up here, since listeners re-read the store.
  const stopEvents = store.onEventsCommitted((accountId) => (fleet ? fleet.deliverLocal("events", accountId) : signals.events(accountId)));
  const mirrors = new Mirrors({ dir: mirrorsDir(config.dataDir) });
  const credentials = gitCredentials(config);
  const deps: AppDeps = {
    store,
    health: store.health,
    logger,
    config,
    builds: buildServices(store, signals, { cancelGraceSeconds: config.cancelGrace, leaseTtlSeconds: config.leaseTtl }),
    commits: gitCommitResolver({
      mirrors,
      template: config.gitUrlTemplate,
      credentials,
      onError: (error, connection) => logger.warn({ err: error, repo: connection.repo_name }, "could not resolve a ref"),
    }),
  };
  const runner = config.runner
    ? new Runner(
        store,
        signals,
        {
          slots: config.slots,
          leaseTtlMs: config.leaseTtl * 1000,
          buildTimeoutMs: config.buildTimeout * 1000,
          cancelGraceMs: config.cancelGrace * 1000,
          logCapBytes: config.logCap,
          workspaceLimitBytes: config.workspaceLimit,
          sandbox: {
            fallbackUser: config.buildUser,
            uids: config.buildUids,
            network: config.buildNetwork,
            networkAllow: config.buildNetworkAllow,
            cpus: effectiveCpus(config.buildCpus),
            ...(config.buildRoot ? { buildRoot: config.buildRoot } : {}),
          },
          dataDir: config.dataDir,
          gitUrlTemplate: config.gitUrlTemplate,
          gitCredentials: credentials,
          tools: {
            mode: config.buildTools,
            defaults: config.defaultTools,
            ...(config.buildTools === "registry" ? { cache: toolCache(config) } : {}),
          },
        },
        mirrors,
        logger.child({ component: "runner" }),
      )
    : undefined;
  const reporter = new StatusReporter(
    store,
    signals,
    {
      github: config.githubToken === undefined ? undefined : { apiUrl: config.githubApiUrl, token: config.githubToken },
      gitlab: config.gitlabToken === undefined ? undefined : { apiUrl: config.gitlabApiUrl, token: config.gitlabToken },
      publicUrl: config.publicUrl ?? `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${config.port}`,
    },
    logger.child({ component: "status-reporter" }),
  );
  const deliverer = new WebhookDeliverer(
    store,
    signals,
    {
      allowPrivate: config.webhookAllowPrivate,
      ownApi: ownApiOf(config.publicUrl, config.host, config.port),
      timeoutMs: config.webhookTimeout * 1000,
      ...(config.webhookRetrySchedule ? { schedule: config.webhookRetrySchedule } : {}),
    },
    logger.child({ component: "webhook-deliverer" }),
  );
  return { deps, signals, runner, reporter, deliverer, plugins: [webhookRoutes, dashboardRoutes], close: async () => {
      stopEvents();
      await fleet?.close();
    },
  };
}


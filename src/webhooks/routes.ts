/**
 * The webhook endpoints (docs/webhooks.md), outside /client/v4 but in the same envelope:
 * `POST /webhooks/{github,gitlab}/{account_id}` verified with that account's own secret and
 * matching only its connections, and `POST /webhooks/{github,gitlab}` for single-tenant
 * installs, verified with the server's configured secret and matching every account.
 *
 * The signature covers the raw bytes, so these routes read the body as a Buffer (their own
 * content-type parser, encapsulated here) and parse JSON only once the sender is verified.
 * Whatever can be checked without the body is checked before it is read (an onRequest hook):
 * the account's secret exists, GitLab's token matches, GitHub's signature header has its form.
 * A sender failing those gets the same 401 without sending its up to 25 MiB.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { AppDeps } from "../api/deps.ts";
import { continueBody } from "../api/continue.ts";
import { success } from "../api/envelope.ts";
import type { GitProvider } from "../domain/delivery-types.ts";
import type { GitEvent } from "../domain/git-events.ts";
import { HEX_ID_FORMAT } from "../domain/ids.ts";
import { handleDelivery, recordRejected, type DeliveryInput } from "../domain/webhook-builds.ts";
import { errors, KilnError } from "../errors.ts";
import { githubEvent } from "./github.ts";
import { gitlabEvent } from "./gitlab.ts";
import { githubSignatureValid, githubSignatureWellFormed, gitlabTokenValid } from "./verify.ts";

/** GitHub caps deliveries at 25 MB; a push of many commits comes close. */
export const WEBHOOK_BODY_LIMIT = 25 * 1024 * 1024;
const DELIVERY_ID = /^[\w.:-]{1,200}$/;

interface ProviderSpec {
  eventHeader: string;
  deliveryHeader: string;
  verify(secret: string, raw: Buffer, request: FastifyRequest): boolean;
  /** What can be verified from the headers alone: false means verify() cannot succeed. */
  precheck(secret: string, request: FastifyRequest): boolean;
  parse(eventName: string, payload: unknown): GitEvent;
}

const header = (request: FastifyRequest, name: string): string | undefined => {
  const value = request.headers[name];
  return typeof value === "string" ? value : undefined;
};

const PROVIDERS: Record<GitProvider, ProviderSpec> = {
  github: {
    eventHeader: "x-github-event",
    deliveryHeader: "x-github-delivery",
    verify: (secret, raw, request) => githubSignatureValid(secret, raw, header(request, "x-hub-signature-256")),
    precheck: (_secret, request) => githubSignatureWellFormed(header(request, "x-hub-signature-256")),
    parse: githubEvent,
  },
  gitlab: {
    eventHeader: "x-gitlab-event",
    deliveryHeader: "x-gitlab-event-uuid",
    verify: (secret, _raw, request) => gitlabTokenValid(secret, header(request, "x-gitlab-token")),
    precheck: (secret, request) => gitlabTokenValid(secret, header(request, "x-gitlab-token")),
    parse: gitlabEvent,
  },
};

/** The JSON of a delivery: a JSON body, or GitHub's form encoding (`payload=<json>`). */
function payloadOf(raw: Buffer, contentType: string | undefined): unknown {
  let text = raw.toString("utf8");
  if (contentType?.startsWith("application/x-www-form-urlencoded")) {
    const field = new URLSearchParams(text).get("payload");
    if (field === null) throw errors.webhookPayload("form body without a payload field");
    text = field;
  }
  try {
    return JSON.parse(text);
  } catch {
    throw errors.webhookPayload("body is not JSON");
  }
}

export async function webhookRoutes(fastify: FastifyInstance, deps: AppDeps): Promise<void> {
  await fastify.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", { parseAs: "buffer", bodyLimit: WEBHOOK_BODY_LIMIT }, (_req, body, done) => done(null, body));

    const configured: Record<GitProvider, string | undefined> = {
      github: deps.config.githubWebhookSecret,
      gitlab: deps.config.gitlabWebhookToken,
    };

    // The secret each request is checked against, found before its body is read.
    const secrets = new WeakMap<FastifyRequest, string>();
    const precheck = (provider: GitProvider, secret: string | undefined, request: FastifyRequest, reply: FastifyReply) => {
      if (secret === undefined || !PROVIDERS[provider].precheck(secret, request)) throw errors.webhookUnauthorized();
      secrets.set(request, secret);
      continueBody(reply);
    };

    for (const provider of ["github", "gitlab"] as const) {
      scope.post<{ Params: { account_id: string } }>(`/webhooks/${provider}/:account_id`, {
        onRequest: async (request, reply) => {
          const accountId = (request.params as { account_id: string }).account_id;
          // An unknown or malformed account answers exactly like a wrong secret.
          precheck(provider, HEX_ID_FORMAT.test(accountId) ? await deps.store.accounts.webhookSecret(accountId) : undefined, request, reply);
        },
      }, async (request, reply) => deliver(deps, provider, secrets.get(request), request.params.account_id, request, reply));
      scope.post(`/webhooks/${provider}`, {
        onRequest: async (request, reply) => {
          const secret = configured[provider];
          if (secret === undefined) throw errors.noRoute(request.url.split("?")[0] ?? request.url);
          precheck(provider, secret, request, reply);
        },
      }, async (request, reply) => deliver(deps, provider, secrets.get(request), undefined, request, reply));
    }
  });
}

async function deliver(
  deps: AppDeps,
  provider: GitProvider,
  secret: string | undefined,
  accountId: string | undefined,
  request: FastifyRequest,
  reply: FastifyReply,
) {
  const spec = PROVIDERS[provider];
  const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
  if (secret === undefined || !spec.verify(secret, raw, request)) throw errors.webhookUnauthorized();

  const eventName = header(request, spec.eventHeader) ?? "";
  const deliveryHeader = header(request, spec.deliveryHeader);
  const input: DeliveryInput = {
    provider,
    delivery_id: deliveryHeader !== undefined && DELIVERY_ID.test(deliveryHeader) ? deliveryHeader : null,
    event: eventName.slice(0, 100),
    account_id: accountId,
  };
  let event: GitEvent;
  try {
    if (eventName === "") throw errors.webhookPayload(`missing ${spec.eventHeader} header`);
    if (deliveryHeader !== undefined && input.delivery_id === null) throw errors.webhookPayload(`${spec.deliveryHeader} header is malformed`);
    event = spec.parse(eventName, payloadOf(raw, header(request, "content-type")));
  } catch (error) {
    if (error instanceof KilnError && accountId !== undefined) {
      await recordRejected(deps.store, { ...input, account_id: accountId }, error.errors[0]?.message ?? "rejected");
    }
    throw error;
  }

  const { result, created } = await handleDelivery(deps.store, deps.commits, input, event);
  for (const build of created) deps.builds.signals.queued(build.build_uuid);
  request.log.info(
    { provider, event: input.event, delivery: input.delivery_id, kind: event.kind, builds: result.builds.length, skipped: result.skipped.length },
    "webhook delivery",
  );
  return reply.code(202).send(success(result));
}

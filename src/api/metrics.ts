/** Prometheus metrics of the HTTP layer; one registry per app so tests can build many apps. */
import { Counter, Histogram, Registry } from "prom-client";

export interface HttpMetrics {
  registry: Registry;
  observe(method: string, route: string, status: number, seconds: number): void;
  /** A request Node's parser or timeouts refused before Fastify saw it (408, 431, …). */
  refused(status: string): void;
  /** A connection closed at the connection cap. */
  shed(): void;
  /**
   * An answer served again from the answer cache (api/answer-cache.ts): in front of Fastify
   * (api/reuse-front.ts) or by the route, when the front left the request to Fastify.
   */
  reused(where: "front" | "route"): void;
  /** A webhook delivery attempt this node made (outbound/webhook-deliverer.ts), by what followed. */
  webhookAttempt(result: "delivered" | "retry" | "failed"): void;
}

export function createHttpMetrics(): HttpMetrics {
  const registry = new Registry();
  // prom-client's default process metrics are left out on purpose: their GC observer alone
  // cost ~15% of request throughput in bench/http.ts.
  const requests = new Counter({
    name: "kiln_http_requests_total",
    help: "HTTP requests by route pattern, method and status",
    labelNames: ["method", "route", "status"] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: "kiln_http_request_duration_seconds",
    help: "HTTP request latency by route pattern and method",
    labelNames: ["method", "route"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [registry],
  });
  const refused = new Counter({
    name: "kiln_http_refused_requests_total",
    help: "Requests refused by the HTTP parser or its timeouts before routing (400, 408, 413, 414, 431, 505), by status",
    labelNames: ["status"] as const,
    registers: [registry],
  });
  const reused = new Counter({
    name: "kiln_http_answers_reused_total",
    help: "Answers to hot reads served again because nothing was committed since they were made, by where: front (before Fastify) or route",
    labelNames: ["where"] as const,
    registers: [registry],
  });
  // Both series exist from the start, at 0, so a rate over them never starts with a gap.
  reused.inc({ where: "front" }, 0);
  reused.inc({ where: "route" }, 0);
  const reusedAt = { front: reused.labels("front"), route: reused.labels("route") };
  const shed = new Counter({
    name: "kiln_http_connections_shed_total",
    help: "Connections closed because the connection cap was reached",
    registers: [registry],
  });
  const webhookAttempts = new Counter({
    name: "kiln_webhook_attempts_total",
    help: "Webhook delivery attempts made by this node, by result: delivered (2xx), retry (failed, tried again later), failed (failed, given up)",
    labelNames: ["result"] as const,
    registers: [registry],
  });
  const children = new Map<string, { count: { inc(): void }; time: { observe(v: number): void } }>();
  return {
    registry,
    refused: (status) => refused.inc({ status }),
    shed: () => shed.inc(),
    reused: (where) => reusedAt[where].inc(),
    webhookAttempt: (result) => webhookAttempts.inc({ result }),
    observe(method, route, status, seconds) {
      // prom-client hashes the label object on every call; the few label sets seen are looked
      // up once and their children kept (4% of a cached token verify's CPU before).
      const key = `${method} ${status} ${route}`;
      let child = children.get(key);
      if (!child) {
        child = { count: requests.labels(method, route, String(status)), time: latency.labels(method, route) };
        // Routes are patterns, methods and statuses few: the set is small, but bounded anyway.
        if (children.size < 10_000) children.set(key, child);
      }
      child.count.inc();
      child.time.observe(seconds);
    },
  };
}

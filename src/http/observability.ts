/**
 * One JSON access-log line per request (method, path, status, ms, request id, user id) and the
 * Prometheus metrics behind GET /metrics: requests by route and status, a latency histogram,
 * and the process's memory (prom-client's default collectors).
 */
import { Elysia } from "elysia";
import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Logger } from "../lib/log";
import type { RequestContexts } from "./request-context";

export interface HttpMetrics {
  registry: Registry;
  requests: Counter<"method" | "route" | "status">;
  latency: Histogram<"method" | "route">;
}

export function createMetrics(): HttpMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "confab_" });
  return {
    registry,
    requests: new Counter({
      name: "confab_http_requests_total",
      help: "HTTP requests by route pattern and status",
      labelNames: ["method", "route", "status"],
      registers: [registry],
    }),
    latency: new Histogram({
      name: "confab_http_request_duration_seconds",
      help: "HTTP request latency by route pattern",
      labelNames: ["method", "route"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
  };
}

export function observability(o: { contexts: RequestContexts; log: Logger; metrics: HttpMetrics }) {
  const access = o.log.tag("http");
  return new Elysia({ name: "observability" }).onAfterResponse({ as: "global" }, ({ request, set, route, path }) => {
    const m = o.contexts.get(request);
    if (!m) return;
    const ms = performance.now() - m.start;
    const status = typeof set.status === "number" ? set.status : 200;
    // Unmatched paths share one label, so scanners cannot blow up the metric's cardinality.
    const routeLabel = route || "unmatched";
    o.metrics.requests.inc({ method: request.method, route: routeLabel, status: String(status) });
    o.metrics.latency.observe({ method: request.method, route: routeLabel }, ms / 1000);
    if (access.enabled("info")) {
      access.info("request", {
        method: request.method,
        path,
        status,
        ms: Math.round(ms * 100) / 100,
        request_id: m.id,
        user_id: m.identity?.userId ?? null,
      });
    }
  });
}

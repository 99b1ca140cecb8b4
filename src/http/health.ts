/** Liveness, readiness and metrics for orchestrators and Prometheus (CONTRACT §1). */
import { Elysia } from "elysia";
import type { Db } from "../db/open";
import type { HttpMetrics } from "./observability";

export function healthRoutes(o: { db: Db; metrics: HttpMetrics; isShuttingDown: () => boolean }) {
  const ping = o.db.query("SELECT 1");
  return new Elysia({ name: "health", detail: { tags: ["Health"] } })
    .get("/healthz", () => ({ status: "ok" }), { detail: { summary: "The process is running" } })
    .get(
      "/readyz",
      ({ set }) => {
        try {
          if (o.isShuttingDown()) throw new Error("shutting down");
          ping.get();
          return { status: "ready" };
        } catch {
          set.status = 503;
          return { status: "unavailable" };
        }
      },
      { detail: { summary: "The database answers and the server is not shutting down" } },
    )
    .get(
      "/metrics",
      async ({ set }) => {
        set.headers["content-type"] = o.metrics.registry.contentType;
        return o.metrics.registry.metrics();
      },
      { detail: { summary: "Prometheus text format" } },
    );
}

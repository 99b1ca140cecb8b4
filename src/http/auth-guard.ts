/**
 * Who is calling, and may they (CONTRACT §3–5). A global request hook authenticates any bearer
 * token and applies the general rate limit (per user when authenticated, per IP otherwise);
 * the `auth` / `admin` macros then refuse callers a route does not accept. Both run before
 * schema validation, so an anonymous caller learns "401", not which fields were wrong.
 */
import { Elysia } from "elysia";
import { AppError } from "../lib/errors";
import type { RateDecision, RateLimiter } from "../lib/rate-limiter";
import type { AuthService, Identity } from "../auth/service";
import type { RequestContexts, RequestMeta } from "./request-context";

export interface GuardOptions {
  contexts: RequestContexts;
  auth: AuthService;
  /** The general bucket for /api/v1. */
  limiter: RateLimiter;
  /** The tight bucket for login/register/refresh, per IP. */
  authLimiter: RateLimiter;
}

function bearer(request: Request): string | null {
  const h = request.headers.get("authorization");
  if (!h) return null;
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  return m ? m[1]! : "";
}

/**
 * Whether the general rate limit applies: paths under /api/ and GraphQL operations, which
 * share the REST bucket (CONTRACT §4). Checked without the cost of parsing the whole URL.
 */
function isLimitedPath(url: string): boolean {
  const path = url.indexOf("/", url.indexOf("//") + 2);
  return url.startsWith("/api/", path) || url.startsWith("/graphql", path);
}

function setRateHeaders(headers: Record<string, unknown>, d: RateDecision) {
  headers["x-ratelimit-limit"] = String(d.limit);
  headers["x-ratelimit-remaining"] = String(d.remaining);
  headers["x-ratelimit-reset"] = String(d.reset);
  headers["x-ratelimit-window"] = String(d.windowSeconds);
}

function limit(limiter: RateLimiter, key: string, headers: Record<string, unknown>) {
  const d = limiter.take(key);
  setRateHeaders(headers, d);
  if (!d.allowed) throw new AppError("RATE_LIMITED", "Too many requests; slow down", undefined, d.retryAfter);
}

export function authGuard(o: GuardOptions) {
  const meta = (request: Request): RequestMeta => o.contexts.get(request)!;

  return new Elysia({ name: "auth-guard" })
    // onRequest, not onTransform: it runs before routing and body parsing, so requests to unknown
    // routes and with unparsable bodies are counted and carry X-RateLimit-* too (CONTRACT §4).
    .onRequest(async ({ request, set }) => {
      const m = meta(request);
      const token = bearer(request);
      if (token !== null) {
        try {
          m.identity = token ? await o.auth.authenticate(token) : null;
          if (!token) m.authError = new AppError("INVALID_TOKEN", "The Authorization header must be `Bearer <token>`");
        } catch (e) {
          m.authError = e instanceof AppError ? e : new AppError("INVALID_TOKEN", "The access token is not valid");
        }
      }
      if (isLimitedPath(request.url)) limit(o.limiter, m.identity ? `u:${m.identity.userId}` : `ip:${m.ip}`, set.headers);
    })
    .macro({
      /** The route needs a caller with a live session. */
      auth: {
        transform({ request }) {
          const m = meta(request);
          if (!m.identity) throw m.authError ?? new AppError("AUTH_REQUIRED", "This endpoint needs an access token");
        },
        resolve({ request }) {
          return { identity: meta(request).identity as Identity };
        },
      },
      /** The route needs an administrator. */
      admin: {
        transform({ request }) {
          const m = meta(request);
          if (!m.identity) throw m.authError ?? new AppError("AUTH_REQUIRED", "This endpoint needs an access token");
          if (m.identity.role !== "admin") throw new AppError("FORBIDDEN", "Administrators only");
        },
        resolve({ request }) {
          return { identity: meta(request).identity as Identity };
        },
      },
      /** Login, register, refresh: a tight per-IP bucket against password guessing. */
      authLimited: {
        transform({ request, set }) {
          const d = o.authLimiter.take(`ip:${meta(request).ip}`);
          if (!d.allowed) {
            setRateHeaders(set.headers, d);
            throw new AppError("RATE_LIMITED", "Too many attempts; wait before trying again", undefined, d.retryAfter);
          }
        },
      },
    });
}

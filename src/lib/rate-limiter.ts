/**
 * Token buckets keyed by client (CONTRACT §4). Each key may burst up to `limit` requests and
 * refills continuously at limit/window, so a client that paces itself is never cut off at a
 * window edge. Memory is bounded: full buckets are dropped by `sweep`, and the map has a cap.
 */
import { AppError } from "./errors";

export interface RateDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Unix seconds at which the bucket is full again. */
  reset: number;
  windowSeconds: number;
  /** Seconds until one request is allowed again (0 when allowed). */
  retryAfter: number;
}

interface Bucket {
  tokens: number;
  updated: number;
}

/** Past this many tracked clients, the oldest entries are dropped (a flood of spoofed keys). */
const MAX_KEYS = 100_000;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;

  constructor(
    readonly limit: number,
    readonly windowSeconds: number,
    private readonly now: () => number = Date.now,
  ) {
    this.perMs = limit / (windowSeconds * 1000);
  }

  /** Take one token for `key`. */
  take(key: string): RateDecision {
    const t = this.now();
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= MAX_KEYS) this.evictOldest();
      b = { tokens: this.limit, updated: t };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.limit, b.tokens + (t - b.updated) * this.perMs);
      b.updated = t;
    }
    const allowed = b.tokens >= 1;
    if (allowed) b.tokens -= 1;
    const missing = this.limit - b.tokens;
    return {
      allowed,
      limit: this.limit,
      remaining: Math.floor(b.tokens),
      reset: Math.ceil((t + missing / this.perMs) / 1000),
      windowSeconds: this.windowSeconds,
      retryAfter: allowed ? 0 : Math.max(1, Math.ceil((1 - b.tokens) / this.perMs / 1000)),
    };
  }

  /** Take a token or throw 429 RATE_LIMITED. */
  enforce(key: string): RateDecision {
    const d = this.take(key);
    if (!d.allowed) throw new AppError("RATE_LIMITED", "Too many requests; slow down", undefined, d.retryAfter);
    return d;
  }

  /** Drop buckets that have refilled completely: they carry no information. */
  sweep() {
    const t = this.now();
    for (const [k, b] of this.buckets) {
      if (b.tokens + (t - b.updated) * this.perMs >= this.limit) this.buckets.delete(k);
    }
  }

  private evictOldest() {
    const first = this.buckets.keys().next();
    if (!first.done) this.buckets.delete(first.value);
  }
}

/**
 * The push worker: takes due jobs from the durable outbox, sends them through the provider of
 * the device's platform, and records the outcome. Retries back off exponentially with jitter
 * and honour Retry-After; after MAX_ATTEMPTS a job is marked failed; a token the provider calls
 * dead removes its device.
 *
 * A job is claimed (counted as an attempt, leased for LEASE_MS) in a committed write before it
 * is sent, so a crash mid-send retries it after the lease instead of losing it. The provider
 * collapse key (the conversation) makes such a rare second send replace the first on the device.
 */
import type { BatchedWriter } from "../db/batched-writer";
import type { Logger } from "../lib/log";
import type { JobRow, Platform, PushStore } from "./store";
import type { NotificationPayload, PushProvider, SendResult } from "./providers/provider";

export const MAX_ATTEMPTS = 8;
const LEASE_MS = 60_000;
const BASE_DELAY_MS = 2_000;
const MAX_DELAY_MS = 3_600_000;
const BATCH = 200;
/** Pushes in flight at once: enough to hide provider latency, few enough to stay polite. */
const CONCURRENCY = 64;
/** How long a push service keeps trying to reach an offline device. */
const TTL_SECONDS = 24 * 3600;
/** Failed jobs stay this long for operators to see, then are pruned. */
const KEEP_FAILED_MS = 24 * 3600 * 1000;
const PRUNE_EVERY_MS = 60_000;
/** After an unexpected error the worker looks again this much later. */
const RETRY_WORKER_MS = 5_000;

export interface OutboxOptions {
  random?: () => number;
}

export class PushOutbox {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private running = false;
  private again = false;
  private stopped = false;
  private prunedAt = 0;
  readonly stats = { sent: 0, retried: 0, failed: 0, dead: 0 };

  constructor(
    private readonly store: PushStore,
    private readonly writer: BatchedWriter,
    private readonly providers: ReadonlyMap<Platform, PushProvider>,
    private readonly log: Logger,
    private readonly opts: OutboxOptions = {},
  ) {}

  /** Start working (also picks up jobs left by a previous run). */
  start() {
    this.stopped = false;
    this.wake();
  }

  /** New jobs were committed: look now rather than at the next timer. */
  wake() {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.schedule(0);
  }

  stop() {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    for (const p of this.providers.values()) p.close();
  }

  depth() {
    return this.store.depth();
  }

  /**
   * Send `payload` to each device right now, outside the queue, and return each provider's
   * answer (`confab push test`). Dead tokens are removed as in normal delivery.
   */
  async sendNow(devices: { user_id: number; device_id: string; platform: Platform; token: string }[], payload: NotificationPayload) {
    return Promise.all(
      devices.map(async (d) => {
        const provider = this.providers.get(d.platform);
        let result: SendResult;
        try {
          if (!provider?.enabled) throw new Error(`no ${d.platform} provider configured`);
          result = await provider.send(d.token, { payload, collapseKey: "test", ttlSeconds: 60 });
        } catch (e) {
          result = { kind: "failed", status: 0, reason: (e as Error).message };
        }
        if (result.kind === "dead") await this.writer.run(() => this.store.deleteDevice(d.user_id, d.device_id));
        return { device_id: d.device_id, platform: d.platform, result };
      }),
    );
  }

  private schedule(delayMs: number) {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.drain(), Math.max(0, delayMs));
    this.timer.unref?.();
  }

  private async drain() {
    if (this.running || this.stopped) return;
    this.running = true;
    let next: number | null = null;
    try {
      for (;;) {
        this.again = false;
        const now = Date.now();
        const due = this.store.selectDue(now, BATCH);
        if (!due.length) break;
        await this.writer.run(() => due.forEach((j) => this.store.claim(j.id, now + LEASE_MS)));
        await runLimited(due, CONCURRENCY, (j) => this.deliver(j));
      }
      if (Date.now() - this.prunedAt > PRUNE_EVERY_MS) {
        this.prunedAt = Date.now();
        await this.writer.run(() => this.store.pruneFailed(Date.now() - KEEP_FAILED_MS));
      }
      next = this.store.nextDueAt();
    } catch (e) {
      // The database may be busy or closing: look again a little later rather than never.
      if (!this.stopped) this.log.error("push worker failed", { error: e });
      next = Date.now() + RETRY_WORKER_MS;
    } finally {
      this.running = false;
    }
    if (this.stopped) return;
    if (this.again) return this.schedule(0);
    if (next !== null) this.schedule(Math.min(next - Date.now(), MAX_DELAY_MS));
  }

  private async deliver(job: JobRow) {
    const provider = this.providers.get(job.platform);
    let result: SendResult;
    try {
      if (!provider?.enabled) throw new Error(`no ${job.platform} provider configured`);
      result = await provider.send(job.token, { payload: JSON.parse(job.payload), collapseKey: job.collapse_key, ttlSeconds: TTL_SECONDS });
    } catch (e) {
      result = { kind: "retry", status: 0, reason: (e as Error).message };
    }
    // A failed write leaves this job claimed: it is tried again when the lease ends. It must not
    // end the whole batch, whose other jobs are still being sent.
    await this.writer.run(() => this.record(job, result)).catch((error) => this.log.error("push outcome not recorded", { job: job.id, error }));
  }

  /** Write the outcome of one attempt. `job.attempts` is the count before this attempt's claim. */
  private record(job: JobRow, r: SendResult) {
    const now = Date.now();
    const attempt = job.attempts + 1;
    const where = { user_id: job.user_id, device_id: job.device_id, platform: job.platform, attempt };
    switch (r.kind) {
      case "ok":
        this.stats.sent++;
        this.store.complete(job.id, job.payload, now);
        this.store.touchDevice(job.user_id, job.device_id, now);
        return;
      case "dead":
        this.stats.dead++;
        this.log.info("push token is dead; device removed", { ...where, status: r.status, reason: r.reason });
        this.store.deleteDevice(job.user_id, job.device_id); // its jobs go with it
        return;
      case "retry":
        if (attempt < MAX_ATTEMPTS) {
          this.stats.retried++;
          this.store.retryAt(job.id, now + this.delay(attempt, r.retryAfterSeconds), `${r.status} ${r.reason}`);
          return;
        }
        return this.giveUp(job, where, r, now); // out of attempts
      case "failed":
        return this.giveUp(job, where, r, now);
    }
  }

  private giveUp(job: JobRow, where: Record<string, unknown>, r: { status: number; reason: string }, now: number) {
    this.stats.failed++;
    this.log.warn("push failed", { ...where, status: r.status, reason: r.reason });
    this.store.fail(job.id, now, `${r.status} ${r.reason}`);
  }

  /** Exponential backoff with full jitter on its upper half; a longer Retry-After wins. */
  private delay(attempt: number, retryAfterSeconds?: number): number {
    const exp = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** (attempt - 1));
    const jittered = exp / 2 + (this.opts.random ?? Math.random)() * (exp / 2);
    // Whole milliseconds: next_attempt_at is an INTEGER column of a STRICT table, which refuses
    // a fractional value (the retry was then never recorded and waited out the 60 s lease).
    return Math.round(Math.max(jittered, Math.min(retryAfterSeconds ?? 0, 86_400) * 1000));
  }
}

/** Run `fn` over `items` with at most `limit` running at once. */
async function runLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * Group commit (ARCHITECTURE rule 7). Writes that arrive together — typically many clients
 * sending at once — run in ONE transaction, so the fsync that makes them durable is paid once
 * per batch instead of once per message. Each caller's promise settles only after COMMIT
 * returned: an acknowledged write is on disk.
 *
 * Every job runs inside its own SAVEPOINT: a job that throws is rolled back alone and rejects
 * its own caller; the rest of the batch commits. After-commit callbacks (publishing domain
 * events) run once the batch is durable, in job order.
 *
 * @example
 *   const id = await writer.run((after) => {
 *     const id = store.insertMessage(...);
 *     after(() => bus.publish("message.created", {...}));
 *     return id;
 *   });
 */
import type { Db } from "./open";
import { AppError } from "../lib/errors";

/** Register work to do once the transaction has committed. */
export type AfterCommit = (fn: () => void) => void;
export type Job<T> = (after: AfterCommit) => T;

interface Pending {
  job: Job<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export interface BatchedWriterOptions {
  /** Most jobs per transaction: bounds how long one commit holds the event loop. */
  maxBatch?: number;
  /** Most jobs waiting: past it, run() rejects at once instead of queueing without limit. */
  maxQueue?: number;
  onAfterCommitError?: (e: unknown) => void;
}

/**
 * The write queue is at its bound (ARCHITECTURE rule 6). An AppError, so every transport answers
 * 503 SERVICE_UNAVAILABLE with Retry-After instead of an unexplained 500.
 */
export class QueueFullError extends AppError {
  override name = "QueueFullError";

  constructor(message = "The server is busy writing; retry shortly") {
    super("SERVICE_UNAVAILABLE", message, undefined, 1);
  }
}

export class BatchedWriter {
  private queue: Pending[] = [];
  private scheduled = false;
  private readonly maxBatch: number;
  private readonly maxQueue: number;
  private readonly begin;
  private readonly commit;
  private readonly rollback;
  private readonly savepoint;
  private readonly release;
  private readonly rollbackTo;
  private readonly rollbackListeners: (() => void)[] = [];
  /** Batches committed and jobs run, for metrics and the benchmark. */
  readonly stats = { batches: 0, jobs: 0 };

  constructor(
    private readonly db: Db,
    private readonly opts: BatchedWriterOptions = {},
  ) {
    this.maxBatch = opts.maxBatch ?? 512;
    this.maxQueue = opts.maxQueue ?? 20_000;
    this.begin = db.prepare("BEGIN IMMEDIATE");
    this.commit = db.prepare("COMMIT");
    this.rollback = db.prepare("ROLLBACK");
    this.savepoint = db.prepare("SAVEPOINT job");
    this.release = db.prepare("RELEASE job");
    this.rollbackTo = db.prepare("ROLLBACK TO job");
  }

  /** Queue `job` for the next batch; resolves with its result once committed. */
  run<T>(job: Job<T>): Promise<T> {
    if (this.queue.length >= this.maxQueue) return Promise.reject(new QueueFullError());
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ job, resolve: resolve as (v: unknown) => void, reject });
      this.schedule();
    });
  }

  private schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    // setImmediate, not a microtask: requests already read by the server get to enqueue
    // their writes before this batch closes.
    setImmediate(() => this.flush());
  }

  /** Jobs waiting for the next batch. */
  get pending(): number {
    return this.queue.length;
  }

  /**
   * Commit one batch, then yield before the next: draining a long queue in one go would hold
   * the event loop for every batch of it, which maxBatch is there to prevent.
   */
  private flush() {
    this.scheduled = false;
    if (!this.queue.length) return;
    this.commitBatch(this.queue.splice(0, this.maxBatch));
    if (this.queue.length) this.schedule();
  }

  /**
   * Register `fn` to run whenever writes are rolled back (a job failed, or a whole batch): an
   * in-memory cache filled from rows written inside the rolled-back work must be dropped.
   */
  onRollback(fn: () => void) {
    this.rollbackListeners.push(fn);
  }

  private rolledBack() {
    for (const fn of this.rollbackListeners) fn();
  }

  private commitBatch(batch: Pending[]) {
    const results: { ok: boolean; value: unknown; after: (() => void)[] }[] = [];
    try {
      this.begin.run();
      for (const p of batch) results.push(this.runJob(p.job));
      this.commit.run();
    } catch (e) {
      // BEGIN or COMMIT itself failed (disk full, I/O error, a deferred constraint): nothing of
      // this batch is durable. A failing ROLLBACK must not keep the callers waiting forever.
      try {
        if (this.db.inTransaction) this.rollback.run();
      } catch {}
      this.rolledBack();
      for (const p of batch) p.reject(e);
      return;
    }
    this.stats.batches++;
    this.stats.jobs += batch.length;
    batch.forEach((p, i) => {
      const r = results[i]!;
      if (!r.ok) return p.reject(r.value);
      for (const fn of r.after) {
        try {
          fn();
        } catch (e) {
          this.opts.onAfterCommitError?.(e);
        }
      }
      p.resolve(r.value);
    });
  }

  private runJob(job: Job<unknown>) {
    const after: (() => void)[] = [];
    this.savepoint.run();
    try {
      const value = job((fn) => after.push(fn));
      this.release.run();
      return { ok: true, value, after };
    } catch (e) {
      // Some failures (disk full, I/O error) make SQLite roll back the whole transaction: the
      // batch fails with the job's own error, not with "no such savepoint".
      if (!this.db.inTransaction) throw e;
      this.rollbackTo.run();
      this.release.run();
      this.rolledBack();
      return { ok: false, value: e, after: [] };
    }
  }
}

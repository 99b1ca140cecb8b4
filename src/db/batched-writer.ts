/**
 * Group commit (ARCHITECTURE rule 7). Writes that arrive together — typically many clients
 * sending at once — run in ONE transaction, so the fsync that makes them durable is paid once
 * per batch instead of once per message. Each caller's promise settles only once its batch is
 * on stable storage: an acknowledged write survives kill -9 and a power cut alike.
 *
 * The fsync is taken off the event loop. A batch commits with `synchronous = NORMAL` (SQLite
 * appends it to the WAL without syncing), then the WAL file is fdatasync'ed on Bun's thread pool;
 * only when that returns do the batch's callers settle and its after-commit callbacks run. That
 * is the sync `synchronous = FULL` would have done inside COMMIT, except that the server keeps
 * parsing and validating meanwhile, and what queued up during one sync commits as one batch
 * after it: at a moderate rate, that is what makes a batch more than one send long, so each page
 * goes to the WAL once per batch rather than once per send. Other commits on the connection
 * (the direct write transactions of auth and users) still run with its FULL. A committed batch
 * is visible to this process's readers for the fraction of a millisecond its sync takes;
 * nothing is acknowledged or published before it is durable.
 *
 * Under a steady stream of writes, a batch commits at most every `commitGapMs` (group commit
 * delay, as PostgreSQL's commit_delay): what arrives meanwhile joins it. Each commit writes every
 * page it touched to the WAL, and sends to different conversations touch different pages, so at
 * 5,000 messages/s batches of 7 wrote 13-20 KiB per message and spent most of the server's CPU
 * on it; with a 5 ms gap they hold ~28 sends and write 7.5 KiB each. The delay applies only
 * when the previous commit was less than the gap ago: the first write after a quiet moment
 * commits at once, and a full batch (maxBatch) never waits.
 *
 * The write lock is taken without blocking the event loop. Another connection may hold it: the
 * checkpointer's RESTART for 20-40 ms every second or so under sustained writes, the CLI for a
 * whole command. SQLite's busy handler would sleep the server's one thread meanwhile (33 ms
 * measured, and up to 5 s), so BEGIN runs with no busy wait and, when the lock is taken, the
 * batch goes back to the front of the queue and is retried every millisecond, for at most
 * `lockTimeoutMs`; meanwhile the server keeps reading, answering and delivering.
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
import { closeSync, fdatasync, openSync } from "node:fs";
import { BUSY_TIMEOUT_MS, type Db } from "./open";
import { AppError } from "../lib/errors";

/** Register work to do once the transaction has committed. */
export type AfterCommit = (fn: () => void) => void;
export type Job<T> = (after: AfterCommit) => T;

interface Pending {
  job: Job<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

interface JobResult {
  ok: boolean;
  value: unknown;
  after: (() => void)[];
}

/** A batch that committed: what each job returned, waiting for its sync to be settled. */
interface Committed {
  batch: Pending[];
  results: JobResult[];
}

export interface BatchedWriterOptions {
  /** Most jobs per transaction: bounds how long one commit holds the event loop. */
  maxBatch?: number;
  /** Most jobs waiting: past it, run() rejects at once instead of queueing without limit. */
  maxQueue?: number;
  /** Least time between the starts of two commits while writes keep coming, ms (0: none). */
  commitGapMs?: number;
  /** How long a batch waits for a write lock held by another connection before it fails, ms. */
  lockTimeoutMs?: number;
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
  /** The WAL path when the writer syncs it itself (a file database), else null (in memory). */
  private readonly walPath: string | null;
  private walFd: number | null = null;
  /** A WAL sync is in flight: the batch it makes durable waits for it, and so does the queue. */
  private syncing = false;
  private readonly commitGapMs: number;
  /** When the last batch began to commit (performance.now()). */
  private lastCommitAt = -Infinity;
  /** A flush waiting on a timer: for the commit gap to pass, or to try the write lock again. */
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly lockTimeoutMs: number;
  /** Since when the next batch has found the write lock taken (performance.now()), or null. */
  private lockedSince: number | null = null;
  /** Batches committed, jobs run and WAL syncs done, for metrics and the benchmark. */
  readonly stats = { batches: 0, jobs: 0, syncs: 0 };

  constructor(
    private readonly db: Db,
    private readonly opts: BatchedWriterOptions = {},
  ) {
    this.maxBatch = opts.maxBatch ?? 512;
    this.maxQueue = opts.maxQueue ?? 20_000;
    this.commitGapMs = opts.commitGapMs ?? 0;
    this.lockTimeoutMs = opts.lockTimeoutMs ?? BUSY_TIMEOUT_MS;
    this.begin = db.prepare("BEGIN IMMEDIATE");
    this.commit = db.prepare("COMMIT");
    this.rollback = db.prepare("ROLLBACK");
    this.savepoint = db.prepare("SAVEPOINT job");
    this.release = db.prepare("RELEASE job");
    this.rollbackTo = db.prepare("ROLLBACK TO job");
    this.walPath = db.filename && db.filename !== ":memory:" ? `${db.filename}-wal` : null;
  }

  /** Resolves once every job queued so far has committed and been synced (for shutdown). */
  async drained(): Promise<void> {
    while (this.queue.length || this.scheduled || this.syncing || this.timer) await Bun.sleep(1);
  }

  /** Release the WAL file handle (the database itself is closed by its owner). */
  close() {
    if (this.walFd !== null) closeSync(this.walFd);
    this.walFd = null;
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
    // A full batch does not wait out the gap.
    if (this.timer && this.lockedSince === null && this.queue.length >= this.maxBatch) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.scheduled || this.timer) return;
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
    // While a WAL sync is in flight, let the queue grow: what would commit now would wait for
    // the next sync anyway, and one commit of everything once it returns writes each page once.
    if (!this.queue.length || this.syncing) return;
    const wait = this.lastCommitAt + this.commitGapMs - performance.now();
    if (wait >= 1 && this.queue.length < this.maxBatch) return this.flushIn(wait);
    if (!this.takeLock()) return;
    this.lastCommitAt = performance.now();
    this.commitBatch(this.queue.splice(0, this.maxBatch));
    if (this.queue.length) this.schedule();
  }

  private flushIn(ms: number) {
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, ms);
  }

  /**
   * BEGIN IMMEDIATE without SQLite's busy wait. When another connection holds the lock, try
   * again in a millisecond (false); past lockTimeoutMs, fail the waiting batch with SQLITE_BUSY.
   */
  private takeLock(): boolean {
    // Pragmas through exec, not prepared statements: a prepared busy_timeout pragma keeps the
    // value it had when first run, and a prepared synchronous one missed its first run.
    if (this.walPath) this.db.exec("PRAGMA synchronous = NORMAL");
    this.db.exec("PRAGMA busy_timeout = 0");
    try {
      this.begin.run();
      this.lockedSince = null;
      return true;
    } catch (e) {
      if ((e as { code?: string }).code !== "SQLITE_BUSY") return this.failBatch(e);
      this.lockedSince ??= performance.now();
      if (performance.now() - this.lockedSince >= this.lockTimeoutMs) {
        this.lockedSince = null;
        return this.failBatch(e);
      }
      this.flushIn(1);
      return false;
    } finally {
      this.db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
      if (this.walPath && !this.db.inTransaction) this.db.exec("PRAGMA synchronous = FULL");
    }
  }

  /** BEGIN failed for good: the next batch's callers get the error; the queue moves on. */
  private failBatch(e: unknown): false {
    for (const p of this.queue.splice(0, this.maxBatch)) p.reject(e);
    if (this.queue.length) this.schedule();
    return false;
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
    const results: JobResult[] = [];
    try {
      for (const p of batch) results.push(this.runJob(p.job));
      this.commit.run();
    } catch (e) {
      // COMMIT itself failed, or SQLite rolled the whole transaction back under a job (disk full,
      // I/O error, a deferred constraint): nothing of this batch is durable. A failing ROLLBACK
      // must not keep the callers waiting forever.
      try {
        if (this.db.inTransaction) this.rollback.run();
      } catch {}
      this.rolledBack();
      for (const p of batch) p.reject(e);
      return;
    } finally {
      if (this.walPath) this.db.exec("PRAGMA synchronous = FULL");
    }
    this.stats.batches++;
    this.stats.jobs += batch.length;
    if (this.walPath) this.syncWal({ batch, results });
    else this.settle({ batch, results });
  }

  /**
   * fdatasync the WAL on the thread pool, then settle the batch. One sync at a time: flush
   * holds the queue meanwhile, so batches settle in commit order (a message is never published
   * before an earlier one) and what queued up commits in one go once the sync returns.
   */
  private syncWal(committed: Committed) {
    this.syncing = true;
    const done = (error: unknown) => {
      this.syncing = false;
      this.stats.syncs++;
      // A failed fsync leaves the batch's durability unknown: its callers get the error (a
      // client retries with its client_message_id, which is idempotent), nothing is published.
      if (error) committed.batch.forEach((p) => p.reject(error));
      else this.settle(committed);
      if (this.queue.length) this.schedule();
    };
    try {
      this.walFd ??= openSync(this.walPath!, "r");
      fdatasync(this.walFd, done);
    } catch (e) {
      done(e);
    }
  }

  /** Run a durable batch's after-commit callbacks and settle its callers, in job order. */
  private settle({ batch, results }: Committed) {
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

  private runJob(job: Job<unknown>): JobResult {
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

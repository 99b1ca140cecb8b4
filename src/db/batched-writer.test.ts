/**
 * The group-commit writer on a real SQLite file: one transaction per batch, a savepoint per job,
 * after-commit callbacks only for what committed, a bounded queue.
 */
import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase, type Db } from "./open";
import { BatchedWriter, QueueFullError } from "./batched-writer";
import { AppError } from "../lib/errors";

const dir = mkdtempSync(join(tmpdir(), "confab-writer-"));
const handles: Database[] = [];
afterAll(() => {
  for (const h of handles) h.close();
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
let db: Db;
let path: string;

beforeEach(() => {
  path = join(dir, `w-${n++}.sqlite`);
  db = openDatabase(path);
  handles.push(db);
  db.exec("CREATE TABLE t (x INTEGER PRIMARY KEY) STRICT");
  // A deferred foreign key is checked at COMMIT only: the way to make COMMIT itself fail.
  db.exec("CREATE TABLE parent (id INTEGER PRIMARY KEY) STRICT");
  db.exec("CREATE TABLE child (parent_id INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED) STRICT");
});

const insert = (x: number) => db.query("INSERT INTO t (x) VALUES (?)").run(x);
const rows = () => db.query<{ x: number }, []>("SELECT x FROM t ORDER BY x").all().map((r) => r.x);

/** A second connection: sees only what was committed. */
function otherConnection(): Database {
  const h = new Database(path, { readonly: true });
  handles.push(h);
  return h;
}

function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: any }> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error) => ({ ok: false as const, error }),
  );
}

describe("BatchedWriter", () => {
  test("jobs queued in one tick commit in one transaction, in order, each resolving with its result", async () => {
    const w = new BatchedWriter(db);
    const seenInTransaction: boolean[] = [];
    const seenBefore: number[][] = [];
    const results = await Promise.all(
      Array.from({ length: 25 }, (_, i) =>
        w.run(() => {
          seenInTransaction.push(db.inTransaction);
          seenBefore.push(rows());
          insert(i);
          return i * 10;
        }),
      ),
    );
    expect(results).toEqual(Array.from({ length: 25 }, (_, i) => i * 10));
    expect(w.stats).toMatchObject({ batches: 1, jobs: 25 });
    expect(seenInTransaction.every(Boolean)).toBe(true);
    // Each job sees the jobs before it in the same batch.
    expect(seenBefore.map((r) => r.length)).toEqual(Array.from({ length: 25 }, (_, i) => i));
    expect(rows()).toHaveLength(25);
    expect(db.inTransaction).toBe(false);
  });

  test("jobs from a later tick go into a later batch", async () => {
    const w = new BatchedWriter(db);
    await w.run(() => insert(1));
    await Promise.all([w.run(() => insert(2)), w.run(() => insert(3))]);
    expect(w.stats).toMatchObject({ batches: 2, jobs: 3 });
  });

  test("maxBatch splits a long queue into several transactions, committed in order", async () => {
    const w = new BatchedWriter(db, { maxBatch: 4 });
    const order: number[] = [];
    await Promise.all(Array.from({ length: 10 }, (_, i) => w.run(() => insert(i)).then(() => order.push(i))));
    expect(w.stats).toMatchObject({ batches: 3, jobs: 10 });
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  test("between two batches the event loop gets a turn", async () => {
    const w = new BatchedWriter(db, { maxBatch: 2 });
    const log: string[] = [];
    const jobs = Array.from({ length: 6 }, (_, i) => w.run(() => (insert(i), log.push(`job${i}`))));
    // Queued after the writer's first flush was scheduled: must run before the last batch.
    setImmediate(() => log.push("io"));
    await Promise.all(jobs);
    expect(log.indexOf("io")).toBeGreaterThan(0);
    expect(log.indexOf("io")).toBeLessThan(log.length - 1);
  });

  test("commitGapMs: a steady stream commits at most once per gap; a write after a quiet moment and a full batch do not wait", async () => {
    const gap = 300;
    const w = new BatchedWriter(db, { commitGapMs: gap, maxBatch: 5 });
    const timed = async (p: Promise<unknown>) => {
      const t0 = performance.now();
      await p;
      return performance.now() - t0;
    };
    // Nothing committed lately: at once.
    const firstAt = performance.now();
    expect(await timed(w.run(() => insert(1)))).toBeLessThan(gap * 0.6);
    // Right behind it: these wait for the gap to pass since the first commit began, and go together.
    const waited = await timed(Promise.all([2, 3, 4].map((i) => w.run(() => insert(i)))));
    expect(performance.now() - firstAt).toBeGreaterThanOrEqual(gap - 5);
    expect(waited).toBeGreaterThan(gap * 0.5);
    expect(w.stats).toMatchObject({ batches: 2, jobs: 4 });
    // A full batch does not wait, though the last commit was just now.
    expect(await timed(Promise.all([5, 6, 7, 8, 9].map((i) => w.run(() => insert(i)))))).toBeLessThan(gap * 0.6);
    expect(w.stats).toMatchObject({ batches: 3, jobs: 9 });
    // After a quiet moment longer than the gap: at once again.
    await Bun.sleep(gap + 50);
    expect(await timed(w.run(() => insert(10)))).toBeLessThan(gap * 0.6);
    expect(rows()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    await w.drained();
    w.close();
  });

  test("a throwing job rejects alone: its writes are undone, the others commit", async () => {
    const w = new BatchedWriter(db);
    const boom = new Error("boom");
    const [a, b, c, d] = await Promise.all([
      settle(w.run(() => (insert(1), "a"))),
      settle(
        w.run(() => {
          insert(2);
          insert(3);
          throw boom;
        }),
      ),
      settle(w.run(() => (insert(4), "c"))),
      // A constraint error from SQLite is a job error too.
      settle(w.run(() => insert(1))),
    ]);
    expect(a).toEqual({ ok: true, value: "a" });
    expect(b).toEqual({ ok: false, error: boom });
    expect(c).toEqual({ ok: true, value: "c" });
    expect(d.ok).toBe(false);
    expect(String((d as any).error)).toMatch(/UNIQUE/);
    expect(rows()).toEqual([1, 4]);
    expect(otherConnection().query("SELECT count(*) AS n FROM t").get()).toEqual({ n: 2 });
    expect(w.stats.batches).toBe(1);
  });

  test("after-commit callbacks run once the batch is committed, in job order, and never for failed jobs", async () => {
    const w = new BatchedWriter(db);
    const reader = otherConnection();
    const log: string[] = [];
    const seen = (x: number) => reader.query<{ n: number }, [number]>("SELECT count(*) AS n FROM t WHERE x = ?").get(x)!.n;
    const p1 = w.run((after) => {
      insert(1);
      after(() => log.push(`after1 inTx=${db.inTransaction} visible=${seen(1)}`));
      return 1;
    });
    const p2 = w.run((after) => {
      insert(2);
      after(() => log.push("after2 (must not run)"));
      throw new Error("nope");
    });
    const p3 = w.run((after) => {
      insert(3);
      // Visible to another connection: committed, not just written.
      after(() => log.push(`after3 visible=${seen(3)}`));
      after(() => log.push("after3b"));
    });
    log.push("queued");
    const r1 = p1.then(() => log.push("resolved1"));
    const r3 = p3.then(() => log.push("resolved3"));
    await Promise.all([r1, r3, settle(p2)]);
    expect(log).toEqual(["queued", "after1 inTx=false visible=1", "after3 visible=1", "after3b", "resolved1", "resolved3"]);
  });

  test("a throwing after-commit callback is reported and does not fail its job", async () => {
    const errors: unknown[] = [];
    const w = new BatchedWriter(db, { onAfterCommitError: (e) => errors.push(e) });
    const ran: string[] = [];
    const v = await w.run((after) => {
      insert(1);
      after(() => {
        throw new Error("subscriber broke");
      });
      after(() => ran.push("next callback"));
      return "committed";
    });
    expect(v).toBe("committed");
    expect(ran).toEqual(["next callback"]);
    expect(errors.map(String)).toEqual(["Error: subscriber broke"]);
    expect(rows()).toEqual([1]);
  });

  test("maxQueue: past it run() rejects at once with QueueFullError (503); the queued jobs still commit", async () => {
    const w = new BatchedWriter(db, { maxQueue: 3 });
    const queued = [1, 2, 3].map((x) => w.run(() => insert(x)));
    const refused = await settle(w.run(() => insert(4)));
    await Promise.all(queued);
    expect(refused.ok).toBe(false);
    const e = (refused as any).error;
    expect(e).toBeInstanceOf(QueueFullError);
    // An AppError: the HTTP layer answers 503 with Retry-After, not 500.
    expect(e).toBeInstanceOf(AppError);
    expect(e).toMatchObject({ code: "SERVICE_UNAVAILABLE", status: 503, retryAfter: 1 });
    expect(rows()).toEqual([1, 2, 3]);
    // Room again once the batch is done.
    await w.run(() => insert(5));
    expect(rows()).toEqual([1, 2, 3, 5]);
  });

  test("a failure at COMMIT rejects the whole batch, runs no callbacks, and leaves the writer usable", async () => {
    const w = new BatchedWriter(db);
    const calls: string[] = [];
    const results = await Promise.all([
      settle(
        w.run((after) => {
          insert(1);
          after(() => calls.push("1"));
          return "fine on its own";
        }),
      ),
      // Passes at its savepoint, fails the deferred check at COMMIT.
      settle(w.run(() => db.query("INSERT INTO child (parent_id) VALUES (42)").run())),
      settle(w.run((after) => (insert(2), after(() => calls.push("2"))))),
    ]);
    expect(results.every((r) => !r.ok)).toBe(true);
    for (const r of results) expect(String((r as any).error)).toMatch(/FOREIGN KEY/);
    expect(calls).toEqual([]);
    expect(db.inTransaction).toBe(false);
    expect(rows()).toEqual([]);
    expect(db.query("SELECT count(*) AS n FROM child").get()).toEqual({ n: 0 });
    expect(w.stats.batches).toBe(0);

    await w.run(() => insert(7));
    expect(rows()).toEqual([7]);
    expect(w.stats.batches).toBe(1);
  });

  test("a write lock held elsewhere is waited for without blocking the event loop", async () => {
    const other = new Database(path);
    handles.push(other);
    other.exec("BEGIN IMMEDIATE");
    const w = new BatchedWriter(db);
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 5);
    const done = Promise.all([w.run(() => insert(1)), w.run(() => insert(2))]);
    await Bun.sleep(150);
    other.exec("COMMIT");
    await done;
    clearInterval(ticker);
    // With SQLite's busy wait the thread would have slept through the whole 150 ms.
    expect(ticks).toBeGreaterThan(10);
    expect(rows()).toEqual([1, 2]);
    // The connection keeps its busy timeout for the statements that do not go through the writer.
    expect(db.query("PRAGMA busy_timeout").get()).toEqual({ timeout: 5000 });
  });

  test("past lockTimeoutMs the waiting batch fails with SQLITE_BUSY, and the writer stays usable", async () => {
    const other = new Database(path);
    handles.push(other);
    other.exec("BEGIN IMMEDIATE");
    const w = new BatchedWriter(db, { lockTimeoutMs: 100 });
    const r = await settle(Promise.all([w.run(() => insert(1)), w.run(() => insert(2))]));
    expect(r.ok).toBe(false);
    expect(String((r as any).error)).toMatch(/locked|busy/i);
    expect(db.query("PRAGMA synchronous").get()).toEqual({ synchronous: 2 });
    other.exec("ROLLBACK");
    await w.run(() => insert(3));
    expect(rows()).toEqual([3]);
  });

  test("callers settle and callbacks run only after the WAL was synced; the connection stays FULL for other commits", async () => {
    const w = new BatchedWriter(db);
    const seen: { syncs: number; synchronous: unknown }[] = [];
    const syncsWhenResolved = await Promise.all(
      [1, 2, 3].map((i) =>
        w
          .run((after) => {
            insert(i);
            after(() => seen.push({ syncs: w.stats.syncs, synchronous: db.query("PRAGMA synchronous").get() }));
          })
          .then(() => w.stats.syncs),
      ),
    );
    expect(syncsWhenResolved.every((n) => n >= 1)).toBe(true);
    // The sync completed before the callbacks ran (its count is taken when it returns); and by
    // then the connection was back to FULL (2) for commits that do not go through the writer.
    expect(seen).toEqual([1, 2, 3].map(() => ({ syncs: 1, synchronous: { synchronous: 2 } })));
    w.close();
  });

  test("an in-memory database has no WAL to sync: batches settle at COMMIT", async () => {
    const mem = openDatabase(":memory:");
    handles.push(mem);
    mem.exec("CREATE TABLE t (x INTEGER PRIMARY KEY) STRICT");
    const w = new BatchedWriter(mem);
    await Promise.all([w.run(() => mem.query("INSERT INTO t VALUES (1)").run()), w.run(() => mem.query("INSERT INTO t VALUES (2)").run())]);
    expect(w.stats).toEqual({ batches: 1, jobs: 2, syncs: 0 });
  });

  test("a WAL that cannot be synced fails its batch's callers and publishes nothing", async () => {
    const w = new BatchedWriter(db);
    await w.run(() => insert(1)); // the WAL exists and the writer holds it open…
    w.close(); // …until now; it reopens it by name at the next sync, and the name is gone
    rmSync(`${path}-wal`);
    const calls: string[] = [];
    const r = await settle(w.run((after) => (insert(2), after(() => calls.push("published")))));
    expect(r.ok).toBe(false);
    expect(String((r as any).error)).toMatch(/ENOENT/);
    expect(calls).toEqual([]);
    await w.drained();
  });
});

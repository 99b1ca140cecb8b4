/**
 * The one place SQLite is opened (STYLE habit 5). Every handle, server or CLI, gets the same
 * pragmas, so the CLI can work on the data dir while the server runs.
 */
import { Database } from "bun:sqlite";
import { existsSync, writeFileSync } from "node:fs";

export type Db = Database;

/** The database's file name inside the data dir. */
export const DATABASE_FILE = "confab.db";

/** How long a statement waits for a lock another connection holds (the CLI next to the server). */
export const BUSY_TIMEOUT_MS = 5000;

/** Open (creating if needed) the database file at `path` with confab's pragmas. */
export function openDatabase(path: string): Db {
  // Messages are private: the file (and the -wal/-shm SQLite derives from it) is owner-only.
  if (path !== ":memory:" && !existsSync(path)) writeFileSync(path, "", { mode: 0o600 });
  const db = new Database(path, { create: true, strict: true });
  // Must be first: every later statement, including the pragmas below, may meet a lock held by
  // another process (the CLI next to a running server); wait up to 5 s instead of failing.
  db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
  // WAL: readers never block the writer and vice versa; one file stays the source of truth.
  db.exec("PRAGMA journal_mode = WAL");
  // FULL: a transaction is on stable storage before COMMIT returns, so an acknowledged message
  // survives not only kill -9 (NORMAL would too) but also a power cut or kernel panic. The cost
  // is one fsync per commit, which the batched writer shares among every send of a batch.
  db.exec("PRAGMA synchronous = FULL");
  db.exec("PRAGMA foreign_keys = ON");
  db.exec("PRAGMA temp_store = MEMORY");
  // Reads of pages outside the page cache through a memory map (up to 1 GiB of the file) rather
  // than a pread each: on the WebSocket benchmark, a few µs less per message once the database
  // outgrows the cache. WAL frames are still read with pread.
  db.exec("PRAGMA mmap_size = 1073741824");
  // 64 MiB page cache per handle (negative = KiB): the hot indexes of a busy server stay in memory.
  db.exec("PRAGMA cache_size = -65536");
  // When a checkpoint starts the WAL over, SQLite truncates the file to this size in the next
  // COMMIT. Truncating pages the kernel is still writing back waits for that I/O: with 64 MiB
  // (below the ~200 MiB the checkpointer lets the WAL reach, src/db/checkpointer.ts) every
  // restart stalled one commit for 40-50 ms, the worst latency at 5,000 messages/s. At 256 MiB
  // the file keeps its high-water mark instead; it only shrinks if it ever grew past that (a
  // long reader holding checkpoints back), and goes entirely at a clean shutdown.
  db.exec("PRAGMA journal_size_limit = 268435456");
  return db;
}

/**
 * Run `fn` inside BEGIN IMMEDIATE … COMMIT: the write lock is taken up front, so two writers
 * (server and CLI) queue on busy_timeout instead of failing with SQLITE_BUSY mid-transaction.
 */
export function writeTransaction<T>(db: Db, fn: () => T): T {
  return db.transaction(fn).immediate();
}

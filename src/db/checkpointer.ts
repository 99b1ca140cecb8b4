/**
 * WAL checkpoints off the event loop. By default SQLite checkpoints inside whichever COMMIT
 * pushes the WAL past 1000 pages, so every few batches one send waits several milliseconds
 * while pages are copied into the database file. The server turns that off on its own
 * connection and lets this worker thread checkpoint on a timer with a connection of its own.
 *
 * Each run is a PASSIVE checkpoint: it never blocks the writer. But PASSIVE alone lets the WAL
 * grow without bound under sustained writes (1 GB in 20 s of the WebSocket benchmark): the WAL
 * only starts over when a checkpoint has copied every frame before the next commit appends
 * one, and with a commit every few milliseconds that moment never comes. A long WAL slows every
 * read that misses it (SQLite searches its index block by block) and fills the disk. So once
 * the WAL is past `restartFrames`, a second PASSIVE run copies what was committed during the
 * first, and a RESTART follows: it holds the write lock to copy the little committed since and
 * to sync the database file (15–40 ms on the benchmark machine; the batched writer waits for it
 * without blocking the event loop), and makes the next commit start the WAL over. Its connection never waits (busy_timeout 0): with the lock taken or a reader
 * in the WAL, RESTART does what PASSIVE does and the next run tries again. The threshold is a
 * trade: every restart stalls the writer once, so at 5,000 messages/s a 16 MiB threshold
 * restarted every second and showed in the p99 latency; 128 MiB restarts every few seconds at
 * the highest rates, and the WAL file stays under about 200 MiB (at 20,000 messages/s it grows
 * 50–75 MB between two runs).
 */

const WORKER = `
import { Database } from "bun:sqlite";
let db = null;
self.onmessage = (e) => {
  const m = e.data;
  if (m.type === "open") {
    db = new Database(m.path);
    db.exec("PRAGMA busy_timeout = 0");
  } else if (m.type === "checkpoint" && db) {
    try {
      const passive = db.query("PRAGMA wal_checkpoint(PASSIVE)");
      if (passive.get().log >= m.restartFrames) {
        passive.get(); // what was committed during the first pass: the RESTART copies only what comes during this one
        db.query("PRAGMA wal_checkpoint(RESTART)").get();
      }
      postMessage({ type: "done" });
    } catch (err) {
      postMessage({ type: "error", error: String(err && err.message || err) });
    }
  } else if (m.type === "close" && db) {
    db.close();
    db = null;
    postMessage({ type: "closed" });
  }
};`;

export interface Checkpointer {
  stop(): Promise<void>;
}

/**
 * Checkpoint `path` every `intervalMs`, starting the WAL over once it is past `restartFrames`
 * pages (32,768 pages of 4 KiB: 128 MiB).
 */
export function startCheckpointer(path: string, onError: (e: string) => void, intervalMs = 1000, restartFrames = 32_768): Checkpointer {
  const worker = new Worker(URL.createObjectURL(new Blob([WORKER], { type: "application/javascript" })));
  (worker as unknown as { unref(): void }).unref(); // Bun's Worker: never what keeps the process alive
  worker.postMessage({ type: "open", path });
  let busy = false;
  worker.onmessage = (e) => {
    busy = false;
    if (e.data.type === "error") onError(e.data.error);
  };
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    worker.postMessage({ type: "checkpoint", restartFrames });
  }, intervalMs);
  timer.unref();
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        clearInterval(timer);
        const done = setTimeout(() => {
          worker.terminate();
          resolve();
        }, 2000);
        worker.onmessage = (e) => {
          if (e.data.type !== "closed") return;
          clearTimeout(done);
          worker.terminate();
          resolve();
        };
        worker.postMessage({ type: "close" });
      }),
  };
}

/**
 * WAL checkpoints off the event loop. By default SQLite checkpoints inside whichever COMMIT
 * pushes the WAL past 1000 pages, so every few batches one send waits several milliseconds
 * while pages are copied into the database file. The server turns that off on its own
 * connection and lets this worker thread checkpoint on a timer with a connection of its own
 * (PASSIVE: it never blocks the writer; what it cannot copy now, it copies next time).
 *
 * Never RESTART or TRUNCATE: those block new writers until they have copied the whole WAL, and
 * after a burst of writes that is a stall of hundreds of milliseconds for every sender. The WAL
 * file does not stay large anyway: once a checkpoint has copied everything, the next write
 * starts the WAL over and SQLite cuts the file down to journal_size_limit (see open.ts).
 */

const WORKER = `
import { Database } from "bun:sqlite";
let db = null;
self.onmessage = (e) => {
  const m = e.data;
  if (m.type === "open") {
    db = new Database(m.path);
    db.exec("PRAGMA busy_timeout = 5000");
  } else if (m.type === "checkpoint" && db) {
    try {
      const r = db.query("PRAGMA wal_checkpoint(PASSIVE)").get();
      postMessage({ type: "done", log: r.log, checkpointed: r.checkpointed });
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

/** Checkpoint `path` (PASSIVE) every `intervalMs`. */
export function startCheckpointer(path: string, onError: (e: string) => void, intervalMs = 1000): Checkpointer {
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
    worker.postMessage({ type: "checkpoint" });
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

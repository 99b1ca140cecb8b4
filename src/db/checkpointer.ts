/**
 * WAL checkpoints off the event loop. By default SQLite checkpoints inside whichever COMMIT
 * pushes the WAL past 1000 pages, so every few batches one send waits several milliseconds
 * while pages are copied into the database file. The server turns that off on its own
 * connection and lets this worker thread checkpoint on a timer with a connection of its own
 * (PASSIVE: it never blocks the writer; what it cannot copy now, it copies next time).
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
      const r = db.query("PRAGMA wal_checkpoint(" + m.mode + ")").get();
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

/**
 * Checkpoint `path` every `intervalMs`; a TRUNCATE every `truncateEvery` runs keeps the WAL
 * file from staying large after a burst.
 */
export function startCheckpointer(path: string, onError: (e: string) => void, intervalMs = 1000, truncateEvery = 60): Checkpointer {
  const worker = new Worker(URL.createObjectURL(new Blob([WORKER], { type: "application/javascript" })));
  (worker as unknown as { unref(): void }).unref(); // Bun's Worker: never what keeps the process alive
  worker.postMessage({ type: "open", path });
  let runs = 0;
  let busy = false;
  worker.onmessage = (e) => {
    busy = false;
    if (e.data.type === "error") onError(e.data.error);
  };
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    worker.postMessage({ type: "checkpoint", mode: ++runs % truncateEvery === 0 ? "TRUNCATE" : "PASSIVE" });
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

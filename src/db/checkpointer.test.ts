/**
 * The checkpointer keeps the WAL short while writes never pause: a PASSIVE checkpoint alone
 * never catches up with a writer that commits every few milliseconds, so the WAL would grow
 * with everything written.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "./open";
import { BatchedWriter } from "./batched-writer";
import { startCheckpointer } from "./checkpointer";

const dir = mkdtempSync(join(tmpdir(), "confab-checkpoint-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("under writes that never pause, the WAL starts over instead of growing with everything written", async () => {
  const path = join(dir, "busy.db");
  const db = openDatabase(path);
  db.exec("PRAGMA wal_autocheckpoint = 0"); // as the server runs it: only the checkpointer checkpoints
  db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL) STRICT");
  const writer = new BatchedWriter(db);
  const errors: string[] = [];
  const checkpointer = startCheckpointer(path, (e) => errors.push(e), 20, 256); // restart past 1 MiB
  const insert = db.query("INSERT INTO t (body) VALUES (randomblob(3000))");
  let written = 0;
  let largestWal = 0;
  const until = performance.now() + 1500;
  while (performance.now() < until) {
    // A batch of 40 rows (about 120 KiB) and straight on to the next: the WAL never idles.
    await Promise.all(Array.from({ length: 40 }, () => writer.run(() => insert.run())));
    written += 40 * 3000;
    largestWal = Math.max(largestWal, statSync(`${path}-wal`).size);
  }
  await checkpointer.stop();
  writer.close();
  db.close();
  expect(errors).toEqual([]);
  expect(written).toBeGreaterThan(16 * 1024 * 1024); // enough to tell growing from starting over
  expect(largestWal).toBeLessThan(written / 4);
});

/**
 * MediaStore on a migrated temp database: attachments in message order, release rules, the
 * collectable set, and an index behind every statement (EXPLAIN QUERY PLAN: no full scan of
 * media_files, message_attachments or users).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../db/open";
import { runMigrations } from "../db/migrate";
import { migrations } from "../../migrations";
import { MediaStore, type NewMedia } from "./store";

const dir = mkdtempSync(join(tmpdir(), "confab-media-store-"));
const db = openDatabase(join(dir, "db.sqlite"));
runMigrations(db, migrations);
afterAll(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

// Record every statement the store prepares, to explain them afterwards.
const statements: string[] = [];
const query = db.query.bind(db);
(db as unknown as { query: (sql: string) => unknown }).query = (sql: string) => (statements.push(sql), query(sql));
const store = new MediaStore(db);
(db as unknown as { query: typeof query }).query = query;

const now = Date.now();
db.exec(`INSERT INTO users (id, email, username, first_name, last_name, created_at, updated_at) VALUES (1, 'a@x.test', 'alice', 'A', 'L', ${now}, ${now}), (2, 'b@x.test', 'bob', 'B', 'L', ${now}, ${now})`);
db.exec(`INSERT INTO conversations (id, type, created_by, created_at, updated_at) VALUES (1, 'direct', 1, ${now}, ${now})`);
const message = db.query<{ seq: number }, [string]>(
  `INSERT INTO messages (id, conversation_id, sender_id, type, created_at, updated_at) VALUES (?, 1, 1, 'image', ${now}, ${now}) RETURNING seq`,
);

function media(id: string, over: Partial<NewMedia> = {}): NewMedia {
  const row: NewMedia = {
    id,
    uploader_id: 1,
    conversation_id: 1,
    purpose: "message",
    message_type: "image",
    mime: "image/png",
    size: 10,
    blob: id.padEnd(64, "0"),
    thumb_blob: null,
    width: 1,
    height: 1,
    file_name: null,
    status: "completed",
    created_at: now,
    ...over,
  };
  store.insertMedia(row);
  return row;
}

describe("MediaStore", () => {
  test("attachments come back per message, in order; deleting a message's releases files nothing else carries", () => {
    const [a, b, c] = [media("a1"), media("b1"), media("c1")];
    const m1 = message.get(crypto.randomUUID())!.seq;
    const m2 = message.get(crypto.randomUUID())!.seq;
    store.insertAttachments(m1, [c.id, a.id]);
    store.insertAttachments(m2, [a.id, b.id]);
    const rows = store.selectAttachments([m1, m2]);
    expect(rows.map((r) => [r.message_seq, r.id])).toEqual([
      [m1, "c1"],
      [m1, "a1"],
      [m2, "a1"],
      [m2, "b1"],
    ]);
    store.deleteAttachments(m1, now);
    expect(store.selectMedia("c1")!.released_at).toBe(now); // only m1 carried it
    expect(store.selectMedia("a1")!.released_at).toBeNull(); // m2 still does
  });

  test("collectable: released rows at once, unsent uploads only before the cutoff, never a current picture", () => {
    media("old-unsent", { created_at: now - 10_000 });
    media("avatar", { purpose: "avatar", conversation_id: null, created_at: now - 10_000 });
    db.exec("UPDATE users SET profile_picture = 'avatar' WHERE id = 2");
    const ids = (cutoff: number) => store.selectCollectable(cutoff, 100).map((r) => r.id).sort();
    expect(ids(now - 20_000)).toEqual(["c1"]);
    expect(ids(now - 5_000)).toEqual(["c1", "old-unsent"]);
    expect(store.deleteCollectable(now - 5_000, 100).map((r) => r.id).sort()).toEqual(["c1", "old-unsent"]);
    expect(store.selectMedia("c1")).toBeNull();
    expect(store.blobInUse("c1".padEnd(64, "0"))).toBe(false);
    expect(store.blobInUse("a1".padEnd(64, "0"))).toBe(true);
  });

  test("every statement on the request path is served by an index", () => {
    expect(statements.length).toBeGreaterThan(8);
    for (const sql of statements) {
      if (/^\s*INSERT/i.test(sql)) continue;
      const explain = db.query<{ detail: string }, any>(`EXPLAIN QUERY PLAN ${sql}`);
      const plan = explain
        .all(...Array.from({ length: explain.paramsCount }, () => null))
        .map((r) => r.detail)
        .join("\n");
      if (process.env.SHOW_PLANS) console.log(`${sql}\n${plan}\n`);
      // gc walks every upload oldest first (an index scan) by design: it runs off the request path.
      const gc = sql.includes("ORDER BY m.created_at");
      const scans = plan.split("\n").filter((l) => /^SCAN /.test(l) && !/^SCAN json_each/.test(l) && !(gc && l === "SCAN m USING INDEX media_files_created"));
      expect(scans, `${sql}\n${plan}`).toEqual([]);
    }
  });
});

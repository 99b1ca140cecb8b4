/**
 * Message search checks each full-text match against the caller's conversations in one of two
 * ways (MessageStore.search): by looking the message up, or against a list of the caller's
 * visible messages. The store picks by how many messages the caller can see; both must give the
 * same answer, and the answer the rules give: only conversations the caller is in, never a
 * deleted message, ranked among the newest SEARCH_WINDOW visible matches.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { openDatabase, type Db } from "../src/db/open";
import { runMigrations } from "../src/db/migrate";
import { migrations } from "../migrations";
import { MessageStore, SEARCH_WINDOW } from "../src/messages/store";
import { tempDir } from "./harness";

const dir = tempDir("confab-search-");
let db: Db;
let store: MessageStore;
/** conversation id → member ids, and every message as the model sees it. */
const members = new Map<number, number[]>();
const messages: { seq: number; conversation: number; words: string[]; deleted: boolean }[] = [];

beforeAll(() => {
  db = openDatabase(join(dir, "search.sqlite"));
  runMigrations(db, migrations);
  store = new MessageStore(db);
  const now = Date.now();
  db.transaction(() => {
    const user = db.query("INSERT INTO users (email, username, first_name, last_name, created_at, updated_at) VALUES (?, ?, 'F', 'L', ?, ?)");
    for (let u = 1; u <= 20; u++) user.run(`u${u}@x.test`, `user${u}`, now, now);
    const conv = db.query("INSERT INTO conversations (type, title, created_by, created_at, updated_at) VALUES ('group', 't', 1, ?, ?)");
    const part = db.query("INSERT INTO participants (conversation_id, user_id, role, joined_at, read_seq, delivered_seq) VALUES (?, ?, 'member', ?, 0, 0)");
    const msg = db.query<{ seq: number }, any>(
      "INSERT INTO messages (id, conversation_id, sender_id, type, content, created_at, updated_at, deleted_at) VALUES (?, ?, ?, 'text', ?, ?, ?, ?) RETURNING seq",
    );
    // User 1 is in every conversation, user 2 in two, user 3 in one; users 4+ fill them up.
    for (let c = 1; c <= 12; c++) {
      conv.run(now, now);
      const ids = [1, ...(c <= 2 ? [2] : []), ...(c === 3 ? [3] : []), 4 + (c % 10)];
      members.set(c, ids);
      for (const u of ids) part.run(c, u, now);
    }
    for (let i = 0; i < 1500; i++) {
      const conversation = 1 + ((i * 7) % 12);
      // "common" in every third message, "rare" in a few, "both" where they meet.
      const words = [`w${i % 13}`, ...(i % 3 === 0 ? ["common"] : []), ...(i % 97 === 0 ? ["rare"] : [])];
      const deleted = i % 50 === 0;
      const seq = msg.get(crypto.randomUUID(), conversation, members.get(conversation)![0], deleted ? null : words.join(" "), now + i, now + i, deleted ? now : null)!.seq;
      messages.push({ seq, conversation, words, deleted });
    }
  })();
  store.catchUpIndex();
});
afterAll(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

/** What the rules say the candidates are: newest first, at most the window. */
function visibleMatches(userId: number, word: string, conversationId: number | null): number[] {
  return messages
    .filter((m) => !m.deleted && m.words.includes(word) && members.get(m.conversation)!.includes(userId))
    .filter((m) => conversationId === null || m.conversation === conversationId)
    .map((m) => m.seq)
    .sort((a, b) => b - a)
    .slice(0, SEARCH_WINDOW);
}

test("both strategies return the same ranked page, drawn from the newest visible matches only", () => {
  let compared = 0;
  for (const user of [1, 2, 3, 19]) {
    for (const word of ["common", "rare", "w5", "absent"]) {
      for (const conversation of [null, 1, 3]) {
        const q = `"${word}"`;
        const list = store.search(user, q, 500, conversation, "list").map((r) => r.seq);
        const lookup = store.search(user, q, 500, conversation, "lookup").map((r) => r.seq);
        const chosen = store.search(user, q, 500, conversation).map((r) => r.seq);
        const expected = visibleMatches(user, word, conversation);
        expect(lookup, `user ${user}, ${word}, conversation ${conversation}`).toEqual(list);
        expect(chosen).toEqual(list);
        expect([...list].sort((a, b) => b - a)).toEqual(expected);
        compared += list.length;
      }
    }
  }
  // The fixture is big enough to fill the window and to leave some users with nothing.
  expect(visibleMatches(1, "common", null)).toHaveLength(SEARCH_WINDOW);
  expect(visibleMatches(19, "common", null)).toEqual([]);
  expect(compared).toBeGreaterThan(2 * SEARCH_WINDOW);
});

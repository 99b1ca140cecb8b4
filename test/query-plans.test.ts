/**
 * Every hot read path uses an index (ARCHITECTURE rules 3 and 7): EXPLAIN QUERY PLAN over the
 * very statements the conversation and message stores prepare, on a migrated database, both
 * fresh (no statistics, as on first start) and after ANALYZE over a skewed data set (statistics
 * can change the planner's mind).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { openDatabase, type Db } from "../src/db/open";
import { runMigrations } from "../src/db/migrate";
import { migrations } from "../migrations";
import { ConversationStore } from "../src/conversations/store";
import { MessageStore } from "../src/messages/store";
import { tempDir } from "./harness";

const dir = tempDir("confab-plans-");
const dbs: Db[] = [];
afterAll(() => {
  for (const db of dbs) db.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A migrated database and the SQL of every statement the two stores prepare on it. */
function prepared(name: string): { db: Db; statements: string[] } {
  const db = openDatabase(join(dir, `${name}.sqlite`));
  dbs.push(db);
  runMigrations(db, migrations);
  const statements: string[] = [];
  // Record the SQL as the stores prepare it; the statements themselves are untouched.
  const query = db.query.bind(db);
  const prepare = db.prepare.bind(db);
  const spy = db as unknown as { query: (sql: string) => unknown; prepare: (sql: string) => unknown };
  spy.query = (sql: string) => (statements.push(sql), query(sql));
  spy.prepare = (sql: string) => (statements.push(sql), prepare(sql));
  new ConversationStore(db);
  new MessageStore(db);
  spy.query = query;
  spy.prepare = prepare;
  return { db, statements };
}

/** A busy server in miniature: many users, skewed conversation sizes, one huge conversation. */
function fill(db: Db) {
  db.transaction(() => {
    const now = Date.now();
    const user = db.query("INSERT INTO users (email, username, first_name, last_name, created_at, updated_at) VALUES (?, ?, 'F', 'L', ?, ?)");
    for (let u = 1; u <= 300; u++) user.run(`u${u}@x.test`, `user${u}`, now, now);
    const conv = db.query("INSERT INTO conversations (type, title, created_by, created_at, updated_at) VALUES ('group', 't', 1, ?, ?)");
    const part = db.query(
      "INSERT OR IGNORE INTO participants (conversation_id, user_id, role, joined_at, read_seq, delivered_seq) VALUES (?, ?, 'member', ?, ?, ?)",
    );
    const msg = db.query(
      "INSERT INTO messages (id, conversation_id, sender_id, type, content, client_message_id, created_at, updated_at) VALUES (?, ?, ?, 'text', ?, ?, ?, ?)",
    );
    const react = db.query("INSERT OR IGNORE INTO reactions (message_seq, emoji, user_id, created_at) VALUES (?, ?, ?, ?)");
    let seq = 0;
    for (let c = 1; c <= 200; c++) {
      conv.run(now, now);
      const size = c === 1 ? 300 : 2 + (c % 7);
      for (let k = 0; k < size; k++) part.run(c, ((c * 13 + k * 7) % 300) + 1, now + c, 0, 0);
      const count = c === 1 ? 5000 : c % 20;
      for (let i = 0; i < count; i++) {
        seq++;
        msg.run(crypto.randomUUID(), c, (i % 300) + 1, `word${i % 50} text ${c}`, `cm-${seq}`, now + seq, now + seq);
        if (i % 10 === 0) react.run(seq, "👍", (i % 300) + 1, now);
      }
    }
  })();
  db.exec("ANALYZE");
}

function planOf(db: Db, sql: string): string[] {
  return db
    .query<{ detail: string }, []>(`EXPLAIN QUERY PLAN ${sql}`)
    .all()
    .map((r) => r.detail);
}

/** The one statement whose SQL matches every pattern. */
function find(statements: string[], ...patterns: RegExp[]): string {
  const hits = statements.filter((sql) => patterns.every((p) => p.test(sql.replace(/\s+/g, " "))));
  if (hits.length !== 1) throw new Error(`expected one statement matching ${patterns.join(" & ")}, found ${hits.length}`);
  return hits[0]!;
}

/**
 * A full scan of a real table. Virtual tables (json_each, FTS5) are scanned by design, and so are
 * a statement's own subqueries (its CO-ROUTINEs): "SCAN l" reads the list's one page of rows,
 * "SCAN c" the search's window of candidates.
 */
const fullScans = (plan: string[]) =>
  plan.filter((l) => /^SCAN /.test(l) && !/VIRTUAL TABLE/.test(l) && !plan.includes(`CO-ROUTINE ${l.slice("SCAN ".length)}`));

for (const variant of ["fresh", "analyzed"] as const) {
  describe(`query plans (${variant} database)`, () => {
    let db: Db;
    let statements: string[];

    beforeAll(() => {
      ({ db, statements } = prepared(variant));
      if (variant === "analyzed") fill(db);
    });

    /** Assert the statement's plan and return it. */
    function expectPlan(sql: string, o: { uses: RegExp[]; noTempSort?: boolean }): string[] {
      const plan = planOf(db, sql);
      const show = `${sql.replace(/\s+/g, " ")}\n  ${plan.join("\n  ")}`;
      expect(fullScans(plan), show).toEqual([]);
      for (const u of o.uses) expect(plan.some((l) => u.test(l)), `${show}\n  should match ${u}`).toBe(true);
      if (o.noTempSort) expect(plan.filter((l) => /USE TEMP B-TREE FOR .*ORDER BY/.test(l)), show).toEqual([]);
      return plan;
    }

    test("history: latest, before, after are one range of messages_conversation, already in order", () => {
      const uses = [/^SEARCH messages USING INDEX messages_conversation \(conversation_id=\?/];
      expectPlan(find(statements, /FROM messages WHERE conversation_id = \? ORDER BY seq DESC/), { uses, noTempSort: true });
      expectPlan(find(statements, /FROM messages WHERE conversation_id = \? AND seq < \? ORDER BY seq DESC/), {
        uses: [/messages_conversation \(conversation_id=\? AND seq<\?\)/],
        noTempSort: true,
      });
      expectPlan(find(statements, /FROM messages WHERE conversation_id = \? AND seq > \? ORDER BY seq ASC/), {
        uses: [/messages_conversation \(conversation_id=\? AND seq>\?\)/],
        noTempSort: true,
      });
    });

    // The list's order is computed (a conversation's last activity, or when the member joined),
    // so the member's own conversations are sorted — a few hundred rows at most — rather than
    // keeping a per-member index that every message would have to update for every participant.
    test("conversation list: first page and after a cursor start from the member's participations", () => {
      const first = find(statements, /ORDER BY activity_at DESC, c\.id DESC/, /WHERE p\.user_id = \?1 ORDER BY/);
      const after = find(statements, /ORDER BY activity_at DESC, c\.id DESC/, /max\(c\.updated_at, p\.joined_at\) < \?2/);
      for (const sql of [first, after]) {
        expectPlan(sql, {
          uses: [/SEARCH p USING (COVERING )?INDEX participants_user \(user_id=\?/, /SEARCH c USING INTEGER PRIMARY KEY/],
        });
      }
    });

    test("unread count: the correlated subquery counts from the index alone", () => {
      for (const sql of statements.filter((x) => /SELECT count\(\*\) FROM messages m/.test(x))) {
        expectPlan(sql, { uses: [/^SEARCH m USING COVERING INDEX messages_conversation \(conversation_id=\? AND seq>\?\)/] });
      }
      expect(statements.filter((x) => /SELECT count\(\*\) FROM messages m/.test(x)).length).toBeGreaterThanOrEqual(3);
    });

    test("one conversation as a list item, and the access check", () => {
      expectPlan(find(statements, /unread_count/, /WHERE p\.user_id = \?1 AND p\.conversation_id = \?2/), { uses: [/^SEARCH p USING PRIMARY KEY \(conversation_id=\? AND user_id=\?\)/] });
      expectPlan(find(statements, /^SELECT .* FROM participants WHERE conversation_id = \? AND user_id = \?$/), { uses: [/PRIMARY KEY \(conversation_id=\? AND user_id=\?\)/] });
    });

    test("participants by conversation (one and many) and by user", () => {
      expectPlan(find(statements, /FROM participants WHERE conversation_id = \? ORDER BY/), { uses: [/^SEARCH participants USING PRIMARY KEY \(conversation_id=\?\)/] });
      expectPlan(find(statements, /FROM participants p JOIN users u/), {
        uses: [/^SEARCH p USING PRIMARY KEY \(conversation_id=\?\)/, /^SEARCH u USING INTEGER PRIMARY KEY/],
      });
      const byUser = statements.filter((x) => /FROM participants( \w+)? WHERE (\w+\.)?user_id = \?/.test(x.replace(/\s+/g, " ")));
      for (const sql of byUser) expectPlan(sql, { uses: [/USING (COVERING )?INDEX participants_user/] });
    });

    test("a message by id, by seq list and by client_message_id", () => {
      expectPlan(find(statements, /FROM messages WHERE id = \?/), { uses: [/^SEARCH messages USING INDEX sqlite_autoindex_messages_1 \(id=\?\)/] });
      expectPlan(find(statements, /FROM messages WHERE seq IN/), { uses: [/^SEARCH messages USING INTEGER PRIMARY KEY/] });
      expectPlan(find(statements, /client_message_id = \?/), {
        uses: [/^SEARCH messages USING INDEX messages_client_id \(conversation_id=\? AND sender_id=\? AND client_message_id=\?\)/],
      });
    });

    test("reactions of a page of messages, edits of one", () => {
      expectPlan(find(statements, /^SELECT .* FROM reactions WHERE message_seq IN/), { uses: [/^SEARCH reactions USING PRIMARY KEY \(message_seq=\?\)/] });
      expectPlan(find(statements, /^SELECT .* FROM message_edits WHERE message_seq = \?/), { uses: [/message_edits_message \(message_seq=\?\)/] });
    });

    test("a sender's messages (account erasure) use messages_sender", () => {
      const bySender = statements.filter((x) => /WHERE sender_id = \?/.test(x));
      expect(bySender.length).toBeGreaterThanOrEqual(1);
      for (const sql of bySender) expectPlan(sql, { uses: [/USING (COVERING )?INDEX messages_sender \(sender_id=\?\)/] });
    });

    test("search: the FTS index newest first, checked against the caller's messages by lookup or by list", () => {
      const searches = statements.filter((x) => /messages_fts MATCH/.test(x));
      const byLookup = searches.filter((x) => /JOIN messages v/.test(x));
      const byList = searches.filter((x) => /\+f\.rowid IN/.test(x));
      expect([byLookup.length, byList.length, searches.length]).toEqual([2, 2, 4]);
      // 192: FTS5 yields the matches by rowid, descending, with no rowid constraint of its own:
      // the window stops the walk, and FTS5 never runs one MATCH per row.
      const walk = /^SCAN f VIRTUAL TABLE INDEX 192:M\d*$/;
      const memberships = /^SEARCH participants USING (COVERING INDEX participants_user|PRIMARY KEY)/;
      const rows = /^SEARCH m USING INTEGER PRIMARY KEY/;
      for (const sql of byLookup) expectPlan(sql, { uses: [walk, /^SEARCH v USING INTEGER PRIMARY KEY/, memberships, rows] });
      for (const sql of byList) expectPlan(sql, { uses: [walk, /^SEARCH messages USING COVERING INDEX messages_conversation \(conversation_id=\?\)/, memberships, rows] });
      for (const sql of statements.filter((x) => /SELECT count\(\*\) AS n FROM \(SELECT 1 FROM messages/.test(x)))
        expectPlan(sql, { uses: [/^SEARCH messages USING COVERING INDEX messages_conversation \(conversation_id=\?\)/] });
    });

    test("no statement of either store scans a whole table", () => {
      for (const sql of statements) {
        if (!/^\s*(SELECT|UPDATE|DELETE|WITH)/i.test(sql)) continue;
        const plan = planOf(db, sql);
        expect(fullScans(plan), `${sql}\n  ${plan.join("\n  ")}`).toEqual([]);
      }
    });
  });
}

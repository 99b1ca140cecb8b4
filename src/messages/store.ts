/** Messages, edits, reactions and full-text search. Pages are keyset ranges of one index. */
import type { Statement } from "bun:sqlite";
import type { Db } from "../db/open";

export type MessageType = "text" | "image" | "video" | "audio" | "file";

export interface MessageRow {
  seq: number;
  id: string;
  conversation_id: number;
  sender_id: number | null;
  type: MessageType;
  content: string | null;
  reply_to: string | null;
  client_message_id: string | null;
  created_at: number;
  updated_at: number;
  deleted_at: number | null;
}

export interface NewMessage {
  id: string;
  conversationId: number;
  senderId: number;
  type: MessageType;
  content: string | null;
  replyTo: string | null;
  clientMessageId: string | null;
  now: number;
}

export interface EditRow {
  message_seq: number;
  edited_at: number;
  previous_content: string | null;
  edit_reason: string | null;
}

export interface ReactionRow {
  message_seq: number;
  emoji: string;
  user_id: number;
}

/** Search ranks the newest this many matches the caller can see (see the search statements). */
export const SEARCH_WINDOW = 200;
/**
 * Up to this many visible messages, search checks matches against a list of them. Counting up
 * to it costs a search ~0.3 ms; above it, building the list costs more than most lookups save.
 */
export const SEARCH_LIST_LIMIT = 5_000;

/** The statements of one search scope (all the caller's conversations, or one of them). */
interface SearchScope {
  visible: Statement<{ n: number }, any>;
  byList: Statement<MessageRow, any>;
  byLookup: Statement<MessageRow, any>;
}

export class MessageStore {
  private readonly insertQ;
  private readonly byIdQ;
  private readonly bySeqsQ;
  private readonly byIdsQ;
  private readonly byClientIdQ;
  private readonly beforeQ;
  private readonly latestQ;
  private readonly afterQ;
  private readonly updateContentQ;
  private readonly tombstoneQ;
  private readonly tombstoneAllByQ;
  private readonly deleteEditsByQ;
  private readonly deleteReactionsByQ;
  private readonly deleteEditsQ;
  private readonly deleteReactionsQ;
  private readonly insertEditQ;
  private readonly editsQ;
  private readonly insertReactionQ;
  private readonly deleteReactionQ;
  private readonly reactionsQ;
  private readonly searchAll: SearchScope;
  private readonly searchOne: SearchScope;
  private readonly ftsIndexedQ;
  private readonly ftsNewestQ;
  private readonly ftsIndexQ;
  private readonly ftsMarkQ;

  constructor(private readonly db: Db) {
    this.insertQ = db.query<MessageRow, any>(
      `INSERT INTO messages (id, conversation_id, sender_id, type, content, reply_to, client_message_id, created_at, updated_at)
       VALUES ($id, $conversation_id, $sender_id, $type, $content, $reply_to, $client_message_id, $now, $now) RETURNING *`,
    );
    this.byIdQ = db.query<MessageRow, [string]>("SELECT * FROM messages WHERE id = ?");
    this.bySeqsQ = db.query<MessageRow, [string]>("SELECT * FROM messages WHERE seq IN (SELECT value FROM json_each(?))");
    this.byIdsQ = db.query<MessageRow, [string]>("SELECT * FROM messages WHERE id IN (SELECT value FROM json_each(?))");
    this.byClientIdQ = db.query<MessageRow, [number, number, string]>(
      "SELECT * FROM messages WHERE conversation_id = ? AND sender_id = ? AND client_message_id = ?",
    );
    this.latestQ = db.query<MessageRow, [number, number]>(
      "SELECT * FROM messages WHERE conversation_id = ? ORDER BY seq DESC LIMIT ?",
    );
    this.beforeQ = db.query<MessageRow, [number, number, number]>(
      "SELECT * FROM messages WHERE conversation_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
    );
    this.afterQ = db.query<MessageRow, [number, number, number]>(
      "SELECT * FROM messages WHERE conversation_id = ? AND seq > ? ORDER BY seq ASC LIMIT ?",
    );
    this.updateContentQ = db.query("UPDATE messages SET content = ?, updated_at = ? WHERE seq = ?");
    this.tombstoneQ = db.query("UPDATE messages SET content = NULL, deleted_at = ?1, updated_at = ?1 WHERE seq = ?2");
    this.deleteEditsQ = db.query("DELETE FROM message_edits WHERE message_seq = ?");
    this.deleteReactionsQ = db.query("DELETE FROM reactions WHERE message_seq = ?");
    this.tombstoneAllByQ = db.query("UPDATE messages SET content = NULL, deleted_at = ?1, updated_at = ?1 WHERE sender_id = ?2 AND deleted_at IS NULL");
    this.deleteEditsByQ = db.query("DELETE FROM message_edits WHERE message_seq IN (SELECT seq FROM messages WHERE sender_id = ?)");
    this.deleteReactionsByQ = db.query("DELETE FROM reactions WHERE message_seq IN (SELECT seq FROM messages WHERE sender_id = ?)");
    this.insertEditQ = db.query("INSERT INTO message_edits (message_seq, edited_at, previous_content, edit_reason) VALUES (?, ?, ?, ?)");
    this.editsQ = db.query<EditRow, [number]>("SELECT * FROM message_edits WHERE message_seq = ? ORDER BY edited_at, rowid");
    this.insertReactionQ = db.query(
      "INSERT INTO reactions (message_seq, emoji, user_id, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
    );
    this.deleteReactionQ = db.query("DELETE FROM reactions WHERE message_seq = ? AND emoji = ? AND user_id = ?");
    this.reactionsQ = db.query<ReactionRow, [string]>(
      `SELECT message_seq, emoji, user_id FROM reactions WHERE message_seq IN (SELECT value FROM json_each(?))
       ORDER BY message_seq, created_at, user_id`,
    );
    // Full-text search restricted to the caller's conversations, ranked by bm25 among the newest
    // SEARCH_WINDOW matches the caller can see. FTS5 walks the matches newest first and stops
    // there, so a common word costs a bounded walk instead of scoring every match on the server
    // ("today" in the benchmark: 17,000 matches, 1,400 of them the user's; 45 ms → 2–5 ms), and
    // recent messages are what a chat search is for. Each match is checked against the caller's
    // conversations in one of two ways (see search()): by looking the message up (1 µs a match,
    // and for a user in few conversations the walk never fills the window: 21 ms for those
    // 17,000), or against the list of the caller's visible messages, read from
    // messages_conversation (a probe in memory, but the list costs ~0.7 µs a message to build:
    // 55 ms for the user in 1,000 conversations, 5 ms for a user in 21).
    const search = (candidates: string) => `SELECT m.* FROM (${candidates} ORDER BY f.rowid DESC LIMIT ${SEARCH_WINDOW}) c
       JOIN messages m ON m.seq = c.seq
       ORDER BY c.score, c.seq DESC LIMIT $limit`;
    const byLookup = (convs: string) => search(`SELECT f.rowid AS seq, bm25(messages_fts) AS score FROM messages_fts f JOIN messages v ON v.seq = f.rowid
         WHERE messages_fts MATCH $q AND v.deleted_at IS NULL AND v.conversation_id IN (${convs})`);
    // "+f.rowid": a filter on the walk, never a rowid constraint handed to FTS5 (one MATCH per row).
    const byList = (convs: string) => search(`SELECT f.rowid AS seq, bm25(messages_fts) AS score FROM messages_fts f
         WHERE messages_fts MATCH $q AND +f.rowid IN (SELECT seq FROM messages WHERE conversation_id IN (${convs}) AND deleted_at IS NULL)`);
    const visibleUpTo = (convs: string) =>
      `SELECT count(*) AS n FROM (SELECT 1 FROM messages WHERE conversation_id IN (${convs}) AND deleted_at IS NULL LIMIT ${SEARCH_LIST_LIMIT + 1})`;
    const scope = (convs: string): SearchScope => ({
      visible: db.query<{ n: number }, any>(visibleUpTo(convs)),
      byList: db.query<MessageRow, any>(byList(convs)),
      byLookup: db.query<MessageRow, any>(byLookup(convs)),
    });
    this.searchAll = scope("SELECT conversation_id FROM participants WHERE user_id = $user");
    this.searchOne = scope("SELECT conversation_id FROM participants WHERE user_id = $user AND conversation_id = $conversation");
    this.ftsIndexedQ = db.query<{ seq: number }, []>("SELECT seq FROM fts_indexed WHERE id = 1");
    this.ftsNewestQ = db.query<{ seq: number | null }, [number, number]>(
      "SELECT max(seq) AS seq FROM (SELECT seq FROM messages WHERE seq > ? ORDER BY seq LIMIT ?)",
    );
    // Current text: a message edited or deleted before it was indexed goes in as it is now.
    this.ftsIndexQ = db.query(
      "INSERT INTO messages_fts (rowid, content) SELECT seq, content FROM messages WHERE seq > ? AND seq <= ? AND content IS NOT NULL",
    );
    this.ftsMarkQ = db.query("UPDATE fts_indexed SET seq = ? WHERE id = 1");
  }

  insertMessage(m: NewMessage): MessageRow {
    return this.insertQ.get({
      id: m.id,
      conversation_id: m.conversationId,
      sender_id: m.senderId,
      type: m.type,
      content: m.content,
      reply_to: m.replyTo,
      client_message_id: m.clientMessageId,
      now: m.now,
    })!;
  }

  selectMessage(id: string): MessageRow | null {
    return this.byIdQ.get(id);
  }

  selectMessagesBySeq(seqs: number[]): Map<number, MessageRow> {
    return new Map(this.bySeqsQ.all(JSON.stringify(seqs)).map((m) => [m.seq, m]));
  }

  selectMessagesByIds(ids: readonly string[]): MessageRow[] {
    return ids.length ? this.byIdsQ.all(JSON.stringify(ids)) : [];
  }

  selectByClientId(conversationId: number, senderId: number, clientMessageId: string): MessageRow | null {
    return this.byClientIdQ.get(conversationId, senderId, clientMessageId);
  }

  /** Newest first, older than `beforeSeq` (or the newest when null). */
  selectBefore(conversationId: number, beforeSeq: number | null, limit: number): MessageRow[] {
    return beforeSeq === null ? this.latestQ.all(conversationId, limit) : this.beforeQ.all(conversationId, beforeSeq, limit);
  }

  /** Oldest first, newer than `afterSeq`: catching up after being offline. */
  selectAfter(conversationId: number, afterSeq: number, limit: number): MessageRow[] {
    return this.afterQ.all(conversationId, afterSeq, limit);
  }

  updateContent(seq: number, content: string, now: number) {
    this.updateContentQ.run(content, now, seq);
  }

  /**
   * Keep the message as a tombstone and forget what it said: its earlier versions and its
   * reactions go too, or "deleted" would leave the text readable in edit_history rows.
   */
  tombstone(seq: number, now: number) {
    this.tombstoneQ.run(now, seq);
    this.deleteEditsQ.run(seq);
    this.deleteReactionsQ.run(seq);
  }

  /**
   * Erase every message of a sender (account deletion with erasure). Returns how many. Like
   * tombstone(): their earlier versions and the reactions to them go too.
   */
  tombstoneAllBy(senderId: number, now: number): number {
    this.deleteEditsByQ.run(senderId);
    this.deleteReactionsByQ.run(senderId);
    return this.tombstoneAllByQ.run(now, senderId).changes;
  }

  insertEdit(seq: number, at: number, previous: string | null, reason: string | null) {
    this.insertEditQ.run(seq, at, previous, reason);
  }

  selectEdits(seq: number): EditRow[] {
    return this.editsQ.all(seq);
  }

  insertReaction(seq: number, emoji: string, userId: number, now: number): boolean {
    return this.insertReactionQ.run(seq, emoji, userId, now).changes > 0;
  }

  deleteReaction(seq: number, emoji: string, userId: number): boolean {
    return this.deleteReactionQ.run(seq, emoji, userId).changes > 0;
  }

  selectReactions(seqs: number[]): ReactionRow[] {
    return seqs.length ? this.reactionsQ.all(JSON.stringify(seqs)) : [];
  }

  /**
   * Index up to `limit` messages not yet in the full-text index; returns how many rows were
   * looked at (0 when the index is up to date). Call inside a write transaction.
   */
  indexPending(limit: number): number {
    const from = this.ftsIndexedQ.get()!.seq;
    const to = this.ftsNewestQ.get(from, limit)?.seq;
    if (to === null || to === undefined) return 0;
    this.ftsIndexQ.run(from, to);
    this.ftsMarkQ.run(to);
    return to - from;
  }

  /** Bring the full-text index fully up to date, in one write transaction (before a search). */
  catchUpIndex(chunk = 5000) {
    this.db.transaction(() => {
      while (this.indexPending(chunk) > 0);
    }).immediate();
  }

  /**
   * The best `limit` of the newest SEARCH_WINDOW matches of `ftsQuery` that `userId` can see (in
   * `conversationId` only, if given). `strategy` is for tests; by default the cheaper one is
   * chosen by how many messages the caller can see (counted up to SEARCH_LIST_LIMIT + 1).
   */
  search(userId: number, ftsQuery: string, limit: number, conversationId: number | null, strategy?: "list" | "lookup"): MessageRow[] {
    const scope = conversationId === null ? this.searchAll : this.searchOne;
    const who = conversationId === null ? { user: userId } : { user: userId, conversation: conversationId };
    const useList = strategy ? strategy === "list" : scope.visible.get(who)!.n <= SEARCH_LIST_LIMIT;
    return (useList ? scope.byList : scope.byLookup).all({ ...who, q: ftsQuery, limit });
  }
}

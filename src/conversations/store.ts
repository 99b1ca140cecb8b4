/** Conversations and their participants. Lists are fetched by id list (json_each), never per row. */
import type { Db } from "../db/open";
import type { SummaryRow } from "../users/model";

export type ConversationType = "direct" | "group";
export type ParticipantRole = "admin" | "member";

export interface ConversationRow {
  id: number;
  type: ConversationType;
  title: string | null;
  description: string | null;
  created_by: number | null;
  direct_key: string | null;
  created_at: number;
  updated_at: number;
  last_message_seq: number | null;
}

/** A conversation as one participant sees it in their list. */
export interface ListRow extends ConversationRow {
  activity_at: number;
  read_seq: number;
  unread_count: number;
}

export interface ParticipantRow {
  conversation_id: number;
  user_id: number;
  role: ParticipantRole;
  joined_at: number;
  delivered_seq: number;
  read_seq: number;
}

export type ParticipantWithUser = ParticipantRow & { user: SummaryRow };

/** Conversations whose member lists are kept in memory; past this the cache starts over. */
const MEMBER_CACHE_ENTRIES = 50_000;

/** "<low id>:<high id>": one direct conversation per pair. */
export function directKey(a: number, b: number): string {
  return a < b ? `${a}:${b}` : `${b}:${a}`;
}

export class ConversationStore {
  private readonly insertQ;
  private readonly byIdQ;
  private readonly byDirectKeyQ;
  private readonly updateQ;
  private readonly insertParticipantQ;
  private readonly deleteParticipantQ;
  private readonly participantQ;
  private readonly participantsQ;
  private readonly participantsOfManyQ;
  private readonly listFirstQ;
  private readonly listAfterQ;
  private readonly listOneQ;
  private readonly setLastMessageQ;
  private readonly readMarkQ;
  private readonly deliveredMarkQ;
  private readonly promoteQ;
  private readonly memberIdsQ;
  /**
   * Who is in a conversation, by id: read by every send, edit, reaction and receipt, changed
   * only by the add/remove below. This process is the only writer of memberships (the CLI
   * never changes them), so the cache cannot go stale behind its back.
   */
  private readonly memberCache = new Map<number, readonly number[]>();
  private readonly idsOfUserQ;
  private readonly contactsQ;

  constructor(db: Db) {
    this.insertQ = db.query<{ id: number }, [string, string | null, string | null, number, string | null, number, number]>(
      `INSERT INTO conversations (type, title, description, created_by, direct_key, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
    );
    this.byIdQ = db.query<ConversationRow, [number]>("SELECT * FROM conversations WHERE id = ?");
    this.byDirectKeyQ = db.query<ConversationRow, [string]>("SELECT * FROM conversations WHERE direct_key = ?");
    this.updateQ = db.query(
      `UPDATE conversations SET
         title = CASE WHEN $set_title THEN $title ELSE title END,
         description = CASE WHEN $set_description THEN $description ELSE description END,
         updated_at = $now
       WHERE id = $id`,
    );
    this.insertParticipantQ = db.query(
      `INSERT INTO participants (conversation_id, user_id, role, joined_at, delivered_seq, read_seq)
       VALUES ($conversation_id, $user_id, $role, $now, $seq, $seq)
       ON CONFLICT DO NOTHING`,
    );
    this.deleteParticipantQ = db.query("DELETE FROM participants WHERE conversation_id = ? AND user_id = ?");
    this.participantQ = db.query<ParticipantRow, [number, number]>(
      "SELECT conversation_id, user_id, role, joined_at, delivered_seq, read_seq FROM participants WHERE conversation_id = ? AND user_id = ?",
    );
    this.participantsQ = db.query<ParticipantRow, [number]>(
      "SELECT conversation_id, user_id, role, joined_at, delivered_seq, read_seq FROM participants WHERE conversation_id = ? ORDER BY joined_at, user_id",
    );
    // Only the columns a participant summary shows: the widest part of a conversation list.
    this.participantsOfManyQ = db.query<ParticipantRow & SummaryRow & { p_role: ParticipantRole }, [string]>(
      `SELECT p.conversation_id, p.user_id, p.role AS p_role, p.joined_at, p.delivered_seq, p.read_seq,
              u.id, u.username, u.first_name, u.last_name, u.profile_picture
       FROM participants p JOIN users u ON u.id = p.user_id
       WHERE p.conversation_id IN (SELECT value FROM json_each(?))
       ORDER BY p.conversation_id, p.joined_at, p.user_id`,
    );
    // A conversation's place in a member's list: its last activity (conversations.updated_at,
    // moved by every message), or when the member joined if that is later. Computed, not
    // stored per member, so a message updates one row instead of one per participant; the
    // price is sorting the member's own conversations, a few hundred rows at most.
    // Unread counts are taken after LIMIT, for the page only.
    const page = (where: string) => `SELECT l.*, (SELECT count(*) FROM messages m
         WHERE m.conversation_id = l.id AND m.seq > l.read_seq AND m.sender_id IS NOT l.member AND m.deleted_at IS NULL) AS unread_count
       FROM (SELECT c.*, max(c.updated_at, p.joined_at) AS activity_at, p.read_seq, p.user_id AS member
             FROM participants p JOIN conversations c ON c.id = p.conversation_id
             WHERE ${where} ORDER BY activity_at DESC, c.id DESC LIMIT ?4) l
       ORDER BY l.activity_at DESC, l.id DESC`;
    this.listFirstQ = db.query<ListRow, [number, number, number, number]>(page("p.user_id = ?1"));
    this.listAfterQ = db.query<ListRow, [number, number, number, number]>(
      page("p.user_id = ?1 AND (max(c.updated_at, p.joined_at) < ?2 OR (max(c.updated_at, p.joined_at) = ?2 AND c.id < ?3))"),
    );
    this.listOneQ = db.query<ListRow, [number, number, number, number]>(page("p.user_id = ?1 AND p.conversation_id = ?2"));
    this.setLastMessageQ = db.query("UPDATE conversations SET last_message_seq = ?, updated_at = ? WHERE id = ?");
    // max(): receipts only move forward; a late or repeated receipt changes nothing.
    this.readMarkQ = db.query<{ read_seq: number }, [number, number, number]>(
      `UPDATE participants SET read_seq = max(read_seq, ?1), delivered_seq = max(delivered_seq, ?1)
       WHERE conversation_id = ?2 AND user_id = ?3 AND read_seq < ?1 RETURNING read_seq`,
    );
    this.deliveredMarkQ = db.query<{ delivered_seq: number }, [number, number, number]>(
      `UPDATE participants SET delivered_seq = ?1
       WHERE conversation_id = ?2 AND user_id = ?3 AND delivered_seq < ?1 RETURNING delivered_seq`,
    );
    this.idsOfUserQ = db.query<{ conversation_id: number }, [number]>("SELECT conversation_id FROM participants WHERE user_id = ?");
    this.contactsQ = db.query<{ user_id: number }, [number]>(
      `SELECT DISTINCT theirs.user_id FROM participants mine
       JOIN participants theirs ON theirs.conversation_id = mine.conversation_id AND theirs.user_id != mine.user_id
       WHERE mine.user_id = ?`,
    );
    this.memberIdsQ = db.query<{ user_id: number }, [number]>("SELECT user_id FROM participants WHERE conversation_id = ?");
    this.promoteQ = db.query("UPDATE participants SET role = 'admin' WHERE conversation_id = ? AND user_id = ?");
  }

  insertConversation(c: { type: ConversationType; title: string | null; description: string | null; createdBy: number; directKey: string | null }, now: number): number {
    return this.insertQ.get(c.type, c.title, c.description, c.createdBy, c.directKey, now, now)!.id;
  }

  selectConversation(id: number): ConversationRow | null {
    return this.byIdQ.get(id);
  }

  selectDirect(key: string): ConversationRow | null {
    return this.byDirectKeyQ.get(key);
  }

  updateConversation(id: number, patch: { title?: string | null; description?: string | null }, now: number) {
    this.updateQ.run({
      id,
      now,
      set_title: patch.title !== undefined ? 1 : 0,
      title: patch.title ?? null,
      set_description: patch.description !== undefined ? 1 : 0,
      description: patch.description ?? null,
    });
  }

  /**
   * Add a participant; returns false when already one. Their watermarks start at `seq` (the
   * conversation's latest message), so what was said before they joined is neither unread for
   * them nor waiting on their receipt.
   */
  insertParticipant(conversationId: number, userId: number, role: ParticipantRole, seq: number, now: number): boolean {
    this.memberCache.delete(conversationId);
    return this.insertParticipantQ.run({ conversation_id: conversationId, user_id: userId, role, now, seq }).changes > 0;
  }

  deleteParticipant(conversationId: number, userId: number): boolean {
    this.memberCache.delete(conversationId);
    return this.deleteParticipantQ.run(conversationId, userId).changes > 0;
  }

  /** The ids of a conversation's participants (cached; see memberCache). */
  selectParticipantIds(conversationId: number): readonly number[] {
    let ids = this.memberCache.get(conversationId);
    if (!ids) {
      ids = this.memberIdsQ.all(conversationId).map((r) => r.user_id);
      if (this.memberCache.size >= MEMBER_CACHE_ENTRIES) this.memberCache.clear();
      this.memberCache.set(conversationId, ids);
    }
    return ids;
  }

  /** Forget every cached membership: accounts were deleted, and their rows with them. */
  forgetMembers() {
    this.memberCache.clear();
  }

  selectParticipant(conversationId: number, userId: number): ParticipantRow | null {
    return this.participantQ.get(conversationId, userId);
  }

  selectParticipants(conversationId: number): ParticipantRow[] {
    return this.participantsQ.all(conversationId);
  }

  /** Participants with their user rows for many conversations in one statement. */
  selectParticipantsOf(conversationIds: number[]): Map<number, ParticipantWithUser[]> {
    const out = new Map<number, ParticipantWithUser[]>();
    for (const id of conversationIds) out.set(id, []);
    for (const r of this.participantsOfManyQ.all(JSON.stringify(conversationIds))) {
      const { conversation_id, user_id, p_role, joined_at, delivered_seq, read_seq } = r;
      out.get(conversation_id)!.push({ conversation_id, user_id, role: p_role, joined_at, delivered_seq, read_seq, user: r });
    }
    return out;
  }

  /** One page of a user's conversations, latest activity first; `after` is the previous page's last key. */
  selectList(userId: number, limit: number, after: { activityAt: number; id: number } | null): ListRow[] {
    return after ? this.listAfterQ.all(userId, after.activityAt, after.id, limit) : this.listFirstQ.all(userId, 0, 0, limit);
  }

  selectListRow(userId: number, conversationId: number): ListRow | null {
    return this.listOneQ.get(userId, conversationId, 0, 1);
  }

  /** A message arrived: it is the conversation's latest, and the conversation moves up every list. */
  recordMessage(conversationId: number, seq: number, at: number) {
    this.setLastMessageQ.run(seq, at, conversationId);
  }

  /** Move a read watermark forward; returns whether it moved. Reading implies delivery. */
  markRead(conversationId: number, userId: number, seq: number): boolean {
    return this.readMarkQ.get(seq, conversationId, userId) !== null;
  }

  markDelivered(conversationId: number, userId: number, seq: number): boolean {
    return this.deliveredMarkQ.get(seq, conversationId, userId) !== null;
  }

  /** Every conversation a user is in. */
  selectConversationIdsOf(userId: number): number[] {
    return this.idsOfUserQ.all(userId).map((r) => r.conversation_id);
  }

  /** Everyone who shares at least one conversation with a user: who sees their presence. */
  selectContactsOf(userId: number): number[] {
    return this.contactsQ.all(userId).map((r) => r.user_id);
  }

  promoteParticipant(conversationId: number, userId: number) {
    this.promoteQ.run(conversationId, userId);
  }
}

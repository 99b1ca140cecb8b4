/**
 * The rules of conversations (CONTRACT §7): direct conversations are one per pair and take no
 * changes; a group's creator is its admin; admins add and remove, anyone may leave; only
 * participants see a conversation (others get 404, as if it did not exist).
 */
import { forbidden, invalidField, notFound } from "../lib/errors";
import type { BatchedWriter } from "../db/batched-writer";
import type { Journal } from "../journal/journal";
import type { UserStore } from "../users/store";
import type { PictureUrl } from "../users/model";
import type { MessageStore } from "../messages/store";
import { toLastMessage } from "../messages/model";
import { decodeCursor, encodeCursor } from "../lib/cursor";
import { toConversationView, toParticipantView, type ConversationView, type ParticipantView } from "./model";
import { directKey, type ConversationRow, type ConversationStore, type ListRow, type ParticipantRow } from "./store";

export const MAX_TITLE_LENGTH = 100;
export const MAX_DESCRIPTION_LENGTH = 1000;
/** Largest group; also bounds one add request. */
export const MAX_PARTICIPANTS = 1000;

export interface NewConversation {
  conversation_type: "direct" | "group";
  participant_ids: number[];
  title?: string | null;
  description?: string | null;
}

export interface ConversationPage {
  conversations: ConversationView[];
  next_cursor: string | null;
  has_more: boolean;
}

interface ListCursor {
  a: number; // activity_at of the last item
  i: number; // its conversation id
}

export class ConversationService {
  constructor(
    private readonly store: ConversationStore,
    private readonly messages: MessageStore,
    private readonly users: UserStore,
    private readonly writer: BatchedWriter,
    private readonly journal: Journal,
    private readonly pictureUrl: PictureUrl,
  ) {}

  /** Create a conversation; a direct one that exists already is returned with created: false. */
  async create(actorId: number, input: NewConversation): Promise<{ conversation: ConversationView; created: boolean }> {
    const others = [...new Set(input.participant_ids)].filter((id) => id !== actorId);
    const direct = input.conversation_type === "direct";
    if (direct && others.length !== 1) throw invalidField("participant_ids", "A direct conversation has exactly one other participant");
    if (direct && (input.title || input.description))
      throw invalidField(input.title ? "title" : "description", "A direct conversation has no title or description");
    if (others.length > MAX_PARTICIPANTS - 1) throw invalidField("participant_ids", `At most ${MAX_PARTICIPANTS} participants`);
    this.requireUsers(others);
    const title = cleanText(input.title, "title", MAX_TITLE_LENGTH);
    const description = cleanText(input.description, "description", MAX_DESCRIPTION_LENGTH);

    const { id, created } = await this.writer.run((after) => {
      const key = direct ? directKey(actorId, others[0]!) : null;
      const existing = key ? this.store.selectDirect(key) : null;
      if (existing) return { id: existing.id, created: false };
      const now = Date.now();
      const id = this.store.insertConversation({ type: input.conversation_type, title, description, createdBy: actorId, directKey: key }, now);
      this.store.insertParticipant(id, actorId, direct ? "member" : "admin", 0, now);
      for (const u of others) this.store.insertParticipant(id, u, "member", 0, now);
      this.journal.emit(after, "conversation.created", { conversation: this.view(actorId, id), participantIds: [actorId, ...others] }, { conversationId: id });
      return { id, created: true };
    });
    return { conversation: this.view(actorId, id), created };
  }

  /** The caller's conversations, latest activity first, keyset-paged. */
  list(userId: number, limit: number, cursor: string | undefined): ConversationPage {
    const { items, hasMore } = this.listWithCursors(userId, limit, cursor);
    return {
      conversations: items.map((i) => i.conversation),
      next_cursor: hasMore ? items[items.length - 1]!.cursor : null,
      has_more: hasMore,
    };
  }

  /** The same page with a cursor per item (GraphQL edges). */
  listWithCursors(userId: number, limit: number, cursor: string | undefined): { items: { conversation: ConversationView; cursor: string }[]; hasMore: boolean } {
    const after = cursor === undefined ? null : decodeCursor<ListCursor>(cursor, (c) => Number.isInteger(c.a) && Number.isInteger(c.i));
    const rows = this.store.selectList(userId, limit + 1, after ? { activityAt: after.a, id: after.i } : null);
    const page = rows.slice(0, limit);
    const views = this.views(page);
    return {
      items: page.map((r, i) => ({ conversation: views[i]!, cursor: encodeCursor<ListCursor>({ a: r.activity_at, i: r.id }) })),
      hasMore: rows.length > limit,
    };
  }

  get(userId: number, id: number): ConversationView {
    return this.view(userId, id);
  }

  /** Change title/description: group admins only. */
  async update(actorId: number, id: number, patch: { title?: string | null; description?: string | null }): Promise<ConversationView> {
    const clean = {
      title: patch.title === undefined ? undefined : cleanText(patch.title, "title", MAX_TITLE_LENGTH),
      description: patch.description === undefined ? undefined : cleanText(patch.description, "description", MAX_DESCRIPTION_LENGTH),
    };
    await this.writer.run((after) => {
      const me = this.requireGroupMember(actorId, id, "conversation_type");
      if (me.role !== "admin") throw forbidden("Only a group admin may change the group");
      this.store.updateConversation(id, clean, Date.now());
      const row = this.store.selectConversation(id)!;
      const participantIds = this.participantIds(id);
      this.journal.emit(after, "conversation.updated", { conversationId: id, title: row.title, description: row.description, actorId, participantIds }, { conversationId: id });
    });
    return this.view(actorId, id);
  }

  /** Admins add; admins remove anyone; anyone removes themself (leaves). */
  async addParticipants(actorId: number, id: number, userIds: number[]): Promise<ParticipantView[]> {
    const ids = [...new Set(userIds)];
    const added = await this.writer.run((after) => {
      const me = this.requireGroupMember(actorId, id, "action");
      if (me.role !== "admin") throw forbidden("Only a group admin may add participants");
      this.requireUsers(ids, "user_ids");
      if (this.store.selectParticipants(id).length + ids.length > MAX_PARTICIPANTS)
        throw invalidField("user_ids", `A group has at most ${MAX_PARTICIPANTS} participants`);
      const now = Date.now();
      const seq = this.store.selectConversation(id)!.last_message_seq ?? 0;
      const added = ids.filter((u) => this.store.insertParticipant(id, u, "member", seq, now));
      if (added.length) {
        const participantIds = this.participantIds(id);
        this.journal.emit(after, "participants.changed", { conversationId: id, added, removed: [], actorId, participantIds }, { conversationId: id });
      }
      return added;
    });
    const byUser = new Map((this.store.selectParticipantsOf([id]).get(id) ?? []).map((p) => [p.user_id, p]));
    return added.map((u) => toParticipantView(byUser.get(u)!, this.pictureUrl));
  }

  async removeParticipants(actorId: number, id: number, userIds: number[]): Promise<number[]> {
    const ids = [...new Set(userIds)];
    const leavingOnly = ids.length === 1 && ids[0] === actorId;
    return this.writer.run((after) => {
      const me = this.requireGroupMember(actorId, id, "action");
      if (!leavingOnly && me.role !== "admin") throw forbidden("Only a group admin may remove other participants");
      const removed = ids.filter((u) => this.store.deleteParticipant(id, u));
      this.keepAnAdmin(id);
      if (removed.length) {
        const participantIds = this.participantIds(id);
        // The removed users are told too: their clients drop the conversation.
        const audience = [...participantIds, ...removed];
        this.journal.emit(after, "participants.changed", { conversationId: id, added: [], removed, actorId, participantIds: audience }, { conversationId: id, userIds: removed });
      }
      return removed;
    });
  }

  /** The conversation and the caller's membership, or 404 (non-participants may not know it exists). */
  requireMember(userId: number, id: number): { conversation: ConversationRow; me: ParticipantRow } {
    const me = this.store.selectParticipant(id, userId);
    const conversation = me && this.store.selectConversation(id);
    if (!me || !conversation) throw notFound("Conversation");
    return { conversation, me };
  }

  /** Every conversation a user is in (what their connections follow). */
  conversationIdsOf(userId: number): number[] {
    return this.store.selectConversationIdsOf(userId);
  }

  /** Everyone who shares a conversation with a user: who may see their presence (CONTRACT §8). */
  contactsOf(userId: number): number[] {
    return this.store.selectContactsOf(userId);
  }

  /**
   * The caller's membership of a group, for changes to it. Called inside the write job: a leave
   * or removal committed earlier in the same batch counts, so someone who just left (or an admin
   * who was just removed) cannot still add, remove or rename.
   */
  private requireGroupMember(userId: number, id: number, directField: string): ParticipantRow {
    const { conversation, me } = this.requireMember(userId, id);
    if (conversation.type === "direct") throw invalidField(directField, "A direct conversation takes no changes of title, description or participants");
    return me;
  }

  /** Who is in a conversation now (from the store's cache; a copy, the caller may keep it). */
  participantIds(id: number): number[] {
    return [...this.store.selectParticipantIds(id)];
  }

  /** A group whose last admin left gets its longest-standing member as admin, so it stays manageable. */
  private keepAnAdmin(id: number) {
    const rest = this.store.selectParticipants(id);
    if (rest.length && !rest.some((p) => p.role === "admin")) this.store.promoteParticipant(id, rest[0]!.user_id);
  }

  /** 400 naming `field` (the request's own name for the list) when an id is not an active user. */
  private requireUsers(ids: number[], field = "participant_ids") {
    for (const id of ids) {
      const u = this.users.selectUserById(id);
      if (!u || u.disabled) throw invalidField(field, `No user with id ${id}`);
    }
  }

  private view(userId: number, id: number): ConversationView {
    const row = this.store.selectListRow(userId, id);
    if (!row) throw notFound("Conversation");
    return this.views([row])[0]!;
  }

  /** Views for a page of list rows: participants, last messages and read markers in one query each. */
  private views(rows: ListRow[]): ConversationView[] {
    if (!rows.length) return [];
    const participants = this.store.selectParticipantsOf(rows.map((r) => r.id));
    const seqs = rows.flatMap((r) => [r.last_message_seq, r.read_seq]).filter((s): s is number => !!s);
    const messages = this.messages.selectMessagesBySeq([...new Set(seqs)]);
    return rows.map((r) => {
      const last = r.last_message_seq ? messages.get(r.last_message_seq) : undefined;
      return toConversationView(
        r,
        (participants.get(r.id) ?? []).map((p) => toParticipantView(p, this.pictureUrl)),
        {
          lastMessage: last ? toLastMessage(last) : null,
          unreadCount: r.unread_count,
          lastReadMessageId: r.read_seq ? (messages.get(r.read_seq)?.id ?? null) : null,
        },
      );
    });
  }
}

/** Trim; empty means null; too long is a 400 naming the field. */
function cleanText(v: string | null | undefined, field: string, max: number): string | null {
  if (v === undefined || v === null) return null;
  const t = v.trim();
  if (t.length > max) throw invalidField(field, `Must be at most ${max} characters`);
  return t || null;
}

/**
 * The rules of messages (CONTRACT §7): only participants read or write; only the author edits
 * or deletes (a delete leaves a tombstone); sends are idempotent by client_message_id; every
 * change is committed through the batched writer, then announced on the bus.
 */
import { forbidden, invalidField, notFound } from "../lib/errors";
import type { BatchedWriter } from "../db/batched-writer";
import type { Journal } from "../journal/journal";
import { iso } from "../lib/time";
import { decodeCursor, encodeCursor } from "../lib/cursor";
import type { ConversationStore } from "../conversations/store";
import type { ConversationService } from "../conversations/service";
import { groupReactions, toEditView, toMessageView, type EditView, type MessageView, type Watermarks } from "./model";
import type { MessageRow, MessageStore, MessageType } from "./store";
import { NO_ATTACHMENTS, type Attachments } from "./attachments";

export const MAX_CONTENT_LENGTH = 10_000;
export const MAX_CLIENT_ID_LENGTH = 128;
export const MAX_EDIT_REASON_LENGTH = 100;
export const MAX_SEARCH_LENGTH = 200;
/** A search's last word matches as a prefix from this many characters; shorter, as a whole word. */
export const MIN_PREFIX_LENGTH = 3;
/** Messages indexed per background step: bounds how long one step holds the event loop. */
const INDEX_CHUNK = 2000;
const MAX_EMOJI_BYTES = 32;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" });

export interface SendInput {
  message_type: MessageType;
  content?: string | null;
  reply_to_message_id?: string | null;
  client_message_id?: string | null;
  media_attachments?: { file_id: string }[];
}

export interface HistoryQuery {
  limit: number;
  before?: string;
  after?: string;
  cursor?: string;
}

export interface HistoryPage {
  messages: MessageView[];
  has_more: boolean;
  next_cursor: string | null;
}

interface HistoryCursor {
  d: "before" | "after";
  m: string; // message_id the next page continues from
}

export class MessageService {
  constructor(
    private readonly store: MessageStore,
    private readonly conversationStore: ConversationStore,
    private readonly conversations: ConversationService,
    private readonly writer: BatchedWriter,
    private readonly journal: Journal,
    private readonly attachments: Attachments = NO_ATTACHMENTS,
  ) {}

  /**
   * Send a message. Resolves after the commit. A repeated client_message_id returns the original
   * message with created: false and writes nothing.
   */
  async send(senderId: number, conversationId: number, input: SendInput): Promise<{ message: MessageView; created: boolean }> {
    const content = checkContent(input);
    // An image (video, audio, file) message is its attachments; without one it shows nothing.
    if (input.message_type !== "text" && !input.media_attachments?.length)
      throw invalidField("media_attachments", `A ${input.message_type} message needs at least one attachment`);
    const fileIds = (input.media_attachments ?? []).map((a) => a.file_id);
    if (input.message_type === "text" && fileIds.length)
      throw invalidField("media_attachments", "A text message carries no attachments: send it as image, video, audio or file");
    const clientId = input.client_message_id ?? null;
    if (clientId !== null && (clientId.length < 1 || clientId.length > MAX_CLIENT_ID_LENGTH))
      throw invalidField("client_message_id", `1 to ${MAX_CLIENT_ID_LENGTH} characters`);
    const replyTo = input.reply_to_message_id ?? null;

    return this.writer.run((after) => {
      // The cached member list serves the access check and the event's audience. A message
      // this new is `sent` for everyone else, so no receipt watermarks need reading.
      const memberIds = this.conversationStore.selectParticipantIds(conversationId);
      if (!memberIds.includes(senderId)) throw notFound("Conversation");
      const participants = memberIds.map((user_id) => ({ user_id, delivered_seq: 0, read_seq: 0 }));
      if (clientId !== null) {
        const existing = this.store.selectByClientId(conversationId, senderId, clientId);
        if (existing) return { message: this.viewOne(existing), created: false };
      }
      if (replyTo !== null) {
        const target = UUID_RE.test(replyTo) ? this.store.selectMessage(replyTo) : null;
        if (!target || target.conversation_id !== conversationId)
          throw invalidField("reply_to_message_id", "No such message in this conversation");
      }
      this.attachments.requireAttachable(senderId, conversationId, input.message_type, fileIds);
      const now = Date.now();
      const row = this.store.insertMessage({
        id: Bun.randomUUIDv7("hex", now),
        conversationId,
        senderId,
        type: input.message_type,
        content,
        replyTo,
        clientMessageId: clientId,
        now,
      });
      this.conversationStore.recordMessage(conversationId, row.seq, now);
      // The sender has read what they wrote.
      this.conversationStore.markRead(conversationId, senderId, row.seq);
      let attached;
      if (fileIds.length) {
        this.attachments.attach(row.seq, fileIds);
        attached = this.attachments.viewsOf([row.seq]).get(row.seq);
      }
      const message = toMessageView(row, participants, {}, attached);
      this.journal.emit(after, "message.created", { message, participantIds: [...memberIds] }, { conversationId });
      return { message, created: true };
    });
  }

  history(userId: number, conversationId: number, q: HistoryQuery): HistoryPage {
    this.conversations.requireMember(userId, conversationId);
    const { direction, from } = this.pagePosition(conversationId, q);
    const rows =
      direction === "before"
        ? this.store.selectBefore(conversationId, from, q.limit + 1)
        : this.store.selectAfter(conversationId, from ?? 0, q.limit + 1);
    const page = rows.slice(0, q.limit);
    const last = page[page.length - 1];
    return {
      messages: this.views(conversationId, page),
      has_more: rows.length > q.limit,
      next_cursor: rows.length > q.limit && last ? encodeCursor<HistoryCursor>({ d: direction, m: last.id }) : null,
    };
  }

  /** Edit: the author only; the earlier text goes into edit_history. */
  async edit(actorId: number, messageId: string, content: string, reason: string | null): Promise<MessageView & { edit_history: EditView[] }> {
    const text = checkText(content);
    if (reason !== null && reason.length > MAX_EDIT_REASON_LENGTH) throw invalidField("edit_reason", `At most ${MAX_EDIT_REASON_LENGTH} characters`);
    return this.writer.run((after) => {
      const m = this.requireOwn(actorId, messageId);
      if (m.deleted_at !== null) throw notFound("Message");
      const now = Date.now();
      if (m.content !== text) {
        this.store.insertEdit(m.seq, now, m.content, reason);
        this.store.updateContent(m.seq, text, now);
      }
      const message = this.viewOne(this.store.selectMessage(messageId)!);
      const participantIds = this.conversations.participantIds(m.conversation_id);
      if (m.content !== text) this.journal.emit(after, "message.updated", { message, participantIds }, { conversationId: m.conversation_id });
      return { ...message, edit_history: this.store.selectEdits(m.seq).map(toEditView) };
    });
  }

  /** Delete: the author only; the message stays as a tombstone so replies keep their target. */
  async delete(actorId: number, messageId: string): Promise<void> {
    await this.writer.run((after) => {
      const m = this.requireOwn(actorId, messageId);
      if (m.deleted_at !== null) return;
      const now = Date.now();
      this.store.tombstone(m.seq, now);
      this.attachments.detach(m.seq, now);
      const participantIds = this.conversations.participantIds(m.conversation_id);
      this.journal.emit(after, "message.deleted", { messageId, conversationId: m.conversation_id, participantIds }, { conversationId: m.conversation_id });
    });
  }

  /** Add or remove the caller's reaction; both are idempotent. Returns all reactions of the message. */
  async react(actorId: number, messageId: string, emoji: string, add: boolean): Promise<Record<string, number[]>> {
    checkEmoji(emoji);
    return this.writer.run((after) => {
      const m = this.requireReachable(actorId, messageId);
      if (m.deleted_at !== null) throw notFound("Message");
      const changed = add ? this.store.insertReaction(m.seq, emoji, actorId, Date.now()) : this.store.deleteReaction(m.seq, emoji, actorId);
      const reactions = groupReactions(this.store.selectReactions([m.seq])).get(m.seq) ?? {};
      if (changed) {
        const participantIds = this.conversations.participantIds(m.conversation_id);
        const payload = { messageId, conversationId: m.conversation_id, userId: actorId, emoji, added: add, reactions, participantIds };
        this.journal.emit(after, "reaction.changed", payload, { conversationId: m.conversation_id });
      }
      return reactions;
    });
  }

  /** A receipt from `userId`: everything up to `messageId` was delivered to / read by them. */
  async receipt(userId: number, conversationId: number, messageId: string, status: "delivered" | "read"): Promise<void> {
    this.conversations.requireMember(userId, conversationId);
    const m = UUID_RE.test(messageId) ? this.store.selectMessage(messageId) : null;
    if (!m || m.conversation_id !== conversationId) throw invalidField("message_id", "No such message in this conversation");
    await this.writer.run((after) => {
      const moved =
        status === "read"
          ? this.conversationStore.markRead(conversationId, userId, m.seq)
          : this.conversationStore.markDelivered(conversationId, userId, m.seq);
      if (!moved) return;
      const participantIds = this.conversations.participantIds(conversationId);
      const at = iso(Date.now());
      this.journal.emit(after, "receipt.updated", { conversationId, userId, messageId, status, at, participantIds }, { conversationId });
    });
  }

  /** Erase every message of a sender, inside the caller's write (account deletion). */
  eraseAllBy(senderId: number): number {
    const now = Date.now();
    this.attachments.detachAllOf(senderId, now);
    return this.store.tombstoneAllBy(senderId, now);
  }

  /**
   * Index new messages for search in the background (they are not indexed inside the send's
   * transaction). Returns the function that stops it.
   */
  startIndexing(everyMs = 250): () => void {
    const timer = setInterval(() => {
      this.writer.run(() => this.store.indexPending(INDEX_CHUNK)).catch(() => {});
    }, everyMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  /** Ranked full-text search over conversations the caller is in. */
  search(userId: number, text: string, conversationId: number | null, limit: number): MessageView[] {
    const q = ftsQuery(text);
    if (conversationId !== null) this.conversations.requireMember(userId, conversationId);
    // Whatever was sent before this search is findable by it, indexed or not yet.
    this.store.catchUpIndex();
    const rows = this.store.search(userId, q, limit, conversationId);
    const byConversation = new Map<number, MessageRow[]>();
    for (const r of rows) byConversation.set(r.conversation_id, [...(byConversation.get(r.conversation_id) ?? []), r]);
    const views = new Map<string, MessageView>();
    for (const [cid, list] of byConversation) for (const v of this.views(cid, list)) views.set(v.message_id, v);
    return rows.map((r) => views.get(r.id)!);
  }

  /**
   * Many messages by id as `viewerId` may see them (those of conversations they are in), in a
   * constant number of queries: GraphQL's per-request loader uses this.
   */
  getMany(viewerId: number, ids: readonly string[]): Map<string, MessageView> {
    const rows = this.store.selectMessagesByIds(ids.filter((id) => UUID_RE.test(id)));
    const participants = this.conversationStore.selectParticipantsOf([...new Set(rows.map((r) => r.conversation_id))]);
    const visible = rows.filter((r) => participants.get(r.conversation_id)?.some((p) => p.user_id === viewerId));
    const reactions = groupReactions(this.store.selectReactions(visible.map((r) => r.seq)));
    const files = this.attachments.viewsOf(visible.map((r) => r.seq));
    return new Map(visible.map((r) => [r.id, toMessageView(r, participants.get(r.conversation_id)!, reactions.get(r.seq), files.get(r.seq))]));
  }

  private pagePosition(conversationId: number, q: HistoryQuery): { direction: "before" | "after"; from: number | null } {
    const given = [q.before, q.after, q.cursor].filter((x) => x !== undefined).length;
    if (given > 1) throw invalidField("cursor", "Give at most one of before, after and cursor");
    let direction: "before" | "after" = q.after !== undefined ? "after" : "before";
    let anchor = q.before ?? q.after;
    const field = q.after !== undefined ? "after" : q.before !== undefined ? "before" : "cursor";
    if (q.cursor !== undefined || (anchor !== undefined && !UUID_RE.test(anchor))) {
      const c = decodeCursor<HistoryCursor>(q.cursor ?? anchor!, (v) => (v.d === "before" || v.d === "after") && typeof v.m === "string", field);
      if (q.cursor !== undefined) direction = c.d;
      anchor = c.m;
    }
    if (anchor === undefined) return { direction, from: null };
    const m = UUID_RE.test(anchor) ? this.store.selectMessage(anchor) : null;
    if (!m || m.conversation_id !== conversationId) throw invalidField(field, "No such message in this conversation");
    return { direction, from: m.seq };
  }

  /** Views for messages of one conversation: reactions in one query, statuses from the watermarks. */
  private views(conversationId: number, rows: MessageRow[]): MessageView[] {
    if (!rows.length) return [];
    const participants: Watermarks[] = this.conversationStore.selectParticipants(conversationId);
    const reactions = groupReactions(this.store.selectReactions(rows.map((r) => r.seq)));
    const files = this.attachments.viewsOf(rows.map((r) => r.seq));
    return rows.map((r) => toMessageView(r, participants, reactions.get(r.seq), files.get(r.seq)));
  }

  private viewOne(m: MessageRow): MessageView {
    return this.views(m.conversation_id, [m])[0]!;
  }

  /** The message, or 404; 403 when the caller is not in its conversation (CONTRACT §7). */
  private requireReachable(userId: number, messageId: string): MessageRow {
    const m = UUID_RE.test(messageId) ? this.store.selectMessage(messageId) : null;
    if (!m) throw notFound("Message");
    if (!this.conversationStore.selectParticipant(m.conversation_id, userId)) throw forbidden("You are not in this message's conversation");
    return m;
  }

  private requireOwn(userId: number, messageId: string): MessageRow {
    const m = this.requireReachable(userId, messageId);
    if (m.sender_id !== userId) throw forbidden("Only the author may change this message");
    return m;
  }
}

/** The cursor that continues history after `messageId` in `direction` (GraphQL edge cursors). */
export function historyCursor(messageId: string, direction: "before" | "after" = "before"): string {
  return encodeCursor<HistoryCursor>({ d: direction, m: messageId });
}

function checkText(content: unknown, field = "content"): string {
  if (typeof content !== "string" || content.trim() === "") throw invalidField(field, "Message content cannot be empty");
  // Characters are code points, not UTF-16 units: 10,000 emoji are 10,000 characters. Only
  // strings past the limit in units are counted, and those past twice it cannot fit.
  if (content.length > MAX_CONTENT_LENGTH && (content.length > 2 * MAX_CONTENT_LENGTH || [...content].length > MAX_CONTENT_LENGTH))
    throw invalidField(field, `Message content is at most ${MAX_CONTENT_LENGTH} characters`);
  return content;
}

/** Text messages need content; media messages may carry a caption. */
function checkContent(input: SendInput): string | null {
  if (input.message_type === "text") return checkText(input.content);
  if (input.content === undefined || input.content === null || input.content === "") return null;
  return checkText(input.content);
}

/** One grapheme cluster of at most 32 bytes (CONTRACT §7), and not blank. */
function checkEmoji(emoji: string) {
  const count = [...graphemes.segment(emoji)].length;
  if (count !== 1 || Buffer.byteLength(emoji) > MAX_EMOJI_BYTES || !emoji.trim() || /\p{Cc}/u.test(emoji))
    throw invalidField("emoji", "A reaction is one emoji");
}

/**
 * Turn what a person typed into a safe FTS5 query: each word becomes a quoted term (no operator
 * injection), all must match, and the last one matches as a prefix (search as you type).
 */
export function ftsQuery(text: string): string {
  // Control characters are never part of a word, and a NUL would end the FTS5 string early
  // ("unterminated string", a 500): they separate words like spaces do.
  const words = text.slice(0, MAX_SEARCH_LENGTH).replace(/\p{Cc}/gu, " ").trim().split(/\s+/).filter(Boolean).slice(0, 16);
  if (!words.length) throw invalidField("q", "Search text is required");
  const last = words.length - 1;
  return words.map((w, i) => `"${w.replace(/"/g, '""')}"${i === last && prefixable(w) ? "*" : ""}`).join(" ");
}

/**
 * Whether a last word is long enough to match as a prefix. FTS5 answers a prefix by merging the
 * doclists of every word that starts with it: for "t" that is most of the index (300 ms on the
 * million-message benchmark, with the event loop held), for three letters a few (12 ms). What
 * counts is the word's last token, as the index's tokenizer splits it ("e.t" ends in "t").
 */
function prefixable(word: string): boolean {
  const tokens = word.split(/[^\p{L}\p{N}]+/u).filter(Boolean);
  return [...(tokens.at(-1) ?? "")].length >= MIN_PREFIX_LENGTH;
}

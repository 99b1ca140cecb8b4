/** Messages as the API shows them (the seed's message object, CONTRACT §7). */
import { iso } from "../lib/time";
import type { EditRow, MessageRow, MessageType, ReactionRow } from "./store";

export type DeliveryStatus = "sent" | "delivered" | "read";

export interface MediaAttachmentView {
  file_id: string;
  file_type: string;
  /** Signed and expiring: minted afresh for every response (CONTRACT §10). */
  file_url: string;
  thumbnail_url: string | null;
  // Beyond the seed: what a client needs to lay a bubble out before the bytes arrive.
  file_size: number;
  file_name: string | null;
  dimensions: { width: number; height: number } | null;
}

export interface MessageView {
  message_id: string;
  conversation_id: number;
  sender_id: number | null;
  message_type: MessageType;
  content: string | null;
  created_at: string;
  updated_at: string;
  delivery_status: DeliveryStatus;
  reactions: Record<string, number[]>;
  reply_to_message_id: string | null;
  media_attachments: MediaAttachmentView[];
  client_message_id: string | null;
  deleted: boolean;
  edited: boolean;
}

export interface EditView {
  edited_at: string;
  previous_content: string | null;
  edit_reason: string | null;
}

/** Receipt watermarks of one participant (see migrations/0002). */
export interface Watermarks {
  user_id: number;
  delivered_seq: number;
  read_seq: number;
}

/**
 * The aggregate status of a message (CONTRACT §7): `read` when every other participant has read
 * it, `delivered` when every other participant has it on some device, else `sent`. With nobody
 * else in the conversation (everyone left), a stored message counts as read.
 */
export function deliveryStatus(m: Pick<MessageRow, "seq" | "sender_id">, participants: Watermarks[]): DeliveryStatus {
  let delivered = true;
  for (const p of participants) {
    if (p.user_id === m.sender_id) continue;
    if (p.read_seq < m.seq) {
      if (p.delivered_seq < m.seq) return "sent";
      delivered = false;
    }
  }
  return delivered ? "read" : "delivered";
}

/** Group reaction rows by message into the seed's `{"👍": [user_ids]}` shape. */
export function groupReactions(rows: ReactionRow[]): Map<number, Record<string, number[]>> {
  const out = new Map<number, Record<string, number[]>>();
  for (const r of rows) {
    let byEmoji = out.get(r.message_seq);
    if (!byEmoji) out.set(r.message_seq, (byEmoji = {}));
    (byEmoji[r.emoji] ??= []).push(r.user_id);
  }
  return out;
}

export function toMessageView(
  m: MessageRow,
  participants: Watermarks[],
  reactions: Record<string, number[]> = {},
  attachments: MediaAttachmentView[] = [],
): MessageView {
  return {
    message_id: m.id,
    conversation_id: m.conversation_id,
    sender_id: m.sender_id,
    message_type: m.type,
    content: m.content,
    created_at: iso(m.created_at),
    updated_at: iso(m.updated_at),
    delivery_status: deliveryStatus(m, participants),
    reactions: m.deleted_at === null ? reactions : {},
    reply_to_message_id: m.reply_to,
    media_attachments: m.deleted_at === null ? attachments : [],
    client_message_id: m.client_message_id,
    deleted: m.deleted_at !== null,
    edited: m.updated_at !== m.created_at && m.deleted_at === null,
  };
}

export function toEditView(e: EditRow): EditView {
  return { edited_at: iso(e.edited_at), previous_content: e.previous_content, edit_reason: e.edit_reason };
}

/** The short form inside a conversation list item (`last_message`). */
export interface LastMessageView {
  message_id: string;
  sender_id: number | null;
  content: string | null;
  created_at: string;
  message_type: MessageType;
  deleted: boolean;
}

export function toLastMessage(m: MessageRow): LastMessageView {
  return {
    message_id: m.id,
    sender_id: m.sender_id,
    content: m.content,
    created_at: iso(m.created_at),
    message_type: m.type,
    deleted: m.deleted_at !== null,
  };
}

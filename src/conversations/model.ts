/** Conversations as the API shows them: one shape for list items, GET and create (CONTRACT §7). */
import { iso } from "../lib/time";
import { toSummary, type PictureUrl, type UserSummary } from "../users/model";
import type { LastMessageView } from "../messages/model";
import type { ConversationRow, ConversationType, ParticipantRole, ParticipantWithUser } from "./store";

export interface ParticipantView extends UserSummary {
  role: ParticipantRole;
  joined_at: string;
}

export interface ConversationView {
  conversation_id: number;
  conversation_type: ConversationType;
  title: string | null;
  description: string | null;
  created_by: number | null;
  created_at: string;
  updated_at: string;
  participants: ParticipantView[];
  last_message: LastMessageView | null;
  unread_count: number;
  last_read_message_id: string | null;
}

export function toParticipantView(p: ParticipantWithUser, pictureUrl: PictureUrl): ParticipantView {
  return { ...toSummary(p.user, pictureUrl), role: p.role, joined_at: iso(p.joined_at) };
}

export function toConversationView(
  c: ConversationRow,
  participants: ParticipantView[],
  extra: { lastMessage: LastMessageView | null; unreadCount: number; lastReadMessageId: string | null },
): ConversationView {
  return {
    conversation_id: c.id,
    conversation_type: c.type,
    title: c.title,
    description: c.description,
    created_by: c.created_by,
    created_at: iso(c.created_at),
    updated_at: iso(c.updated_at),
    participants,
    last_message: extra.lastMessage,
    unread_count: extra.unreadCount,
    last_read_message_id: extra.lastReadMessageId,
  };
}

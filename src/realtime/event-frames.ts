/**
 * Domain events as server frames (CONTRACT §8). The same function renders a live event and a
 * replayed one, so a client cannot tell them apart except by when they arrive.
 */
import type { DomainEvents, EventName } from "../events";

export type ServerFrame = Record<string, unknown> & { type: string };

type Renderers = { [K in EventName]?: (p: DomainEvents[K]) => ServerFrame };

const renderers: Renderers = {
  "message.created": (p) => ({ type: "new_message", conversation_id: p.message.conversation_id, message: p.message }),
  "message.updated": (p) => ({ type: "message_updated", conversation_id: p.message.conversation_id, message: p.message }),
  "message.deleted": (p) => ({ type: "message_deleted", conversation_id: p.conversationId, message_id: p.messageId }),
  "reaction.changed": (p) => ({
    type: "reaction_updated",
    conversation_id: p.conversationId,
    message_id: p.messageId,
    user_id: p.userId,
    emoji: p.emoji,
    action: p.added ? "add" : "remove",
    reactions: p.reactions,
  }),
  "receipt.updated": (p) => ({
    type: "delivery_status_update",
    conversation_id: p.conversationId,
    message_id: p.messageId,
    user_id: p.userId,
    status: p.status,
    timestamp: p.at,
  }),
  "conversation.created": (p) => ({
    type: "conversation_updated",
    change: "created",
    conversation_id: p.conversation.conversation_id,
    conversation: p.conversation,
  }),
  "conversation.updated": (p) => ({
    type: "conversation_updated",
    change: "updated",
    conversation_id: p.conversationId,
    title: p.title,
    description: p.description,
    updated_by: p.actorId,
  }),
  "participants.changed": (p) => ({
    type: "participants_changed",
    conversation_id: p.conversationId,
    added_user_ids: p.added,
    removed_user_ids: p.removed,
    changed_by: p.actorId,
  }),
};

/** The frame for a durable event, with its event_id first; null for events clients never see. */
export function renderEvent<K extends EventName>(name: K, payload: DomainEvents[K], eventId: number): string | null {
  const render = renderers[name] as ((p: DomainEvents[K]) => ServerFrame) | undefined;
  if (!render) return null;
  const { type, ...rest } = render(payload);
  return JSON.stringify({ type, event_id: eventId, ...rest });
}

/**
 * Users an event is addressed to beyond the conversation's topic (CONTRACT §8: "events for a
 * user ... reach every connection of that user without subscribing"): whoever made the change,
 * so their other devices stay in sync, and whoever was removed. Their connections that
 * unsubscribed from the conversation still get the event.
 */
export function addresseesOf<K extends EventName>(name: K, payload: DomainEvents[K]): number[] {
  const p = payload as Partial<DomainEvents[EventName]> & Record<string, any>;
  switch (name) {
    case "message.created":
    case "message.updated":
      return p.message?.sender_id != null ? [p.message.sender_id] : [];
    case "reaction.changed":
    case "receipt.updated":
      return [p.userId];
    case "conversation.updated":
      return [p.actorId];
    case "participants.changed":
      return [p.actorId, ...(p.removed ?? [])];
    default:
      return [];
  }
}

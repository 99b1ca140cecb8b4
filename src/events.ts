/**
 * The domain event bus (ARCHITECTURE rule 2): a service commits, then publishes; WebSocket
 * fanout, GraphQL subscriptions and the push outbox subscribe. In-process now; the interface is
 * small so that a Redis or NATS adapter can replace it when one machine is outgrown.
 */

import type { MessageView } from "./messages/model";
import type { ConversationView } from "./conversations/model";

/**
 * Every domain event, by name. Each carries what a transport needs to tell clients without
 * going back to the database: the changed object in API shape and who may see it
 * (`participantIds`, after the change).
 */
export interface DomainEvents {
  "user.updated": { userId: number };
  "user.disabled": { userId: number };
  "session.revoked": { userId: number; sessionId: string };
  "conversation.created": { conversation: ConversationView; participantIds: number[] };
  "conversation.updated": { conversationId: number; title: string | null; description: string | null; actorId: number; participantIds: number[] };
  "participants.changed": { conversationId: number; added: number[]; removed: number[]; actorId: number; participantIds: number[] };
  "message.created": { message: MessageView; participantIds: number[] };
  "message.updated": { message: MessageView; participantIds: number[] };
  "message.deleted": { messageId: string; conversationId: number; participantIds: number[] };
  "reaction.changed": { messageId: string; conversationId: number; userId: number; emoji: string; added: boolean; reactions: Record<string, number[]>; participantIds: number[] };
  /** Lossy: announced only to users allowed to see it (privacy settings applied already). */
  "presence.changed": { userId: number; status: "online" | "away" | "offline"; lastSeen: string | null };
  /** Lossy: someone started or stopped typing in a conversation. */
  typing: { conversationId: number; userId: number; isTyping: boolean };
  /** One participant's receipt moved forward to `messageId` (and everything before it). */
  "receipt.updated": { conversationId: number; userId: number; messageId: string; status: "delivered" | "read"; at: string; participantIds: number[] };
}

export type EventName = keyof DomainEvents;

/** Delivery facts beside the payload: the journal's id for durable events, null for lossy ones. */
export interface EventMeta {
  eventId: number | null;
}

export type Handler<K extends EventName> = (payload: DomainEvents[K], meta: EventMeta) => void;

const LOSSY: EventMeta = { eventId: null };

export interface EventBus {
  publish<K extends EventName>(name: K, payload: DomainEvents[K], meta?: EventMeta): void;
  /** Returns the function that unsubscribes. */
  subscribe<K extends EventName>(name: K, handler: Handler<K>): () => void;
}

/** Synchronous in-process bus. A throwing subscriber is reported, never breaks the publisher. */
export class InProcessBus implements EventBus {
  private readonly handlers = new Map<EventName, Set<Handler<any>>>();

  constructor(private readonly onHandlerError: (name: EventName, error: unknown) => void) {}

  publish<K extends EventName>(name: K, payload: DomainEvents[K], meta: EventMeta = LOSSY): void {
    const set = this.handlers.get(name);
    if (!set) return;
    for (const h of set) {
      try {
        h(payload, meta);
      } catch (e) {
        this.onHandlerError(name, e);
      }
    }
  }

  subscribe<K extends EventName>(name: K, handler: Handler<K>): () => void {
    let set = this.handlers.get(name);
    if (!set) this.handlers.set(name, (set = new Set()));
    set.add(handler);
    return () => set.delete(handler);
  }
}

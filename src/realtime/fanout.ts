/**
 * Domain events → WebSocket clients (ARCHITECTURE rules 2 and 7). Each event is rendered to a
 * frame once and published to one Bun topic; Bun copies the bytes to every subscriber in
 * native code. JavaScript only loops over the few connections of users whose membership
 * changed, to move them into or out of a conversation's topic.
 */
import type { EventBus } from "../events";
import { DURABLE_EVENTS } from "../journal/journal";
import { addresseesOf, renderEvent } from "./event-frames";
import type { ConnectionRegistry } from "./connection";
import type { Publish } from "./presence";
import { topics } from "./topics";

/** Close code for a connection whose session or account ended. */
export const CLOSE_SESSION_ENDED = 4001;

export function startFanout(bus: EventBus, registry: ConnectionRegistry, publish: Publish): () => void {
  const follow = (userIds: number[], conversationId: number, members: number[]) => {
    for (const u of userIds) {
      for (const c of registry.ofUser(u)) {
        c.socket.subscribe(topics.conversation(conversationId));
        c.unsubscribed.delete(conversationId);
        // New co-participants see each other's presence from now on.
        for (const other of members) if (other !== u) c.socket.subscribe(topics.presence(other));
      }
      for (const other of members) {
        if (other === u) continue;
        for (const c of registry.ofUser(other)) c.socket.subscribe(topics.presence(u));
      }
    }
  };
  const unfollow = (userIds: number[], conversationId: number) => {
    for (const u of userIds) for (const c of registry.ofUser(u)) c.socket.unsubscribe(topics.conversation(conversationId));
  };
  const closeWhere = (userId: number, match: (sessionId: string | null) => boolean, reason: string) => {
    for (const c of [...registry.ofUser(userId)]) if (match(c.sessionId)) c.socket.close(CLOSE_SESSION_ENDED, reason);
  };

  const stops = DURABLE_EVENTS.map((name) =>
    bus.subscribe(name, (payload, meta) => {
      const frame = meta.eventId === null ? null : renderEvent(name, payload, meta.eventId);
      if (frame === null) return;
      if (name === "conversation.created") {
        const p = payload as { conversation: { conversation_id: number }; participantIds: number[] };
        follow(p.participantIds, p.conversation.conversation_id, p.participantIds);
      }
      const p = payload as { conversationId?: number; conversation?: { conversation_id: number }; message?: { conversation_id: number } };
      const conversationId = p.conversationId ?? p.conversation?.conversation_id ?? p.message!.conversation_id;
      if (name === "participants.changed") {
        const c = payload as { added: number[]; participantIds: number[] };
        follow(c.added, conversationId, c.participantIds);
      }
      publish(topics.conversation(conversationId), frame);
      // The topic skips connections that unsubscribed; events addressed to their user reach them
      // anyway (a handful of connections: the actor's devices and the removed users').
      for (const u of new Set(addresseesOf(name, payload))) {
        for (const c of registry.ofUser(u)) if (c.unsubscribed.has(conversationId)) c.socket.send(frame);
      }
      // Removed users got the event above while still subscribed; now they leave the topic.
      if (name === "participants.changed") unfollow((payload as { removed: number[] }).removed, conversationId);
    }),
  );
  stops.push(
    bus.subscribe("session.revoked", (p) => closeWhere(p.userId, (s) => s === p.sessionId, "session ended")),
    bus.subscribe("user.disabled", (p) => closeWhere(p.userId, () => true, "account disabled")),
  );
  return () => stops.forEach((s) => s());
}

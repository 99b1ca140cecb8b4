/**
 * Typing indicators (CONTRACT §8): `user_typing` to the others in a conversation, expiring by
 * itself 10 s after the last typing_start. Repeated typing_start frames only extend the timer,
 * so a client sending one per keystroke costs one event, not one per key. Lossy: no event_id.
 */
import type { ServerWebSocket } from "bun";
import { topics } from "./topics";
import type { EventBus } from "../events";
import type { Publish } from "./presence";

export class Typing {
  private readonly active = new Map<string, ReturnType<typeof setTimeout>>();

  constructor(
    readonly enabled: boolean,
    private readonly publish: Publish,
    /** ws.typingTtlMs: 10 s by default (CONTRACT §8), a setting so tests need not wait. */
    private readonly ttlMs: number,
    /** GraphQL's typingIndicator follows the bus. */
    private readonly bus: EventBus,
  ) {}

  /** `socket` is the typist's: Bun's socket.publish skips it, so the typist gets no echo. */
  start(socket: ServerWebSocket<unknown>, conversationId: number, userId: number) {
    if (!this.enabled) return;
    const key = `${conversationId}:${userId}`;
    const running = this.active.get(key);
    if (running) clearTimeout(running);
    else this.announce(socket, conversationId, userId, true);
    this.active.set(
      key,
      setTimeout(() => this.expire(key, conversationId, userId), this.ttlMs),
    );
  }

  stop(socket: ServerWebSocket<unknown>, conversationId: number, userId: number) {
    const key = `${conversationId}:${userId}`;
    const running = this.active.get(key);
    if (!running) return;
    clearTimeout(running);
    this.active.delete(key);
    this.announce(socket, conversationId, userId, false);
  }

  /** Stop every timer (shutdown). */
  clear() {
    for (const t of this.active.values()) clearTimeout(t);
    this.active.clear();
  }

  private expire(key: string, conversationId: number, userId: number) {
    this.active.delete(key);
    this.announce(null, conversationId, userId, false);
  }

  /** Through the typist's socket when there is one (no echo to it), else the server. */
  private announce(socket: ServerWebSocket<unknown> | null, conversationId: number, userId: number, isTyping: boolean) {
    const data = frame(conversationId, userId, isTyping);
    if (socket) socket.publish(topics.conversation(conversationId), data);
    else this.publish(topics.conversation(conversationId), data);
    this.bus.publish("typing", { conversationId, userId, isTyping });
  }
}

function frame(conversationId: number, userId: number, isTyping: boolean): string {
  return JSON.stringify({ type: "user_typing", conversation_id: conversationId, user_id: userId, is_typing: isTyping });
}

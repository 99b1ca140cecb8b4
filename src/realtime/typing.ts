/**
 * Typing indicators (CONTRACT §8): `user_typing` to the others in a conversation, expiring by
 * itself 10 s after the last typing_start. Repeated typing_start frames only extend the timer,
 * so a client sending one per keystroke costs one event, not one per key. Lossy: no event_id.
 */
import type { ServerWebSocket } from "bun";
import { topics } from "./topics";
import type { Publish } from "./presence";

export const TYPING_TTL_MS = 10_000;

export class Typing {
  private readonly active = new Map<string, ReturnType<typeof setTimeout>>();

  constructor(
    readonly enabled: boolean,
    private readonly publish: Publish,
  ) {}

  /** `socket` is the typist's: Bun's socket.publish skips it, so the typist gets no echo. */
  start(socket: ServerWebSocket<unknown>, conversationId: number, userId: number) {
    if (!this.enabled) return;
    const key = `${conversationId}:${userId}`;
    const running = this.active.get(key);
    if (running) clearTimeout(running);
    else socket.publish(topics.conversation(conversationId), frame(conversationId, userId, true));
    this.active.set(
      key,
      setTimeout(() => this.expire(key, conversationId, userId), TYPING_TTL_MS),
    );
  }

  stop(socket: ServerWebSocket<unknown>, conversationId: number, userId: number) {
    const key = `${conversationId}:${userId}`;
    const running = this.active.get(key);
    if (!running) return;
    clearTimeout(running);
    this.active.delete(key);
    socket.publish(topics.conversation(conversationId), frame(conversationId, userId, false));
  }

  /** Stop every timer (shutdown). */
  clear() {
    for (const t of this.active.values()) clearTimeout(t);
    this.active.clear();
  }

  private expire(key: string, conversationId: number, userId: number) {
    this.active.delete(key);
    this.publish(topics.conversation(conversationId), frame(conversationId, userId, false));
  }
}

function frame(conversationId: number, userId: number, isTyping: boolean): string {
  return JSON.stringify({ type: "user_typing", conversation_id: conversationId, user_id: userId, is_typing: isTyping });
}

/**
 * GET /v1/connect (CONTRACT §8): authenticate with the first frame within 10 s, then exchange
 * the seed's frames. Every handler validates, calls one service method and replies; a frame
 * that fails gets an `error` frame and the connection stays open.
 */
import { Elysia } from "elysia";
import type { ServerWebSocket } from "bun";
import { AppError } from "../lib/errors";
import type { Logger } from "../lib/log";
import type { AuthService } from "../auth/service";
import type { ConversationService } from "../conversations/service";
import type { MessageService } from "../messages/service";
import type { Journal, JournalEvent } from "../journal/journal";
import { decodeFrame, parseFrame, requestIdOf, type ClientFrame } from "./frames";
import { addresseesOf, renderEvent } from "./event-frames";
import type { Connection } from "./connection";
import { CLOSE_TRY_AGAIN_LATER, type Realtime } from "./realtime";
import { topics } from "./topics";

export const CLOSE_UNAUTHENTICATED = 4001;
export const CLOSE_RATE_LIMITED = 4008;

export interface GatewayDeps {
  realtime: Realtime;
  auth: AuthService;
  conversations: ConversationService;
  messages: MessageService;
  journal: Journal;
  log: Logger;
}

type Reply = (frame: Record<string, unknown>) => void;
type Handler<T extends ClientFrame["type"]> = (c: Connection, f: Extract<ClientFrame, { type: T }>, reply: Reply) => void | Promise<void>;

export function gateway(d: GatewayDeps) {
  const { realtime, log } = d;
  const { registry, presence, typing } = realtime;
  const fps = realtime.config.ws.framesPerSecond;
  const connectionOf = new WeakMap<object, Connection>();

  const handlers: { [T in ClientFrame["type"]]: Handler<T> } = {
    auth: (c, f, reply) => {
      const done = authenticate(c, f, reply);
      c.authenticating = done.then(
        () => void (c.authenticating = null),
        () => void (c.authenticating = null),
      );
      return done;
    },
    resume: (c, f, reply) => resume(c, f.last_event_id, reply),
    subscribe: (c, f, reply) => {
      const mine = new Set(d.conversations.conversationIdsOf(c.userId!));
      const ok = f.conversation_ids.filter((id) => mine.has(id));
      for (const id of ok) {
        c.socket.subscribe(topics.conversation(id));
        c.unsubscribed.delete(id);
      }
      reply({ type: "subscribe_success", subscribed_conversations: ok, rejected_conversations: f.conversation_ids.filter((id) => !mine.has(id)) });
    },
    unsubscribe: (c, f, reply) => {
      const mine = new Set(d.conversations.conversationIdsOf(c.userId!));
      const ok = f.conversation_ids.filter((id) => mine.has(id));
      const now = d.journal.lastEventId();
      for (const id of ok) {
        c.socket.unsubscribe(topics.conversation(id));
        c.unsubscribed.add(id);
        if (!c.missedFrom.has(id)) c.missedFrom.set(id, now);
      }
      reply({ type: "unsubscribe_success", unsubscribed_conversations: ok, rejected_conversations: f.conversation_ids.filter((id) => !mine.has(id)) });
    },
    send_message: async (c, f, reply) => {
      const { message } = await d.messages.send(c.userId!, f.conversation_id, f);
      reply({ type: "message_sent", message_id: message.message_id, client_message_id: message.client_message_id, conversation_id: message.conversation_id, timestamp: message.created_at });
    },
    typing_start: (c, f, reply) => {
      d.conversations.requireMember(c.userId!, f.conversation_id);
      typing.start(c.socket, f.conversation_id, c.userId!);
      acknowledge(reply);
    },
    typing_stop: (c, f, reply) => {
      d.conversations.requireMember(c.userId!, f.conversation_id);
      typing.stop(c.socket, f.conversation_id, c.userId!);
      acknowledge(reply);
    },
    presence_update: (c, f, reply) => {
      presence.set(c.userId!, f.status);
      acknowledge(reply);
    },
    message_delivered: async (c, f, reply) => {
      await d.messages.receipt(c.userId!, f.conversation_id, f.message_id, "delivered");
      acknowledge(reply);
    },
    message_read: async (c, f, reply) => {
      await d.messages.receipt(c.userId!, f.conversation_id, f.message_id, "read");
      acknowledge(reply);
    },
    ping: (_c, _f, reply) => reply({ type: "pong" }),
  };

  async function authenticate(c: Connection, f: Extract<ClientFrame, { type: "auth" }>, reply: Reply) {
    if (c.userId !== null) throw new AppError("VALIDATION_ERROR", "Already authenticated");
    let identity;
    try {
      identity = await d.auth.authenticate(f.token);
    } catch (e) {
      const err = e instanceof AppError ? e : new AppError("INVALID_TOKEN", "The access token is not valid");
      reply({ type: "auth_error", error: { code: err.code, message: err.message } });
      c.socket.close(CLOSE_UNAUTHENTICATED, "authentication failed");
      return;
    }
    if (c.socket.readyState !== 1) return; // closed while we were checking the token
    const { maxConnectionsPerUser } = realtime.config.ws;
    if (registry.ofUser(identity.userId).size >= maxConnectionsPerUser) {
      reply({ type: "auth_error", error: { code: "RATE_LIMITED", message: `At most ${maxConnectionsPerUser} connections per user` } });
      c.socket.close(CLOSE_TRY_AGAIN_LATER, "too many connections for this user");
      return;
    }
    if (c.authTimer) clearTimeout(c.authTimer);
    c.authTimer = null;
    registry.bind(c, identity.userId, identity.sessionId, f.device_id);
    // Subscriptions and the journal position are taken in one synchronous step: every event
    // after liveFrom reaches this socket live; everything up to it is what `resume` replays.
    c.socket.subscribe(topics.user(identity.userId));
    for (const id of d.conversations.conversationIdsOf(identity.userId)) c.socket.subscribe(topics.conversation(id));
    if (presence.enabled) for (const u of d.conversations.contactsOf(identity.userId)) c.socket.subscribe(topics.presence(u));
    c.liveFrom = d.journal.lastEventId();
    reply({ type: "auth_success", user_id: identity.userId, last_event_id: c.liveFrom });
    presence.connected(identity.userId);
  }

  /** Replay what the connection did not get live, synchronously so no live event interleaves. */
  function resume(c: Connection, lastEventId: number, reply: Reply) {
    const upTo = d.journal.lastEventId();
    const result = d.journal.replay(c.userId!, lastEventId, upTo);
    if (result.kind === "resync") return reply({ type: "resync_required" });
    for (const e of result.events) {
      if (e.id > c.liveFrom && reachedLive(c, e)) continue;
      const frame = renderEvent(e.name, e.payload, e.id);
      if (frame !== null) c.socket.send(frame);
    }
    reply({ type: "resume_complete", last_event_id: Math.max(upTo, lastEventId) });
  }

  /** Whether an event after liveFrom reached this connection live (see Connection.missedFrom). */
  function reachedLive(c: Connection, e: JournalEvent): boolean {
    const conversationId = conversationOf(e);
    const missedFrom = conversationId === undefined ? undefined : c.missedFrom.get(conversationId);
    if (missedFrom === undefined || e.id <= missedFrom) return true;
    // Unsubscribed then: only events addressed to the user came through (fanout sends them).
    return addresseesOf(e.name, e.payload).includes(c.userId!);
  }

  function acknowledge(reply: Reply) {
    reply({ type: "ok" });
  }

  /** Token bucket per connection: sustained `fps`, bursts of twice that. */
  function allowFrame(c: Connection): boolean {
    const now = performance.now();
    c.tokens = Math.min(2 * fps, c.tokens + ((now - c.tokensAt) / 1000) * fps);
    c.tokensAt = now;
    if (c.tokens < 1) return false;
    c.tokens -= 1;
    return true;
  }

  async function onFrame(c: Connection, message: unknown) {
    let decoded: unknown;
    let undecodable: unknown = null;
    try {
      decoded = decodeFrame(message);
    } catch (e) {
      undecodable = e;
    }
    const requestId = requestIdOf(decoded);
    const reply: Reply = (frame) => {
      c.socket.send(JSON.stringify(requestId === undefined ? frame : { ...frame, request_id: requestId }));
    };
    if (!allowFrame(c)) {
      // Tell the client once per refused frame; a client that keeps flooding is cut off.
      if (++c.refusedInARow > 2 * fps) return c.socket.close(CLOSE_RATE_LIMITED, "too many frames");
      return reply({ type: "error", error: { code: "RATE_LIMITED", message: `At most ${fps} frames per second` } });
    }
    c.refusedInARow = 0;
    try {
      if (undecodable) throw undecodable;
      const frame = parseFrame(decoded);
      // A client may send frames right behind its auth frame without waiting for auth_success:
      // they are handled once the token is checked, in order, not refused with AUTH_REQUIRED.
      if (c.authenticating) await c.authenticating;
      if (c.userId === null && frame.type !== "auth") throw new AppError("AUTH_REQUIRED", "Send an auth frame first");
      await (handlers[frame.type] as Handler<typeof frame.type>)(c, frame as never, reply);
    } catch (e) {
      const err = e instanceof AppError ? e : internal(e);
      if (c.socket.readyState === 1) reply({ type: "error", error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } });
    }
  }

  function internal(e: unknown): AppError {
    log.error("websocket handler failed", { error: String(e), stack: (e as Error)?.stack });
    return new AppError("INTERNAL_ERROR", "Something went wrong on our side; the error was logged");
  }

  return new Elysia({ name: "realtime-gateway" }).ws("/v1/connect", {
    open(ws) {
      const socket = ws.raw as ServerWebSocket<unknown>;
      if (registry.size >= realtime.config.ws.maxConnections) {
        socket.close(CLOSE_TRY_AGAIN_LATER, "server at its connection limit");
        return;
      }
      const c = registry.open(socket, 2 * fps);
      connectionOf.set(socket, c);
      // ws.authDeadlineMs: 10 s by default (CONTRACT §8), a setting so tests need not wait.
      const deadline = realtime.config.ws.authDeadlineMs;
      c.authTimer = setTimeout(() => {
        if (c.userId === null) socket.close(CLOSE_UNAUTHENTICATED, `no auth frame within ${deadline} ms`);
      }, deadline);
    },
    message(ws, message) {
      const c = connectionOf.get(ws.raw);
      if (c) void onFrame(c, message);
    },
    close(ws) {
      const c = connectionOf.get(ws.raw);
      if (!c) return;
      connectionOf.delete(ws.raw);
      const remaining = registry.close(c);
      if (c.userId !== null) presence.disconnected(c.userId, remaining);
    },
  });
}

/** The conversation a journaled event belongs to (payloads name it one of three ways). */
function conversationOf(e: JournalEvent): number | undefined {
  const p = e.payload as { conversationId?: number; conversation?: { conversation_id: number }; message?: { conversation_id: number } };
  return p.conversationId ?? p.conversation?.conversation_id ?? p.message?.conversation_id;
}

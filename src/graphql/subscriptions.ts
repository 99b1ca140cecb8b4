/**
 * Subscriptions fed by the domain event bus (ARCHITECTURE rule 2), with the same access rules
 * as every other transport: checked when subscribing, and again per event (someone who leaves
 * a conversation stops receiving its messages).
 */
import { Repeater, SlidingBuffer } from "@graphql-yoga/subscription";
import type { DomainEvents, EventName } from "../events";
import { createLoaders, requireIdentity, type GraphQLContext } from "./context";
import { guarded, intId } from "./errors";
import { notFound } from "../lib/errors";

/** Events held for a subscriber that reads slowly; older ones give way (subscriptions are live views). */
const SUBSCRIBER_BUFFER = 1000;

/**
 * Bus events of the given names that pass `keep`, as an async iterator that unsubscribes when
 * closed. The stream also ends (completes) once the caller may no longer follow it: their
 * session was revoked or their account disabled, since tokens stop working at once (CONTRACT
 * §5) and an SSE stream or a graphql-ws subscription would otherwise outlive its token; and,
 * for a conversation's stream, when they are removed from that conversation.
 */
function fromBus<K extends EventName>(ctx: GraphQLContext, names: K[], keep: (p: DomainEvents[K]) => boolean, conversationId?: number) {
  const me = requireIdentity(ctx);
  const bus = ctx.core.bus;
  return new Repeater<DomainEvents[K]>(async (push, stop) => {
    const unsubscribe = names.map((name) =>
      bus.subscribe(name, (p) => {
        if (keep(p)) void push(p);
      }),
    );
    unsubscribe.push(
      bus.subscribe("session.revoked", (p) => p.sessionId === me.sessionId && stop()),
      bus.subscribe("user.disabled", (p) => p.userId === me.userId && stop()),
    );
    if (conversationId !== undefined)
      unsubscribe.push(bus.subscribe("participants.changed", (p) => p.conversationId === conversationId && p.removed.includes(me.userId) && stop()));
    await stop;
    for (const u of unsubscribe) u();
  }, new SlidingBuffer(SUBSCRIBER_BUFFER));
}

/** Each event is resolved with fresh loaders: the caller's view of the message at that moment. */
function freshLoaders(ctx: GraphQLContext) {
  ctx.loaders = createLoaders(ctx, requireIdentity(ctx).userId);
}

type Args = { conversationId: string };
type Payload = { message: unknown };

/** Still a participant when the event happened: someone who left stops receiving. */
function stillIn(ctx: GraphQLContext, participantIds: number[]) {
  return participantIds.includes(requireIdentity(ctx).userId);
}

export const subscriptionResolvers = {
  messageAdded: {
    subscribe: (_: unknown, a: Args, ctx: GraphQLContext) =>
      guarded(() => {
        const id = intId(a.conversationId, "conversationId");
        ctx.core.conversations.requireMember(requireIdentity(ctx).userId, id);
        return fromBus(ctx, ["message.created"], (p) => p.message.conversation_id === id && stillIn(ctx, p.participantIds), id);
      }),
    resolve: (p: Payload, _: unknown, ctx: GraphQLContext) => {
      freshLoaders(ctx);
      return p.message;
    },
  },
  messageUpdated: {
    subscribe: (_: unknown, a: Args, ctx: GraphQLContext) =>
      guarded(() => {
        const id = intId(a.conversationId, "conversationId");
        ctx.core.conversations.requireMember(requireIdentity(ctx).userId, id);
        const names: ("message.updated" | "message.deleted" | "reaction.changed")[] = ["message.updated", "message.deleted", "reaction.changed"];
        return fromBus(ctx, names, (p) => conversationOf(p) === id && stillIn(ctx, p.participantIds), id);
      }),
    // Edits, deletions and reactions all change the message: send its state as it is now.
    resolve: (p: { messageId?: string; message?: { message_id: string } }, _: unknown, ctx: GraphQLContext) => {
      freshLoaders(ctx);
      return ctx.loaders.message.load(p.message?.message_id ?? p.messageId!);
    },
  },
  presenceChanged: {
    subscribe: (_: unknown, a: { userId: string }, ctx: GraphQLContext) =>
      guarded(() => {
        const me = requireIdentity(ctx).userId;
        const target = intId(a.userId, "userId");
        // Presence is for people one shares a conversation with (CONTRACT §8).
        if (target !== me && !ctx.core.conversations.contactsOf(me).includes(target)) throw notFound("User");
        return fromBus(ctx, ["presence.changed"], (p) => p.userId === target);
      }),
    resolve: (p: DomainEvents["presence.changed"], _: unknown, ctx: GraphQLContext) => {
      freshLoaders(ctx); // the profile as it is now, not as cached when the subscription started
      return { userId: p.userId, status: p.status.toUpperCase(), lastSeen: p.lastSeen };
    },
  },
  typingIndicator: {
    subscribe: (_: unknown, a: Args, ctx: GraphQLContext) =>
      guarded(() => {
        const me = requireIdentity(ctx).userId;
        const id = intId(a.conversationId, "conversationId");
        ctx.core.conversations.requireMember(me, id);
        // Typing events name no audience: leaving the conversation ends the stream instead.
        return fromBus(ctx, ["typing"], (p) => p.conversationId === id && p.userId !== me, id);
      }),
    resolve: (p: DomainEvents["typing"], _: unknown, ctx: GraphQLContext) => {
      freshLoaders(ctx);
      return { conversationId: String(p.conversationId), userId: p.userId, isTyping: p.isTyping };
    },
  },
};

function conversationOf(p: { conversationId?: number; message?: { conversation_id: number } }): number | undefined {
  return p.conversationId ?? p.message?.conversation_id;
}

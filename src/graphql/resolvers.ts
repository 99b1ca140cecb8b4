/**
 * Thin resolvers (ARCHITECTURE rule 1): each calls one service method and maps REST-shaped
 * views (snake_case) to the schema's camelCase types. Related objects go through the
 * per-request loaders, so lists cost a constant number of queries.
 */
import { GraphQLError } from "graphql";
import type { ConversationView } from "../conversations/model";
import type { LastMessageView, MessageView } from "../messages/model";
import type { UserProfile, UserSummary } from "../users/model";
import { historyCursor } from "../messages/service";
import { encodeCursor } from "../lib/cursor";
import { invalidField } from "../lib/errors";
import { MAX_LIMIT } from "../http/params";
import { requireIdentity, type GraphQLContext } from "./context";
import { guarded, intId, payload } from "./errors";
import { subscriptionResolvers } from "./subscriptions";

type Ctx = GraphQLContext;
const upper = (s: string) => s.toUpperCase();
const lower = <T extends string>(s: string) => s.toLowerCase() as T;

/** `first` as the contract's `limit`: 1–100 (above 100 is treated as 100). */
function pageSize(first: number | null | undefined, fallback: number): number {
  if (first === null || first === undefined) return fallback;
  if (!Number.isInteger(first) || first < 1) throw new GraphQLError("first must be a positive integer", { extensions: { code: "VALIDATION_ERROR" } });
  return Math.min(first, MAX_LIMIT);
}

function connection<T>(nodes: { node: T; cursor: string }[], hasNextPage: boolean) {
  return { edges: nodes, pageInfo: { hasNextPage, endCursor: nodes.length ? nodes[nodes.length - 1]!.cursor : null } };
}

/**
 * A User resolves from a full profile (the user loader, `me`) or from the summary a
 * conversation's participant list already carries: names and picture come from either, and
 * only the fields a summary lacks load the profile, batched per request. Lists of people thus
 * cost no query of their own.
 */
type UserSource = UserProfile | UserSummary;
const isProfile = (u: UserSource): u is UserProfile => "privacy_settings" in u;

/**
 * A field that needs the profile. Synchronous when the profile is at hand: a promise from any
 * field sends graphql-js down its slower path for the whole object, and lists hold many users.
 */
function fromProfile<T>(fn: (p: UserProfile) => T, fallback: T) {
  return (u: UserSource, _: unknown, ctx: Ctx): T | Promise<T> =>
    isProfile(u) ? fn(u) : ctx.loaders.user.load(u.user_id).then((p) => (p ? fn(p) : fallback));
}
const onlineIfShown = fromProfile((p) => p.privacy_settings.show_online_status, false);

const userFields = {
  id: (u: UserSource) => String(u.user_id),
  username: (u: UserSource) => u.username,
  firstName: (u: UserSource) => u.first_name,
  lastName: (u: UserSource) => u.last_name,
  profilePictureUrl: (u: UserSource) => u.profile_picture_url,
  statusMessage: fromProfile((p) => p.status_message ?? null, null),
  lastActiveAt: fromProfile((p) => p.last_active_at ?? null, null),
  isOnline: (u: UserSource, args: unknown, ctx: Ctx) => {
    if (ctx.realtime.presence.statusOf(u.user_id) === "offline") return false; // most people: no profile needed
    if (ctx.identity?.userId === u.user_id) return true;
    return onlineIfShown(u, args, ctx); // online: shown only if the user lets others see it
  },
};

/**
 * A conversation's last message as the conversation list already has it. A list shows little
 * of it (id, content, sender, time), so those fields resolve from what is loaded; any other
 * field loads the whole message through the per-request loader, one batch for the page. This
 * spares the seed's GetConversations three statements and a second read of every participant.
 */
interface LastMessageRef {
  last: LastMessageView;
  conversationId: number;
  /** The conversation's participants: the sender is usually one of them. */
  participants: UserSummary[];
}
type MessageSource = MessageView | LastMessageRef;
const isRef = (m: MessageSource): m is LastMessageRef => "last" in m;

/** A field that needs the whole message (synchronous when it is at hand, as for users). */
function whole<T>(fn: (m: MessageView, ctx: Ctx) => T) {
  return (m: MessageSource, _: unknown, ctx: Ctx): T | null | Promise<T | null> =>
    isRef(m) ? ctx.loaders.message.load(m.last.message_id).then((loaded) => (loaded ? fn(loaded, ctx) : null)) : fn(m, ctx);
}

const messageFields = {
  id: (m: MessageSource) => (isRef(m) ? m.last.message_id : m.message_id),
  conversationId: (m: MessageSource) => String(isRef(m) ? m.conversationId : m.conversation_id),
  sender: (m: MessageSource, _: unknown, ctx: Ctx) => {
    const senderId = isRef(m) ? m.last.sender_id : m.sender_id;
    if (senderId === null) return null;
    return (isRef(m) && m.participants.find((p) => p.user_id === senderId)) || ctx.loaders.user.load(senderId);
  },
  type: (m: MessageSource) => upper(isRef(m) ? m.last.message_type : m.message_type),
  content: (m: MessageSource) => (isRef(m) ? m.last.content : m.content),
  deleted: (m: MessageSource) => (isRef(m) ? m.last.deleted : m.deleted),
  createdAt: (m: MessageSource) => (isRef(m) ? m.last.created_at : m.created_at),
  mediaAttachments: whole((m) =>
    m.media_attachments.map((a) => ({ fileId: a.file_id, fileType: a.file_type, fileUrl: a.file_url, thumbnailUrl: a.thumbnail_url })),
  ),
  reactions: whole((m) => Object.entries(m.reactions).map(([emoji, userIds]) => ({ emoji, count: userIds.length, userIds }))),
  replyTo: whole((m, ctx) => (m.reply_to_message_id ? ctx.loaders.message.load(m.reply_to_message_id) : null)),
  clientMessageId: whole((m) => m.client_message_id),
  edited: whole((m) => m.edited),
  updatedAt: whole((m) => m.updated_at),
  deliveryStatus: whole((m) => upper(m.delivery_status)),
};

const conversationFields = {
  id: (c: ConversationView) => String(c.conversation_id),
  type: (c: ConversationView) => upper(c.conversation_type),
  createdBy: (c: ConversationView, _: unknown, ctx: Ctx) => (c.created_by === null ? null : ctx.loaders.user.load(c.created_by)),
  participants: (c: ConversationView): UserSource[] => c.participants,
  members: (c: ConversationView) => c.participants.map((p) => ({ user: p, role: upper(p.role), joinedAt: p.joined_at })),
  messages: (c: ConversationView, args: { first?: number; after?: string }, ctx: Ctx) =>
    guarded(() => {
      const page = ctx.core.messages.history(requireIdentity(ctx).userId, c.conversation_id, {
        limit: pageSize(args.first, 50),
        cursor: args.after ?? undefined,
      });
      return connection(page.messages.map((m) => ({ node: m, cursor: historyCursor(m.message_id) })), page.has_more);
    }),
  lastMessage: (c: ConversationView): LastMessageRef | null =>
    c.last_message ? { last: c.last_message, conversationId: c.conversation_id, participants: c.participants } : null,
  unreadCount: (c: ConversationView) => c.unread_count,
  lastReadMessageId: (c: ConversationView) => c.last_read_message_id,
  createdAt: (c: ConversationView) => c.created_at,
  updatedAt: (c: ConversationView) => c.updated_at,
};

export const resolvers = {
  User: userFields,
  Message: messageFields,
  Conversation: conversationFields,
  Reaction: {
    users: async (r: { userIds: number[] }, _: unknown, ctx: Ctx) =>
      (await ctx.loaders.user.loadMany(r.userIds)).filter((u): u is UserProfile => !!u && !(u instanceof Error)),
  },
  PresenceUpdate: {
    user: (p: { userId: number }, _: unknown, ctx: Ctx) => ctx.loaders.user.load(p.userId),
  },
  TypingIndicator: {
    user: (t: { userId: number }, _: unknown, ctx: Ctx) => ctx.loaders.user.load(t.userId),
  },

  Query: {
    me: (_: unknown, __: unknown, ctx: Ctx) => guarded(() => ctx.core.users.getProfile(requireIdentity(ctx).userId, requireIdentity(ctx).userId)),
    user: (_: unknown, a: { id: string }, ctx: Ctx) =>
      guarded(() => {
        requireIdentity(ctx);
        return ctx.loaders.user.load(intId(a.id, "id"));
      }),
    conversations: (_: unknown, a: { first?: number; after?: string }, ctx: Ctx) =>
      guarded(() => {
        const { items, hasMore } = ctx.core.conversations.listWithCursors(requireIdentity(ctx).userId, pageSize(a.first, 50), a.after ?? undefined);
        return connection(items.map((i) => ({ node: i.conversation, cursor: i.cursor })), hasMore);
      }),
    conversation: (_: unknown, a: { id: string }, ctx: Ctx) =>
      guarded(() => {
        const me = requireIdentity(ctx).userId;
        const id = Number(a.id);
        if (!Number.isSafeInteger(id) || id < 1) return null;
        try {
          return ctx.core.conversations.get(me, id);
        } catch {
          return null; // not found and not a participant look the same (CONTRACT §7)
        }
      }),
    searchUsers: (_: unknown, a: { query: string; first?: number }, ctx: Ctx) =>
      guarded(() => {
        const r = ctx.core.users.search(requireIdentity(ctx).userId, a.query, pageSize(a.first, 20), 0);
        return {
          // Through the loader: search results carry no privacy settings, profiles do.
          ...connection(r.users.map((u, i) => ({ node: ctx.loaders.user.load(u.user_id), cursor: encodeCursor({ o: i + 1 }) })), r.has_more),
          totalCount: r.total_count,
        };
      }),
    searchMessages: (_: unknown, a: { query: string; conversationId?: string; first?: number }, ctx: Ctx) =>
      guarded(() => {
        const conversationId = a.conversationId ? intId(a.conversationId, "conversationId") : null;
        const found = ctx.core.messages.search(requireIdentity(ctx).userId, a.query, conversationId, pageSize(a.first, 20));
        return connection(found.map((m) => ({ node: m, cursor: historyCursor(m.message_id) })), false);
      }),
  },

  Mutation: {
    sendMessage: (_: unknown, { input: i }: { input: Record<string, any> }, ctx: Ctx) =>
      payload(async () => {
        const me = requireIdentity(ctx).userId;
        const { message } = await ctx.core.messages.send(me, intId(i.conversationId, "conversationId"), {
          message_type: lower(i.type ?? "TEXT"),
          content: i.content ?? null,
          reply_to_message_id: i.replyToMessageId ?? null,
          client_message_id: i.clientMessageId ?? null,
          media_attachments: (i.mediaAttachments ?? []).map((file_id: string) => ({ file_id })),
        });
        return { message };
      }),
    editMessage: (_: unknown, a: { id: string; content: string; editReason?: string }, ctx: Ctx) =>
      payload(async () => ({ message: await ctx.core.messages.edit(requireIdentity(ctx).userId, a.id, a.content, a.editReason ?? null) })),
    deleteMessage: (_: unknown, a: { id: string }, ctx: Ctx) =>
      payload(async () => {
        await ctx.core.messages.delete(requireIdentity(ctx).userId, a.id);
        return { success: true, messageId: a.id };
      }).then((p) => ({ ...p, success: p.success ?? false })),
    addReaction: (_: unknown, a: { messageId: string; emoji: string }, ctx: Ctx) => react(ctx, a, true),
    removeReaction: (_: unknown, a: { messageId: string; emoji: string }, ctx: Ctx) => react(ctx, a, false),
    markRead: (_: unknown, a: { conversationId: string; messageId: string }, ctx: Ctx) =>
      payload(async () => {
        await ctx.core.messages.receipt(requireIdentity(ctx).userId, intId(a.conversationId, "conversationId"), a.messageId, "read");
        return { success: true };
      }).then((p) => ({ ...p, success: p.success ?? false })),
    createConversation: (_: unknown, { input: i }: { input: Record<string, any> }, ctx: Ctx) =>
      payload(async () => {
        const { conversation } = await ctx.core.conversations.create(requireIdentity(ctx).userId, {
          conversation_type: lower(i.type),
          participant_ids: (i.participantIds as string[]).map((id) => intId(id, "participantIds")),
          title: i.title ?? null,
          description: i.description ?? null,
        });
        return { conversation };
      }),
    updatePresence: (_: unknown, a: { status: string }, ctx: Ctx) =>
      payload(() => {
        const me = requireIdentity(ctx).userId;
        // A bad input value, so a payload error like every other validation failure (CONTRACT §9).
        if (a.status === "OFFLINE") throw invalidField("status", "OFFLINE is not a status one can set; close the connection instead");
        ctx.realtime.presence.set(me, lower(a.status));
        return { status: upper(ctx.realtime.presence.statusOf(me)) };
      }),
  },

  Subscription: subscriptionResolvers,
};

async function react(ctx: Ctx, a: { messageId: string; emoji: string }, add: boolean) {
  return payload(async () => {
    const me = requireIdentity(ctx).userId;
    await ctx.core.messages.react(me, a.messageId, a.emoji, add);
    return { message: await ctx.loaders.message.load(a.messageId) };
  });
}

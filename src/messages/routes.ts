/** REST adapter for messages, reactions, read markers and search (CONTRACT §7). */
import { Elysia, t } from "elysia";
import type { MessageService } from "./service";
import type { authGuard } from "../http/auth-guard";
import { parseId, parseLimit } from "../http/params";

const messageType = t.Union(["text", "image", "video", "audio", "file"].map((x) => t.Literal(x)), { error: "Must be text, image, video, audio or file" });

export function messageRoutes(messages: MessageService, guard: ReturnType<typeof authGuard>) {
  return new Elysia({ prefix: "/api/v1", detail: { tags: ["Messages"] } })
    .use(guard)
    .get(
      "/conversations/:conversation_id/messages",
      ({ identity, params, query }) =>
        messages.history(identity.userId, parseId(params.conversation_id, "conversation_id"), {
          limit: parseLimit(query.limit),
          before: query.before,
          after: query.after,
          cursor: query.cursor,
        }),
      {
        auth: true,
        query: t.Object({
          limit: t.Optional(t.String()),
          before: t.Optional(t.String({ maxLength: 512, description: "message_id or cursor: older messages, newest first" })),
          after: t.Optional(t.String({ maxLength: 512, description: "message_id or cursor: newer messages, oldest first (catch-up)" })),
          cursor: t.Optional(t.String({ maxLength: 512, description: "next_cursor of the previous page" })),
        }),
        detail: { summary: "Message history" },
      },
    )
    .post(
      "/conversations/:conversation_id/messages",
      async ({ identity, params, body, set }) => {
        const { message, created } = await messages.send(identity.userId, parseId(params.conversation_id, "conversation_id"), body);
        set.status = created ? 201 : 200;
        return message;
      },
      {
        auth: true,
        body: t.Object({
          message_type: messageType,
          content: t.Optional(t.Nullable(t.String())),
          reply_to_message_id: t.Optional(t.Nullable(t.String({ maxLength: 64 }))),
          client_message_id: t.Optional(t.Nullable(t.String({ maxLength: 128 }))),
          media_attachments: t.Optional(t.Array(t.Object({ file_id: t.String({ maxLength: 64 }) }), { maxItems: 10 })),
        }),
        detail: { summary: "Send a message (201; 200 with the original when client_message_id was used before)" },
      },
    )
    .post(
      "/conversations/:conversation_id/read",
      async ({ identity, params, body }) => {
        await messages.receipt(identity.userId, parseId(params.conversation_id, "conversation_id"), body.message_id, "read");
        return { success: true };
      },
      { auth: true, body: t.Object({ message_id: t.String({ maxLength: 64 }) }), detail: { summary: "Mark everything up to a message as read" } },
    )
    .get(
      "/messages/search",
      ({ identity, query }) => ({
        messages: messages.search(
          identity.userId,
          query.q,
          query.conversation_id === undefined ? null : parseId(query.conversation_id, "conversation_id"),
          parseLimit(query.limit, 20),
        ),
      }),
      {
        auth: true,
        query: t.Object({ q: t.String({ minLength: 1, maxLength: 200 }), conversation_id: t.Optional(t.String()), limit: t.Optional(t.String()) }),
        detail: {
          summary: "Full-text search over the caller's conversations, best match first",
          description: "Ranked (bm25) among the newest 200 matching messages the caller can see; every word must match, the last one (from 3 characters) as a prefix.",
        },
      },
    )
    .put(
      "/messages/:message_id",
      async ({ identity, params, body }) => ({
        success: true,
        message: await messages.edit(identity.userId, params.message_id, body.content, body.edit_reason ?? null),
      }),
      {
        auth: true,
        body: t.Object({ content: t.String(), edit_reason: t.Optional(t.Nullable(t.String({ maxLength: 100 }))) }),
        detail: { summary: "Edit a message (author only); earlier versions go to edit_history" },
      },
    )
    .delete(
      "/messages/:message_id",
      async ({ identity, params }) => {
        await messages.delete(identity.userId, params.message_id);
        return { success: true };
      },
      { auth: true, detail: { summary: "Delete a message (author only); it stays as a tombstone" } },
    )
    .post(
      "/messages/:message_id/reactions",
      async ({ identity, params, body }) => ({ success: true, reactions: await messages.react(identity.userId, params.message_id, body.emoji, true) }),
      { auth: true, body: t.Object({ emoji: t.String({ maxLength: 64 }) }), detail: { summary: "Add a reaction (idempotent)" } },
    )
    .delete(
      "/messages/:message_id/reactions/:emoji",
      async ({ identity, params }) => ({
        success: true,
        // Elysia has decoded the path already; decoding again would turn "%25" into a URIError (500).
        reactions: await messages.react(identity.userId, params.message_id, params.emoji, false),
      }),
      { auth: true, detail: { summary: "Remove the caller's reaction" } },
    );
}

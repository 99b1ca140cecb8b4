/** REST adapter for conversations and their participants (CONTRACT §7). */
import { Elysia, t } from "elysia";
import type { ConversationService } from "./service";
import type { authGuard } from "../http/auth-guard";
import { parseId, parseLimit } from "../http/params";

const ids = t.Array(t.Integer({ minimum: 1 }), { maxItems: 1000 });

export function conversationRoutes(conversations: ConversationService, guard: ReturnType<typeof authGuard>) {
  return new Elysia({ prefix: "/api/v1/conversations", detail: { tags: ["Conversations"] } })
    .use(guard)
    .get("/", ({ identity, query }) => conversations.list(identity.userId, parseLimit(query.limit), query.cursor), {
      auth: true,
      query: t.Object({ limit: t.Optional(t.String()), cursor: t.Optional(t.String({ maxLength: 512 })) }),
      detail: { summary: "The caller's conversations, latest activity first (keyset cursor)" },
    })
    .post(
      "/",
      async ({ identity, body, set }) => {
        const { conversation, created } = await conversations.create(identity.userId, body);
        set.status = created ? 201 : 200;
        return conversation;
      },
      {
        auth: true,
        body: t.Object({
          conversation_type: t.Union([t.Literal("direct"), t.Literal("group")], { error: "Must be direct or group" }),
          participant_ids: ids,
          title: t.Optional(t.Nullable(t.String({ maxLength: 100 }))),
          description: t.Optional(t.Nullable(t.String({ maxLength: 1000 }))),
        }),
        detail: { summary: "Create a direct (200 with the existing one if the pair has one) or group conversation" },
      },
    )
    .get("/:conversation_id", ({ identity, params }) => conversations.get(identity.userId, parseId(params.conversation_id, "conversation_id")), {
      auth: true,
      detail: { summary: "One conversation, in the list's item shape" },
    })
    .put(
      "/:conversation_id",
      ({ identity, params, body }) => conversations.update(identity.userId, parseId(params.conversation_id, "conversation_id"), body),
      {
        auth: true,
        body: t.Object({
          title: t.Optional(t.Nullable(t.String({ maxLength: 100 }))),
          description: t.Optional(t.Nullable(t.String({ maxLength: 1000 }))),
        }),
        detail: { summary: "Change a group's title or description (group admins)" },
      },
    )
    .post(
      "/:conversation_id/participants",
      async ({ identity, params, body }) => {
        const id = parseId(params.conversation_id, "conversation_id");
        if (body.action === "add") return { success: true, added_participants: await conversations.addParticipants(identity.userId, id, body.user_ids) };
        return { success: true, removed_participants: await conversations.removeParticipants(identity.userId, id, body.user_ids) };
      },
      {
        auth: true,
        body: t.Object({
          action: t.Union([t.Literal("add"), t.Literal("remove")], { error: "Must be add or remove" }),
          user_ids: t.Array(t.Integer({ minimum: 1 }), { minItems: 1, maxItems: 1000 }),
        }),
        detail: { summary: "Add (group admins) or remove participants; removing yourself leaves" },
      },
    );
}

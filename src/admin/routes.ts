/** REST adapter for the admin API (CONTRACT §12): administrators only, 403 for everyone else. */
import { Elysia, t } from "elysia";
import type { AdminService } from "./service";
import type { authGuard } from "../http/auth-guard";
import { parseId, parseLimit } from "../http/params";

const account = t.Object({
  email: t.String({ maxLength: 254 }),
  username: t.String({ maxLength: 32 }),
  first_name: t.String({ maxLength: 64 }),
  last_name: t.String({ maxLength: 64 }),
  password: t.String({ maxLength: 256 }),
  role: t.Optional(t.Union([t.Literal("user"), t.Literal("admin")])),
});

export function adminRoutes(admin: AdminService, settings: () => object, guard: ReturnType<typeof authGuard>) {
  const userId = (p: { user_id: string }) => parseId(p.user_id, "user_id");
  return new Elysia({ prefix: "/api/v1/admin", detail: { tags: ["Admin"] } })
    .use(guard)
    .get("/stats", () => admin.stats(), { admin: true, detail: { summary: "Server statistics, including messages per day for 30 days" } })
    .get("/settings", () => settings(), { admin: true, detail: { summary: "The effective settings, secrets masked (read-only)" } })
    .get("/users", ({ query }) => admin.listUsers(query.q ?? null, parseLimit(query.limit), query.cursor), {
      admin: true,
      query: t.Object({ q: t.Optional(t.String({ maxLength: 64 })), limit: t.Optional(t.String()), cursor: t.Optional(t.String({ maxLength: 512 })) }),
      detail: { summary: "Users by id, optionally those whose email, username or name starts with q" },
    })
    .post(
      "/users",
      async ({ body, set }) => {
        const created = await admin.createUser({ ...body, role: body.role ?? "user" });
        set.status = 201;
        return created;
      },
      { admin: true, body: account, detail: { summary: "Create a user (works with registration closed)" } },
    )
    .get("/users/:user_id", ({ params }) => admin.getUser(userId(params)), { admin: true, detail: { summary: "A user with sessions and devices" } })
    .post("/users/:user_id/disable", ({ identity, params }) => admin.setDisabled(identity.userId, userId(params), true), {
      admin: true,
      detail: { summary: "Lock a user out at once (ends every session)" },
    })
    .post("/users/:user_id/enable", ({ identity, params }) => admin.setDisabled(identity.userId, userId(params), false), {
      admin: true,
      detail: { summary: "Let a disabled user log in again" },
    })
    .post(
      "/users/:user_id/password",
      async ({ params, body }) => {
        await admin.resetPassword(userId(params), body.password);
        return { success: true };
      },
      { admin: true, body: t.Object({ password: t.String({ maxLength: 256 }) }), detail: { summary: "Set a new password; ends the user's sessions" } },
    )
    .post("/users/:user_id/role", ({ identity, params, body }) => admin.setRole(identity.userId, userId(params), body.role), {
      admin: true,
      body: t.Object({ role: t.Union([t.Literal("user"), t.Literal("admin")]) }),
      detail: { summary: "Promote to admin or demote to user" },
    })
    .delete("/users/:user_id", ({ identity, params, query }) => admin.deleteUser(identity.userId, userId(params), query.messages === "erase"), {
      admin: true,
      query: t.Object({ messages: t.Optional(t.Union([t.Literal("keep"), t.Literal("erase")], { default: "keep" })) }),
      detail: {
        summary: "Delete a user",
        description: "messages=keep (default) leaves their messages as from a deleted account; messages=erase turns them into tombstones first.",
      },
    })
    .delete(
      "/sessions/:session_id",
      ({ params }) => {
        admin.revokeSession(params.session_id);
        return { success: true };
      },
      { admin: true, detail: { summary: "End any session" } },
    )
    .delete(
      "/users/:user_id/devices/:device_id",
      async ({ params }) => {
        await admin.revokeDevice(userId(params), params.device_id);
        return { success: true };
      },
      { admin: true, detail: { summary: "Stop pushing to a user's device" } },
    )
    .get("/conversations", ({ query }) => admin.listConversations(parseLimit(query.limit), query.cursor), {
      admin: true,
      query: t.Object({ limit: t.Optional(t.String()), cursor: t.Optional(t.String({ maxLength: 512 })) }),
      detail: { summary: "Conversations with member and message counts — never message content" },
    });
}

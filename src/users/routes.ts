/** REST adapter for profiles and user search (CONTRACT §6). */
import { Elysia, t } from "elysia";
import type { UserService } from "./service";
import type { authGuard } from "../http/auth-guard";
import { parseId, parseLimit, parseOffset } from "../http/params";

const privacy = t.Object({ show_last_seen: t.Boolean(), show_online_status: t.Boolean() });

const profile = t.Object({
  user_id: t.Integer(),
  username: t.String(),
  first_name: t.String(),
  last_name: t.String(),
  profile_picture_url: t.Nullable(t.String()),
  status_message: t.Nullable(t.String()),
  last_active_at: t.Nullable(t.String({ format: "date-time" })),
  privacy_settings: privacy,
});

export function userRoutes(users: UserService, guard: ReturnType<typeof authGuard>) {
  return new Elysia({ prefix: "/api/v1/users", detail: { tags: ["Users"] } })
    .use(guard)
    .get("/me", ({ identity }) => users.getProfile(identity.userId, identity.userId), {
      auth: true,
      response: { 200: profile },
      detail: { summary: "The caller's own profile" },
    })
    .get(
      "/search",
      ({ identity, query }) => users.search(identity.userId, query.q, parseLimit(query.limit, 20), parseOffset(query.offset)),
      {
        auth: true,
        query: t.Object({
          q: t.String({ minLength: 1, maxLength: 64, description: "Prefix of a username, first or last name" }),
          limit: t.Optional(t.String({ description: "1–100, default 20" })),
          offset: t.Optional(t.String()),
        }),
        detail: { summary: "Find users by name prefix, with the number of conversations shared with the caller" },
      },
    )
    .get("/:user_id", ({ identity, params }) => users.getProfile(identity.userId, parseId(params.user_id, "user_id")), {
      auth: true,
      response: { 200: profile },
      detail: { summary: "A user's profile; last activity is hidden when their privacy settings say so" },
    })
    .put(
      "/:user_id",
      ({ identity, params, body }) => {
        const { privacy_settings, ...rest } = body;
        const user = users.updateProfile(identity, parseId(params.user_id, "user_id"), { ...rest, ...privacy_settings });
        return { success: true, user };
      },
      {
        auth: true,
        body: t.Object({
          first_name: t.Optional(t.String({ minLength: 1, maxLength: 64 })),
          last_name: t.Optional(t.String({ minLength: 1, maxLength: 64 })),
          status_message: t.Optional(t.Nullable(t.String({ maxLength: 140 }))),
          privacy_settings: t.Optional(t.Partial(privacy)),
        }),
        response: { 200: t.Object({ success: t.Boolean(), user: profile }) },
        detail: { summary: "Change a profile: only the user themself or an admin" },
      },
    );
}

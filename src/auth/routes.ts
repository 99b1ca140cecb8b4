/** REST adapter for accounts and sessions (CONTRACT §5). */
import { Elysia, t } from "elysia";
import type { AuthService } from "./service";
import type { authGuard } from "../http/auth-guard";

const device = {
  device_id: t.Optional(t.String({ maxLength: 128 })),
  device_type: t.Optional(t.String({ maxLength: 32 })),
  platform: t.Optional(t.String({ maxLength: 32 })),
};

const userSummary = t.Object({
  user_id: t.Integer(),
  username: t.String(),
  first_name: t.String(),
  last_name: t.String(),
  profile_picture_url: t.Nullable(t.String()),
});

const authResult = t.Object({
  access_token: t.String(),
  refresh_token: t.String(),
  expires_in: t.Integer({ description: "Seconds until the access token expires" }),
  user: userSummary,
});

const success = t.Object({ success: t.Boolean() });

function deviceOf(b: { device_id?: string; device_type?: string; platform?: string }) {
  return { device_id: b.device_id, device_type: b.device_type, platform: b.platform };
}

export function authRoutes(auth: AuthService, guard: ReturnType<typeof authGuard>) {
  return new Elysia({ prefix: "/api/v1/auth", detail: { tags: ["Auth"] } })
    .use(guard)
    .post(
      "/register",
      async ({ body, set }) => {
        const result = await auth.register(body, deviceOf(body));
        set.status = 201;
        return result;
      },
      {
        authLimited: true,
        body: t.Object({
          email: t.String({ maxLength: 254 }),
          password: t.String({ maxLength: 256 }),
          username: t.String({ maxLength: 32 }),
          first_name: t.String({ maxLength: 64 }),
          last_name: t.String({ maxLength: 64 }),
          ...device,
        }),
        response: { 201: authResult },
        detail: { summary: "Create an account (when registration is open) and log in" },
      },
    )
    .post("/login", ({ body }) => auth.login(body.email, body.password, deviceOf(body)), {
      authLimited: true,
      body: t.Object({ email: t.String({ maxLength: 254 }), password: t.String({ maxLength: 256 }), ...device }),
      response: { 200: authResult },
      detail: { summary: "Log in with email and password" },
    })
    .post("/refresh", ({ body }) => auth.refresh(body.refresh_token), {
      authLimited: true,
      body: t.Object({ refresh_token: t.String({ maxLength: 512 }) }),
      response: { 200: authResult },
      detail: { summary: "Trade a refresh token for new tokens; the old refresh token stops working" },
    })
    .post(
      "/facebook",
      async ({ body, set }) => {
        const result = await auth.loginWithProvider("facebook", body.facebook_access_token, deviceOf(body));
        set.status = result.is_new_user ? 201 : 200;
        return result;
      },
      {
        authLimited: true,
        body: t.Object({ facebook_access_token: t.String({ minLength: 1, maxLength: 4096 }), ...device }),
        detail: { summary: "Log in with a Facebook user access token (404 when Facebook login is not configured)" },
      },
    )
    .post(
      "/oidc/:provider",
      async ({ params, body, set }) => {
        const result = await auth.loginWithProvider(`oidc:${params.provider}`, body.id_token, deviceOf(body));
        set.status = result.is_new_user ? 201 : 200;
        return result;
      },
      {
        authLimited: true,
        body: t.Object({ id_token: t.String({ minLength: 1, maxLength: 16384 }), ...device }),
        detail: { summary: "Log in with an OpenID Connect id_token from a provider named in the config file" },
      },
    )
    .post(
      "/logout",
      ({ identity }) => {
        auth.logout(identity);
        return { success: true };
      },
      { auth: true, response: { 200: success }, detail: { summary: "End the current session" } },
    )
    .get("/sessions", ({ identity }) => ({ sessions: auth.listSessions(identity) }), {
      auth: true,
      detail: { summary: "The caller's live sessions" },
    })
    .delete(
      "/sessions/:session_id",
      ({ identity, params }) => {
        auth.revokeSession(identity, params.session_id);
        return { success: true };
      },
      { auth: true, params: t.Object({ session_id: t.String({ maxLength: 64 }) }), response: { 200: success }, detail: { summary: "End one of the caller's sessions" } },
    );
}

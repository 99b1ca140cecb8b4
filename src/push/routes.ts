/** REST adapter for devices, the VAPID key and notification preferences (CONTRACT §11). */
import { Elysia, t } from "elysia";
import type { PushService } from "./service";
import type { authGuard } from "../http/auth-guard";

const quietHours = t.Object({
  enabled: t.Boolean(),
  start_time: t.String({ maxLength: 5, description: "HH:MM, 24-hour" }),
  end_time: t.String({ maxLength: 5, description: "HH:MM, 24-hour" }),
  timezone: t.String({ maxLength: 64, description: "IANA time zone, e.g. America/New_York" }),
});

const preferences = t.Object({
  global_notifications: t.Boolean(),
  message_notifications: t.Boolean(),
  group_notifications: t.Boolean(),
  quiet_hours: quietHours,
  conversation_preferences: t.Record(t.String({ maxLength: 16 }), t.Object({ notifications_enabled: t.Boolean() })),
  preview: t.Optional(t.Union([t.Literal("full"), t.Literal("sender"), t.Literal("none")], { description: "May only be more private than the server's setting" })),
});

export function pushRoutes(push: PushService, vapidPublicKey: string, guard: ReturnType<typeof authGuard>) {
  return new Elysia({ prefix: "/api/v1/notifications", detail: { tags: ["Notifications"] } })
    .use(guard)
    .get("/vapid-public-key", () => ({ public_key: vapidPublicKey }), {
      detail: { summary: "The server's VAPID public key (applicationServerKey for PushManager.subscribe)" },
    })
    .post(
      "/devices",
      async ({ identity, body, set }) => {
        const r = await push.registerDevice(identity.userId, body);
        set.status = 201;
        return r;
      },
      {
        auth: true,
        body: t.Object({
          device_id: t.String({ minLength: 1, maxLength: 128 }),
          platform: t.Union([t.Literal("ios"), t.Literal("android"), t.Literal("web")], { error: "Must be ios, android or web" }),
          device_token: t.Union([t.String({ maxLength: 4096 }), t.Object({ endpoint: t.String({ maxLength: 2048 }), keys: t.Object({ p256dh: t.String(), auth: t.String() }) })], {
            description: "APNs or FCM token; for web the PushSubscription object or its JSON",
          }),
          app_version: t.Optional(t.Nullable(t.String({ maxLength: 64 }))),
        }),
        detail: { summary: "Register (or update) a device for push notifications" },
      },
    )
    .get("/devices", ({ identity }) => ({ devices: push.listDevices(identity.userId) }), {
      auth: true,
      detail: { summary: "The caller's registered devices" },
    })
    .delete(
      "/devices/:device_id",
      async ({ identity, params }) => {
        await push.deleteDevice(identity.userId, params.device_id);
        return { success: true };
      },
      { auth: true, detail: { summary: "Stop pushing to a device" } },
    )
    .get("/preferences", ({ identity }) => push.getPreferences(identity.userId), { auth: true, detail: { summary: "The caller's notification preferences" } })
    .put("/preferences", ({ identity, body }) => push.putPreferences(identity.userId, { preview: "full", ...body }), {
      auth: true,
      body: preferences,
      detail: { summary: "Replace the caller's notification preferences" },
    });
}

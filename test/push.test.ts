/**
 * Push notifications end to end (CONTRACT §11, issue #7): the real server in-process, pushing
 * over real TLS to local servers that speak each provider's protocol (test/fakes): a Web Push
 * service that verifies VAPID and decrypts aes128gcm with the subscription's keys, an HTTP/2
 * APNs that verifies the ES256 provider token and headers, and FCM HTTP v1 with its OAuth token
 * endpoint. Devices, preferences, who gets a push, the payload, and dead tokens.
 *
 * "No push" is asserted without sleeping: jobs are written in the message's own transaction,
 * so once the send is answered and the recipient has no job left (settled), every push that
 * will ever be sent for that message has reached the fake.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { createClient, type Client } from "graphql-ws";
import { eventually, expectError, startTestServer, tempDir, type TestServer, type TestUser } from "./harness";
import { connectAs } from "./ws-client";
import { startPushFakes, VAPID_SUBJECT, type PushFakes } from "./fakes/push-providers";
import type { FakeSubscription } from "./fakes/webpush";

const DEVICES = "/api/v1/notifications/devices";
const PREFS = "/api/v1/notifications/preferences";
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

let dir: string;
let fakes: PushFakes;
let s: TestServer;
/** Servers a test started for a different setting; stopped by the test, or here if it failed. */
const extra = new Set<TestServer>();
async function startExtra(over: Parameters<typeof startTestServer>[0]): Promise<TestServer> {
  const server = await startTestServer(over);
  extra.add(server);
  return server;
}
async function stopExtra(server: TestServer) {
  extra.delete(server);
  await server.stop();
}

beforeAll(async () => {
  dir = tempDir("confab-push-");
  fakes = await startPushFakes(dir);
  s = await startTestServer({ registration: "open", push: fakes.config });
  const key = (await s.get("/api/v1/notifications/vapid-public-key")).body.public_key;
  fakes.webpush.expect({ serverKey: key, subject: VAPID_SUBJECT });
});

afterAll(async () => {
  for (const x of [s, ...extra]) await x?.stop().catch((e) => console.error("stop failed", e));
  await fakes?.stop();
  rmSync(dir, { recursive: true, force: true });
});

// ------------------------------------------------------------------ helpers

async function register(server: TestServer, first = "Test", last = "User"): Promise<TestUser> {
  return server.register({ first_name: first, last_name: last });
}

async function direct(a: TestUser, b: TestUser, server = s): Promise<number> {
  const r = await server.post("/api/v1/conversations", a.token, { conversation_type: "direct", participant_ids: [b.user_id] });
  expect([200, 201]).toContain(r.status);
  return r.body.conversation_id;
}

async function group(a: TestUser, others: TestUser[], title: string, server = s): Promise<number> {
  const r = await server.post("/api/v1/conversations", a.token, { conversation_type: "group", participant_ids: others.map((o) => o.user_id), title });
  expect(r.status).toBe(201);
  return r.body.conversation_id;
}

async function send(a: TestUser, cid: number, content: string, server = s): Promise<any> {
  const r = await server.post(`/api/v1/conversations/${cid}/messages`, a.token, { message_type: "text", content });
  if (r.status !== 201) throw new Error(`send failed: ${r.status} ${r.text}`);
  return r.body;
}

let devices = 0;
async function webDevice(u: TestUser, server = s, asString = false): Promise<{ sub: FakeSubscription; deviceId: string }> {
  const sub = fakes.webpush.subscribe();
  const deviceId = `web-${++devices}`;
  const r = await server.post(DEVICES, u.token, { device_token: asString ? JSON.stringify(sub.json) : sub.json, platform: "web", device_id: deviceId, app_version: "9.9.9" });
  if (r.status !== 201) throw new Error(`web device: ${r.status} ${r.text}`);
  return { sub, deviceId };
}

const hex = (n: number) => Array.from(crypto.getRandomValues(new Uint8Array(n / 2)), (b) => b.toString(16).padStart(2, "0")).join("");

async function nativeDevice(u: TestUser, platform: "ios" | "android", server = s): Promise<{ token: string; deviceId: string }> {
  const token = platform === "ios" ? hex(64) : `fcm:${hex(40)}`;
  const deviceId = `${platform}-${++devices}`;
  const r = await server.post(DEVICES, u.token, { device_token: token, platform, device_id: deviceId, app_version: "1.0" });
  if (r.status !== 201) throw new Error(`${platform} device: ${r.status} ${r.text}`);
  return { token, deviceId };
}

const deviceIds = async (u: TestUser, server = s) => {
  const r = await server.get(DEVICES, u.token);
  expect(r.status).toBe(200);
  return (r.body.devices as any[]).map((d) => d.device_id).sort();
};

/** Jobs not yet finished (pending or waiting for a retry) for this user. */
function pendingJobs(server: TestServer, userId: number): { attempts: number; payload: string; last_error: string | null }[] {
  return server.server.core.db.query<any, [number]>("SELECT attempts, payload, last_error FROM push_jobs WHERE user_id = ? AND failed_at IS NULL").all(userId);
}

/** Wait until the worker has finished every job of this user (delivered, dropped or given up). */
async function settled(u: TestUser, server = s, timeoutMs = 5000) {
  await eventually(() => (pendingJobs(server, u.user_id).length === 0 ? true : undefined), timeoutMs, `push jobs of user ${u.user_id} to finish`);
}

/** Everything any fake received for these devices. */
function received(o: { web?: FakeSubscription[]; apns?: string[]; fcm?: string[] }) {
  return [...(o.web ?? []).flatMap((x) => fakes.webpush.of(x)), ...(o.apns ?? []).flatMap((t) => fakes.apns.of(t)), ...(o.fcm ?? []).flatMap((t) => fakes.fcm.of(t))];
}

/** A complete preferences document (PUT replaces it) with overrides. */
function prefs(over: Record<string, unknown> = {}) {
  return {
    global_notifications: true,
    message_notifications: true,
    group_notifications: true,
    quiet_hours: { enabled: false, start_time: "22:00", end_time: "08:00", timezone: "UTC" },
    conversation_preferences: {},
    ...over,
  };
}

async function putPrefs(u: TestUser, doc: Record<string, unknown>, server = s) {
  const r = await server.put(PREFS, u.token, doc);
  if (r.status !== 200) throw new Error(`PUT preferences: ${r.status} ${r.text}`);
  return r.body;
}

/** The pushes a Web Push device got, decrypted, in order. */
const webPayloads = (sub: FakeSubscription) => fakes.webpush.delivered(sub).map((r) => r.payload);

// ------------------------------------------------------------------ devices and keys

describe("devices", () => {
  test("register web (object and JSON string), ios and android; the list holds only one's own", async () => {
    const u = await register(s);
    const other = await register(s);
    const sub = fakes.webpush.subscribe();
    const r = await s.post(DEVICES, u.token, { device_token: sub.json, platform: "web", device_id: "browser-1", app_version: "2.0.0" });
    expect(r.status).toBe(201);
    expect(r.body).toEqual({ success: true, device_id: "browser-1", registered_at: expect.stringMatching(ISO) });
    const asString = await s.post(DEVICES, u.token, { device_token: JSON.stringify(fakes.webpush.subscribe().json), platform: "web", device_id: "browser-2" });
    expect(asString.status).toBe(201);
    const ios = await nativeDevice(u, "ios");
    const android = await nativeDevice(u, "android");
    const foreign = await nativeDevice(other, "ios");

    const list = await s.get(DEVICES, u.token);
    expect(list.status).toBe(200);
    expect(list.body.devices).toHaveLength(4);
    const byId = Object.fromEntries((list.body.devices as any[]).map((d) => [d.device_id, d]));
    expect(byId["browser-1"]).toEqual({ device_id: "browser-1", platform: "web", app_version: "2.0.0", registered_at: expect.stringMatching(ISO), last_used_at: null });
    expect(byId["browser-2"]).toMatchObject({ platform: "web", app_version: null });
    expect(byId[ios.deviceId]).toMatchObject({ platform: "ios", app_version: "1.0" });
    expect(byId[android.deviceId]).toMatchObject({ platform: "android" });
    expect(byId[foreign.deviceId]).toBeUndefined();
    // Tokens are never listed: they are credentials of the device.
    expect(list.text).not.toContain(ios.token);
    expect(list.text).not.toContain(sub.endpoint);
    expect(await deviceIds(other)).toEqual([foreign.deviceId]);
    expectError(await s.get(DEVICES, null), 401, "AUTH_REQUIRED");
  });

  test("delete: one's own device only; a second delete is 404", async () => {
    const u = await register(s);
    const other = await register(s);
    const mine = await nativeDevice(u, "android");
    const theirs = await nativeDevice(other, "android");
    expectError(await s.del(`${DEVICES}/${theirs.deviceId}`, u.token), 404, "NOT_FOUND");
    expect(await deviceIds(other)).toEqual([theirs.deviceId]);
    const r = await s.del(`${DEVICES}/${mine.deviceId}`, u.token);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ success: true });
    expect(await deviceIds(u)).toEqual([]);
    expectError(await s.del(`${DEVICES}/${mine.deviceId}`, u.token), 404, "NOT_FOUND");
  });

  test("bad input: unknown platform, a web token that is no subscription, a short native token → 400 naming the field", async () => {
    const u = await register(s);
    const fields = (r: any) => (r.body.error.details as any[]).map((d) => d.field);
    const platform = await s.post(DEVICES, u.token, { device_token: "x".repeat(64), platform: "symbian", device_id: "d1" });
    expectError(platform, 400, "VALIDATION_ERROR");
    expect(fields(platform)).toContain("platform");
    const notSub = await s.post(DEVICES, u.token, { device_token: "not json", platform: "web", device_id: "d2" });
    expectError(notSub, 400, "VALIDATION_ERROR");
    expect(fields(notSub)).toContain("device_token");
    const noKeys = await s.post(DEVICES, u.token, { device_token: JSON.stringify({ endpoint: `${fakes.webpush.origin}/push/x` }), platform: "web", device_id: "d3" });
    expect(fields(expectError(noKeys, 400, "VALIDATION_ERROR") && noKeys)).toContain("device_token");
    const short = await s.post(DEVICES, u.token, { device_token: "abc", platform: "ios", device_id: "d4" });
    expect(fields(expectError(short, 400, "VALIDATION_ERROR") && short)).toContain("device_token");
    expect(await deviceIds(u)).toEqual([]);
  });

  test("registering the same device_id again replaces its token; the same token under another account moves it", async () => {
    const a = await register(s);
    const b = await register(s);
    const first = await nativeDevice(a, "ios");
    const token = hex(64);
    expect((await s.post(DEVICES, a.token, { device_token: token, platform: "ios", device_id: first.deviceId, app_version: "1.1" })).status).toBe(201);
    expect(await deviceIds(a)).toEqual([first.deviceId]);
    // The phone now signs in as b: the token belongs to b alone.
    expect((await s.post(DEVICES, b.token, { device_token: token, platform: "ios", device_id: "b-phone" })).status).toBe(201);
    expect(await deviceIds(a)).toEqual([]);
    expect(await deviceIds(b)).toEqual(["b-phone"]);
    // A message to a does not reach the phone; one to b does.
    const c = await register(s);
    await send(c, await direct(c, a), "for a");
    await settled(a);
    expect(fakes.apns.of(token)).toHaveLength(0);
    const m = await send(c, await direct(c, b), "for b");
    expect((await fakes.apns.waitForDelivery(token)).body.message_id).toBe(m.message_id);
  });

  test("GET /notifications/vapid-public-key → an uncompressed P-256 point, the key VAPID is signed with", async () => {
    const u = await register(s);
    const r = await s.get("/api/v1/notifications/vapid-public-key", u.token);
    expect(r.status).toBe(200);
    expect(r.body.public_key).toMatch(/^[A-Za-z0-9_-]{87}$/);
    const raw = Buffer.from(r.body.public_key, "base64url");
    expect(raw.length).toBe(65);
    expect(raw[0]).toBe(4);
    // The same key after a restart of the same data dir is checked in push-process.test.ts;
    // here: the fake Web Push service was told to accept only this key (see beforeAll).
  });
});

// ------------------------------------------------------------------ preferences

describe("preferences", () => {
  test("defaults, then PUT/GET round-trips the seed's document", async () => {
    const u = await register(s);
    const r = await s.get(PREFS, u.token);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject(prefs());
    const doc = prefs({
      message_notifications: false,
      quiet_hours: { enabled: true, start_time: "22:30", end_time: "07:15", timezone: "America/New_York" },
      conversation_preferences: { "1001": { notifications_enabled: false }, "7": { notifications_enabled: true } },
      preview: "sender",
    });
    expect(await putPrefs(u, doc)).toEqual(doc);
    expect((await s.get(PREFS, u.token)).body).toEqual(doc);
    // Without `preview` the document is the seed's shape exactly; preview falls back to full.
    const { preview: _p, ...seed } = doc as typeof doc & { preview?: string };
    expect(await putPrefs(u, seed)).toEqual({ ...seed, preview: "full" });
  });

  test("validation: bad times, unknown timezone, non-id keys, missing fields → 400 naming each field", async () => {
    const u = await register(s);
    const qh = (over: Record<string, unknown>) => prefs({ quiet_hours: { enabled: true, start_time: "22:00", end_time: "08:00", timezone: "UTC", ...over } });
    const fields = async (doc: unknown) => {
      const r = await s.put(PREFS, u.token, doc);
      expectError(r, 400, "VALIDATION_ERROR");
      return (r.body.error.details as any[]).map((d) => d.field).join(" ");
    };
    expect(await fields(qh({ start_time: "25:00" }))).toContain("start_time");
    expect(await fields(qh({ end_time: "7:00" }))).toContain("end_time");
    expect(await fields(qh({ start_time: "24:00", end_time: "08:60" }))).toMatch(/start_time.*end_time|end_time.*start_time/);
    expect(await fields(qh({ timezone: "Mars/Olympus_Mons" }))).toContain("timezone");
    expect(await fields(qh({ timezone: "" }))).toContain("timezone");
    expect(await fields(prefs({ conversation_preferences: { general: { notifications_enabled: false } } }))).toContain("conversation_preferences");
    expect(await fields(prefs({ preview: "everything" }))).toContain("preview");
    const { quiet_hours: _q, ...missing } = prefs();
    expect(await fields(missing)).toContain("quiet_hours");
    // Nothing was stored by the refused requests.
    expect((await s.get(PREFS, u.token)).body).toMatchObject(prefs());
  });
});

// ------------------------------------------------------------------ delivery through each provider

describe("delivery", () => {
  test("Web Push: VAPID-signed, aes128gcm, TTL/Topic/Urgency; the payload of CONTRACT §11; the sender's own devices are quiet", async () => {
    const a = await register(s, "Ada", "Sender");
    const b = await register(s, "Bob", "Reader");
    const cid = await direct(a, b);
    const own = await webDevice(a);
    const dev = await webDevice(b);
    const viaString = await webDevice(b, s, true);
    const m = await send(a, cid, "ping while you sleep");
    for (const d of [dev, viaString]) {
      const req = await fakes.webpush.waitForDelivery(d.sub);
      expect(req.headers["content-encoding"]).toBe("aes128gcm");
      expect(Number(req.headers.ttl)).toBeGreaterThan(0);
      expect(req.headers.topic).toMatch(/^[A-Za-z0-9_-]{1,32}$/);
      expect(req.headers.urgency).toBe("high");
      expect(req.payload).toEqual({
        type: "new_message",
        conversation_id: cid,
        message_id: m.message_id,
        sender_id: a.user_id,
        sender_name: "Ada Sender",
        title: "Ada Sender",
        body: "ping while you sleep",
      });
    }
    await settled(b);
    await settled(a);
    expect(fakes.webpush.of(own.sub)).toHaveLength(0);
    expect(fakes.webpush.errors).toEqual([]);
    // A successful push marks the device as used.
    const listed = (await s.get(DEVICES, b.token)).body.devices.find((d: any) => d.device_id === dev.deviceId);
    expect(listed.last_used_at).toMatch(ISO);
  });

  test("APNs: HTTP/2 with an ES256 provider token, apns-topic/push-type/collapse-id; fields beside aps, aps.alert title/body", async () => {
    const a = await register(s, "Ann", "Apple");
    const b = await register(s);
    const c = await register(s);
    const cid = await group(a, [b, c], "Orchard");
    const phone = await nativeDevice(b, "ios");
    const m = await send(a, cid, "to iphone");
    const req = await fakes.apns.waitForDelivery(phone.token);
    expect(req.headers[":method"]).toBe("POST");
    expect(req.headers["apns-topic"]).toBe(fakes.apns.config.topic);
    expect(req.headers["apns-push-type"]).toBe("alert");
    expect(req.headers["apns-collapse-id"]).toBeTruthy();
    expect(Number(req.headers["apns-expiration"])).toBeGreaterThan(Date.now() / 1000);
    const { aps, ...fields } = req.body;
    expect(fields).toEqual({
      type: "new_message",
      conversation_id: cid,
      message_id: m.message_id,
      sender_id: a.user_id,
      sender_name: "Ann Apple",
      title: "Orchard",
      body: "Ann Apple: to iphone",
    });
    expect(aps.alert).toEqual({ title: "Orchard", body: "Ann Apple: to iphone" });
    // The provider token is reused, not signed again for every push.
    const again = await send(a, cid, "second");
    const req2 = await fakes.apns.waitForDelivery(phone.token, { skip: 1 });
    expect(req2.body.message_id).toBe(again.message_id);
    expect(req2.jwt).toBe(req.jwt);
    expect(fakes.apns.errors).toEqual([]);
  });

  test("FCM v1: an OAuth token from the service-account assertion (cached), data values are strings", async () => {
    const a = await register(s, "Fred", "Cloud");
    const b = await register(s);
    const cid = await direct(a, b);
    const phone = await nativeDevice(b, "android");
    const exchangesBefore = fakes.fcm.tokenExchanges;
    const m = await send(a, cid, "to android");
    const req = await fakes.fcm.waitForDelivery(phone.token);
    expect(req.body.message.data).toEqual({
      type: "new_message",
      conversation_id: String(cid),
      message_id: m.message_id,
      sender_id: String(a.user_id),
      sender_name: "Fred Cloud",
      title: "Fred Cloud",
      body: "to android",
    });
    expect(req.body.message.notification).toEqual({ title: "Fred Cloud", body: "to android" });
    expect(req.body.message.android.collapse_key).toBeTruthy();
    await send(a, cid, "again");
    await fakes.fcm.waitForDelivery(phone.token, { skip: 1 });
    // At most one exchange for both sends (none if an earlier test already got a token).
    expect(fakes.fcm.tokenExchanges - exchangesBefore).toBeLessThanOrEqual(1);
    expect(fakes.fcm.tokenExchanges).toBeGreaterThanOrEqual(1);
    expect(fakes.fcm.errors).toEqual([]);
  });
});

// ------------------------------------------------------------------ who gets a push

describe("who gets a push", () => {
  test("a user connected on /v1/connect gets no push; once disconnected, they do", async () => {
    const a = await register(s);
    const b = await register(s);
    const cid = await direct(a, b);
    const dev = await webDevice(b);
    const ws = await connectAs(s, b);
    const quiet = await send(a, cid, "you are online");
    await settled(b);
    expect(fakes.webpush.of(dev.sub)).toHaveLength(0);
    await ws.waitFor((f) => f.type === "new_message" && f.message?.message_id === quiet.message_id);
    await ws.close();
    await eventually(() => (s.server.realtime.isConnected(b.user_id) ? undefined : true), 2000, "the socket to be gone");
    const loud = await send(a, cid, "now offline");
    expect((await fakes.webpush.waitForDelivery(dev.sub)).payload.message_id).toBe(loud.message_id);
  });

  test("a user with only a graphql-ws subscription open gets no push; once it closes, they do", async () => {
    const a = await register(s);
    const b = await register(s);
    const cid = await direct(a, b);
    const dev = await webDevice(b);
    const client: Client = createClient({ url: s.url.replace(/^http/, "ws") + "/graphql", connectionParams: { authorization: `Bearer ${b.token}` }, retryAttempts: 0, lazy: true, lazyCloseTimeout: 0 });
    const connected = new Promise<void>((resolve) => client.on("connected", () => resolve()));
    const seen: any[] = [];
    const dispose = client.subscribe(
      { query: `subscription($c: ID!) { messageAdded(conversationId: $c) { id } }`, variables: { c: cid } },
      { next: (r) => void seen.push(r), error: () => {}, complete: () => {} },
    );
    try {
      await connected;
      const quiet = await send(a, cid, "you are subscribed");
      await settled(b);
      expect(fakes.webpush.of(dev.sub)).toHaveLength(0);
      await eventually(() => (seen.some((r) => r.data?.messageAdded?.id === quiet.message_id) ? true : undefined), 3000, "the subscription event");
    } finally {
      dispose();
      await client.dispose();
    }
    // The server learns of the close asynchronously: wait until a push goes out again.
    const deadline = Date.now() + 3000;
    let loud: any;
    for (let i = 0; Date.now() < deadline && fakes.webpush.delivered(dev.sub).length === 0; i++) {
      loud = await send(a, cid, `offline now ${i}`);
      await settled(b);
    }
    expect(fakes.webpush.delivered(dev.sub)[0]?.payload.message_id).toBe(loud?.message_id);
  });

  test("a muted conversation is quiet; the others still push", async () => {
    const a = await register(s);
    const b = await register(s);
    const muted = await direct(a, b);
    const loud = await group(a, [b], "Loud");
    const dev = await webDevice(b);
    await putPrefs(b, prefs({ conversation_preferences: { [String(muted)]: { notifications_enabled: false } } }));
    await send(a, muted, "shh");
    await settled(b);
    expect(fakes.webpush.of(dev.sub)).toHaveLength(0);
    await send(a, loud, "hello");
    expect((await fakes.webpush.waitForDelivery(dev.sub)).payload.conversation_id).toBe(loud);
  });

  test("kinds: message_notifications off silences direct chats, group_notifications off silences groups, global off silences all", async () => {
    const a = await register(s);
    const b = await register(s);
    const dm = await direct(a, b);
    const grp = await group(a, [b], "Kinds");
    const dev = await webDevice(b);
    const got = () => webPayloads(dev.sub).map((p) => p.conversation_id);
    const round = async (doc: Record<string, unknown>) => {
      await putPrefs(b, prefs(doc));
      const before = got().length;
      await send(a, dm, "dm");
      await send(a, grp, "group");
      await settled(b);
      return got().slice(before);
    };
    expect((await round({ message_notifications: false })).sort()).toEqual([grp]);
    expect((await round({ group_notifications: false })).sort()).toEqual([dm]);
    expect(await round({ global_notifications: false })).toEqual([]);
    expect((await round({})).sort((x, y) => x - y)).toEqual([dm, grp].sort((x, y) => x - y));
  });

  test("quiet hours across midnight in the user's own timezone", async () => {
    // Windows are chosen around the current time in Asia/Tokyo (or New York when Tokyo is
    // within the hour before/after midnight), so the result does not depend on when this runs.
    const minutesIn = (tz: string) => {
      const p = new Intl.DateTimeFormat("en-GB", { timeZone: tz, hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).formatToParts(new Date());
      return Number(p.find((x) => x.type === "hour")!.value) * 60 + Number(p.find((x) => x.type === "minute")!.value);
    };
    let timezone = "Asia/Tokyo";
    if (minutesIn(timezone) < 60 || minutesIn(timezone) >= 1380) timezone = "America/New_York";
    const now = minutesIn(timezone);
    const hhmm = (m: number) => `${String(Math.floor((((m % 1440) + 1440) % 1440) / 60)).padStart(2, "0")}:${String((((m % 1440) + 1440) % 1440) % 60).padStart(2, "0")}`;
    // Both windows span midnight (start later in the day than end).
    const containing = now >= 720 ? { start_time: hhmm(now - 60), end_time: "01:00" } : { start_time: "23:00", end_time: hhmm(now + 60) };
    const notContaining = { start_time: hhmm(now + 30), end_time: hhmm(now - 30) };
    for (const w of [containing, notContaining]) expect(w.start_time > w.end_time).toBe(true);

    const a = await register(s);
    const b = await register(s);
    const cid = await direct(a, b);
    const dev = await webDevice(b);
    await putPrefs(b, prefs({ quiet_hours: { enabled: true, ...containing, timezone } }));
    await send(a, cid, "at night");
    await settled(b);
    expect(fakes.webpush.of(dev.sub)).toHaveLength(0);
    // The same window but turned off: pushes again.
    await putPrefs(b, prefs({ quiet_hours: { enabled: false, ...containing, timezone } }));
    const m1 = await send(a, cid, "window off");
    expect((await fakes.webpush.waitForDelivery(dev.sub)).payload.message_id).toBe(m1.message_id);
    await putPrefs(b, prefs({ quiet_hours: { enabled: true, ...notContaining, timezone } }));
    const m2 = await send(a, cid, "daytime");
    expect((await fakes.webpush.waitForDelivery(dev.sub, { skip: 1 })).payload.message_id).toBe(m2.message_id);
  });

  test("preview privacy: a user may choose sender-only or nothing", async () => {
    const a = await register(s, "Priv", "Acy");
    const b = await register(s);
    const dm = await direct(a, b);
    const grp = await group(a, [b], "Secret club");
    const dev = await webDevice(b);
    const next = async (cid: number, text: string, n: number) => {
      const m = await send(a, cid, text);
      const p = (await fakes.webpush.waitForDelivery(dev.sub, { skip: n })).payload;
      expect(p).toMatchObject({ type: "new_message", conversation_id: cid, message_id: m.message_id, sender_id: a.user_id });
      return p;
    };
    await putPrefs(b, prefs({ preview: "sender" }));
    const p1 = await next(dm, "the password is swordfish", 0);
    expect(p1).toMatchObject({ sender_name: "Priv Acy", title: "Priv Acy" });
    const p2 = await next(grp, "the password is swordfish", 1);
    expect(p2).toMatchObject({ sender_name: "Priv Acy", title: "Secret club" });
    await putPrefs(b, prefs({ preview: "none" }));
    const p3 = await next(grp, "the password is swordfish", 2);
    expect(p3.title).toBe("New message");
    expect(p3.sender_name).toBe("");
    for (const p of [p1, p2, p3]) expect(JSON.stringify(p)).not.toContain("swordfish");
    expect(JSON.stringify(p3)).not.toContain("Priv");
    expect(JSON.stringify(p3)).not.toContain("Secret club");
  });

  test("preview privacy: the server's setting is an upper bound a user cannot loosen", async () => {
    for (const preview of ["sender", "none"] as const) {
      const server = await startExtra({ registration: "open", push: { ...fakes.config, preview } });
      fakes.webpush.expect({ subject: VAPID_SUBJECT }); // another server, another VAPID key
      const a = await register(server, "Server", "Side");
      const b = await register(server);
      const cid = await direct(a, b, server);
      const dev = await webDevice(b, server);
      await putPrefs(b, prefs({ preview: "full" }), server);
      await send(a, cid, "top secret text", server);
      const p = (await fakes.webpush.waitForDelivery(dev.sub)).payload;
      expect(JSON.stringify(p)).not.toContain("top secret");
      if (preview === "sender") expect(p).toMatchObject({ sender_name: "Server Side", title: "Server Side" });
      else expect(p).toMatchObject({ sender_name: "", title: "New message" });
      await stopExtra(server);
    }
    fakes.webpush.expect({ serverKey: (await s.get("/api/v1/notifications/vapid-public-key")).body.public_key, subject: VAPID_SUBJECT });
  });
});

// ------------------------------------------------------------------ dead tokens

describe("dead tokens are removed", () => {
  test("Web Push 404 and 410, APNs 410 Unregistered and 400 BadDeviceToken, FCM UNREGISTERED", async () => {
    const a = await register(s);
    const b = await register(s);
    const cid = await direct(a, b);
    const web404 = await webDevice(b);
    const web410 = await webDevice(b);
    const unregistered = await nativeDevice(b, "ios");
    const badToken = await nativeDevice(b, "ios");
    const fcmGone = await nativeDevice(b, "android");
    const healthy = await nativeDevice(b, "android");
    fakes.webpush.script.set(web404.sub.id, 404);
    fakes.webpush.script.set(web410.sub.id, 410);
    fakes.apns.script.set(unregistered.token, 410);
    fakes.apns.script.set(badToken.token, "BadDeviceToken");
    fakes.fcm.script.set(fcmGone.token, "UNREGISTERED");
    expect(await deviceIds(b)).toHaveLength(6);

    await send(a, cid, "anyone there?");
    await settled(b);
    expect(await deviceIds(b)).toEqual([healthy.deviceId]);
    // Each dead device was tried exactly once; the healthy one got its push.
    const tried = received({ web: [web404.sub, web410.sub], apns: [unregistered.token, badToken.token], fcm: [fcmGone.token] });
    expect(tried.map((r) => r.status).sort()).toEqual([400, 404, 404, 410, 410]);
    expect(fakes.fcm.delivered(healthy.token)).toHaveLength(1);

    // Later messages do not try them again.
    await send(a, cid, "still there?");
    await settled(b);
    expect(received({ web: [web404.sub, web410.sub], apns: [unregistered.token, badToken.token], fcm: [fcmGone.token] })).toHaveLength(5);
    expect(fakes.fcm.delivered(healthy.token)).toHaveLength(2);
  });
});

// ------------------------------------------------------------------ the SSRF guard

describe("Web Push endpoints a client may not choose", () => {
  test("http:// is refused even when private endpoints are allowed", async () => {
    const u = await register(s);
    const sub = fakes.webpush.subscribe();
    const r = await s.post(DEVICES, u.token, { device_token: { ...sub.json, endpoint: fakes.webpush.plainEndpoint() }, platform: "web", device_id: "plain" });
    expectError(r, 400, "VALIDATION_ERROR");
    expect(r.body.error.details.map((d: any) => d.field)).toEqual(["device_token"]);
    expect(await deviceIds(u)).toEqual([]);
  });

  test("loopback, private and link-local addresses are refused without the setting", async () => {
    const strict = await startExtra({ registration: "open", push: { ...fakes.config, allowPrivateEndpoints: false } });
    const u = await register(strict);
    const keys = fakes.webpush.subscribe().json.keys;
    const port = new URL(fakes.webpush.origin).port;
    for (const endpoint of [
      `${fakes.webpush.origin}/push/x`,
      `https://localhost:${port}/push/x`,
      "https://10.1.2.3/push/x",
      "https://192.168.0.10/push/x",
      "https://169.254.169.254/latest/meta-data",
      "https://[::1]/push/x",
      "https://[::ffff:127.0.0.1]/push/x", // the URL parser writes it [::ffff:7f00:1]
      "https://[::127.0.0.1]/push/x",
      "https://[64:ff9b::a00:1]/push/x", // NAT64 of 10.0.0.1
      "https://[fd00::1]/push/x",
      "https://[fe80::1]/push/x",
      "http://push.example.com/push/x",
    ]) {
      const r = await strict.post(DEVICES, u.token, { device_token: { endpoint, keys }, platform: "web", device_id: "d" });
      if (r.status !== 400) throw new Error(`${endpoint} was accepted: ${r.status} ${r.text}`);
      expectError(r, 400, "VALIDATION_ERROR");
      expect(r.body.error.details.map((d: any) => d.field)).toEqual(["device_token"]);
    }
    expect(await deviceIds(u, strict)).toEqual([]);
    // Native tokens are not URLs: unaffected.
    await nativeDevice(u, "android", strict);
    await stopExtra(strict);
  });
});

// ------------------------------------------------------------------ retries and collapse

describe("retries", () => {
  test("after 5xx from each provider the job is retried and delivered exactly once", async () => {
    const a = await register(s);
    const b = await register(s);
    const cid = await direct(a, b);
    const web = await webDevice(b);
    const ios = await nativeDevice(b, "ios");
    const android = await nativeDevice(b, "android");
    fakes.webpush.script.set(web.sub.id, 503, 201);
    fakes.apns.script.set(ios.token, 503, 200);
    fakes.fcm.script.set(android.token, 500, 200);
    const m = await send(a, cid, "eventually");
    const [w, i, f] = await Promise.all([fakes.webpush.waitForDelivery(web.sub), fakes.apns.waitForDelivery(ios.token), fakes.fcm.waitForDelivery(android.token)]);
    expect(w.payload.message_id).toBe(m.message_id);
    expect(i.body.message_id).toBe(m.message_id);
    expect(f.body.message.data.message_id).toBe(m.message_id);
    await settled(b);
    expect(fakes.webpush.of(web.sub).map((r) => r.status)).toEqual([503, 201]);
    expect(fakes.apns.of(ios.token).map((r) => r.status)).toEqual([503, 200]);
    expect(fakes.fcm.of(android.token).map((r) => r.status)).toEqual([500, 200]);
    // Backoff: the retry came after a pause, not at once.
    const [first, second] = fakes.webpush.of(web.sub);
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(900);
  }, 15_000);

  test("429 with Retry-After: the retry waits at least that long (longer than the backoff would)", async () => {
    const a = await register(s);
    const b = await register(s);
    const cid = await direct(a, b);
    const web = await webDevice(b);
    const android = await nativeDevice(b, "android");
    // 3 s: longer than the first backoff (at most 2 s), so only Retry-After explains the wait.
    fakes.webpush.script.set(web.sub.id, { status: 429, retryAfter: "3" }, 201);
    fakes.fcm.script.set(android.token, { status: 429, retryAfter: "3" }, 200);
    const m = await send(a, cid, "slow down");
    const [w, f] = await Promise.all([fakes.webpush.waitForDelivery(web.sub, { timeoutMs: 8000 }), fakes.fcm.waitForDelivery(android.token, { timeoutMs: 8000 })]);
    expect(w.payload.message_id).toBe(m.message_id);
    expect(f.body.message.data.message_id).toBe(m.message_id);
    await settled(b);
    for (const tries of [fakes.webpush.of(web.sub), fakes.fcm.of(android.token)]) {
      expect(tries.map((r) => r.status)).toEqual([429, tries[1]!.status]);
      expect(tries[1]!.status).toBeLessThan(300);
      expect(tries[1]!.at - tries[0]!.at).toBeGreaterThanOrEqual(2950);
      expect(tries[1]!.at - tries[0]!.at).toBeLessThan(6000);
    }
  }, 15_000);

  test("messages to an offline device while its provider fails collapse into one pending job, sent once with the latest", async () => {
    const a = await register(s);
    const b = await register(s);
    const cid = await direct(a, b);
    const other = await group(a, [b], "Other");
    const web = await webDevice(b);
    // Failing, with a Retry-After long enough that no retry happens while we send.
    fakes.webpush.script.set(web.sub.id, { status: 503, retryAfter: "2" });
    await send(a, cid, "one");
    await eventually(() => (pendingJobs(s, b.user_id)[0]?.last_error ? true : undefined), 3000, "the first attempt to fail");
    const sent = [];
    for (const text of ["two", "three", "four"]) sent.push(await send(a, cid, text));
    await send(a, other, "elsewhere");
    const jobs = pendingJobs(s, b.user_id);
    // One job per conversation, the first carrying the latest message of that conversation.
    expect(jobs).toHaveLength(2);
    const payloads = jobs.map((j) => JSON.parse(j.payload));
    expect(payloads.map((p) => p.conversation_id).sort((x, y) => x - y)).toEqual([cid, other].sort((x, y) => x - y));
    expect(payloads.find((p) => p.conversation_id === cid).message_id).toBe(sent[2]!.message_id);

    fakes.webpush.script.set(web.sub.id, 201);
    await settled(b, s, 8000);
    const delivered = fakes.webpush.delivered(web.sub).map((r) => r.payload);
    expect(delivered.filter((p) => p.conversation_id === cid).map((p) => p.body)).toEqual(["four"]);
    expect(delivered.filter((p) => p.conversation_id === other).map((p) => p.body)).toEqual(["Test User: elsewhere"]);
    expect(fakes.webpush.errors).toEqual([]);
  }, 15_000);
});

describe("collapse while a push is in flight", () => {
  test("a message arriving while the previous push is being sent is not lost: it goes out next", async () => {
    const a = await register(s);
    const b = await register(s);
    const cid = await direct(a, b);
    const web = await webDevice(b);
    let release = () => {};
    const held = new Promise<void>((r) => (release = r));
    fakes.webpush.script.set(web.sub.id, { status: 201, after: held }, 201);
    const m1 = await send(a, cid, "first");
    await eventually(() => (fakes.webpush.of(web.sub).length === 1 ? true : undefined), 3000, "the first push to be in flight");
    const m2 = await send(a, cid, "second");
    // The in-flight job took the newer payload instead of a second job being queued.
    const jobs = pendingJobs(s, b.user_id);
    expect(jobs).toHaveLength(1);
    expect(JSON.parse(jobs[0]!.payload).message_id).toBe(m2.message_id);
    release();
    await settled(b);
    expect(fakes.webpush.delivered(web.sub).map((r) => r.payload.message_id)).toEqual([m1.message_id, m2.message_id]);
  });
});

describe("every fake saw only well-formed requests", () => {
  test("no VAPID, token, header or encryption check failed anywhere", () => {
    expect(fakes.errors()).toEqual([]);
  });
});


/**
 * The admin API end to end (CONTRACT §12), over real HTTP and WebSocket against one in-process
 * server: who may call each endpoint (admin 2xx, other users 403 FORBIDDEN, nobody 401
 * AUTH_REQUIRED), and what each one does to the data — checked from the affected user's side
 * (their token, their login, their conversation history) rather than by trusting the answer.
 * Push delivery goes to a small FCM stand-in on 127.0.0.1 that answers as FCM would, so the
 * queue depth and failure figures come from real jobs.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { generateKeyPairSync } from "node:crypto";
import { readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { defaultConfig } from "../src/config";
import { expectError, startTestServer, tempDir, uniq, type TestServer } from "./harness";
import { conversationWith, login, makeUser, tokenStatus, type Account, type Session } from "./admin-fixtures";

const FACEBOOK_SECRET = `fb-secret-${uniq()}`;
const dir = tempDir("confab-admin-api-");
let s: TestServer;
let fcm: ReturnType<typeof Bun.serve>;
let root: Account;
let rootSession: Session;
let plain: Account;
let plainSession: Session;
const sockets: WebSocket[] = [];

/**
 * FCM, as far as the server uses it: an OAuth token endpoint and messages:send. A device token
 * starting `reject-` gets 400 INVALID_ARGUMENT (a permanent failure), `later-` gets 503 with a
 * Retry-After of an hour (the job stays queued), anything else 200.
 */
function startFakeFcm() {
  return Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      if (url.pathname === "/token") return Response.json({ access_token: "fake-fcm-access", expires_in: 3600 });
      if (!url.pathname.endsWith("/messages:send")) return new Response("not found", { status: 404 });
      const token: string = ((await req.json()) as { message: { token: string } }).message.token;
      if (token.startsWith("reject-")) return Response.json({ error: { code: 400, status: "INVALID_ARGUMENT", message: "bad token" } }, { status: 400 });
      if (token.startsWith("later-")) return Response.json({ error: { code: 503, status: "UNAVAILABLE" } }, { status: 503, headers: { "retry-after": "3600" } });
      return Response.json({ name: "projects/p/messages/1" });
    },
  });
}

beforeAll(async () => {
  fcm = startFakeFcm();
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048, privateKeyEncoding: { type: "pkcs8", format: "pem" }, publicKeyEncoding: { type: "spki", format: "pem" } });
  const account = join(dir, "fcm-service-account.json");
  writeFileSync(account, JSON.stringify({ project_id: "confab-test", client_email: "push@confab-test.example", private_key: privateKey }), { mode: 0o600 });
  const fcmUrl = `http://127.0.0.1:${fcm.port}`;
  s = await startTestServer({
    facebook: { graphUrl: "http://127.0.0.1:9", appId: "4242", appSecret: FACEBOOK_SECRET },
    push: { ...defaultConfig().push, fcm: { url: fcmUrl, tokenUrl: `${fcmUrl}/token`, serviceAccountFile: account } },
  });
  root = await makeUser(s, { role: "admin", prefix: "root" });
  rootSession = await login(s, root);
  plain = await makeUser(s, { prefix: "plain" });
  plainSession = await login(s, plain);
}, 30_000);

afterAll(async () => {
  for (const ws of sockets) ws.close();
  await s?.stop().catch(() => {});
  fcm?.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

const asRoot = {
  get: (p: string) => s.get(`/api/v1/admin${p}`, rootSession.token),
  post: (p: string, body?: unknown) => s.post(`/api/v1/admin${p}`, rootSession.token, body),
  del: (p: string) => s.del(`/api/v1/admin${p}`, rootSession.token),
};

/** Open /v1/connect and authenticate; resolves once auth_success arrives. */
async function connect(token: string): Promise<{ ws: WebSocket; closed: Promise<number> }> {
  const ws = new WebSocket(`${s.url.replace("http", "ws")}/v1/connect`);
  sockets.push(ws);
  const closed = new Promise<number>((r) => ws.addEventListener("close", (e) => r(e.code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no auth_success within 5 s")), 5000);
    ws.addEventListener("open", () => ws.send(JSON.stringify({ type: "auth", token })));
    ws.addEventListener("message", (e) => {
      const f = JSON.parse(String(e.data));
      if (f.type === "auth_success") {
        clearTimeout(timer);
        resolve();
      } else if (f.type === "auth_error") reject(new Error(`auth_error: ${e.data}`));
    });
    ws.addEventListener("error", () => reject(new Error("websocket error")));
  });
  return { ws, closed };
}

/** Poll an async check until it gives a value; fails after `ms`. */
async function until<T>(fn: () => Promise<T | undefined>, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await Bun.sleep(25);
  }
}

/** Wait (bounded) for a socket to be closed by the server. */
function closedWithin<T>(p: Promise<T>, ms = 3000): Promise<T | "still open"> {
  return Promise.race([p, Bun.sleep(ms).then(() => "still open" as const)]);
}

describe("who may call the admin API", () => {
  // Every endpoint. For the admin the targets are ids that do not exist where the endpoint
  // changes something: a 404 proves the caller got past authorization without harming anyone.
  const endpoints: [method: string, path: string, body: unknown, adminStatus: number][] = [
    ["GET", "/stats", undefined, 200],
    ["GET", "/settings", undefined, 200],
    ["GET", "/users", undefined, 200],
    ["GET", "/users?q=ro&limit=5", undefined, 200],
    ["POST", "/users", {}, 400],
    ["GET", "/users/999999", undefined, 404],
    ["POST", "/users/999999/disable", {}, 404],
    ["POST", "/users/999999/enable", {}, 404],
    ["POST", "/users/999999/password", { password: "long-enough-password" }, 404],
    ["POST", "/users/999999/role", { role: "admin" }, 404],
    ["DELETE", "/users/999999", undefined, 404],
    ["DELETE", "/sessions/00000000-0000-7000-8000-000000000000", undefined, 404],
    ["DELETE", "/users/999999/devices/none", undefined, 404],
    ["GET", "/conversations", undefined, 200],
  ];

  test.each(endpoints)("%s %s: anonymous 401, user 403, bad token 401, admin %d", async (method, path, body, adminStatus) => {
    const url = `/api/v1/admin${path}`;
    const [anon, user, forged, admin] = await Promise.all([
      s.request(method, url, null, body),
      s.request(method, url, plainSession.token, body),
      s.request(method, url, `${plainSession.token.slice(0, -4)}AAAA`, body),
      s.request(method, url, rootSession.token, body),
    ]);
    expectError(anon, 401, "AUTH_REQUIRED");
    expectError(user, 403, "FORBIDDEN");
    expectError(forged, 401, "INVALID_TOKEN");
    expect(admin.status, admin.text).toBe(adminStatus);
    if (adminStatus >= 400) expect(admin.body.error.code).toBe(adminStatus === 404 ? "NOT_FOUND" : "VALIDATION_ERROR");
  });

  test("a promotion or demotion applies to the user's existing token at once", async () => {
    const u = await makeUser(s, { prefix: "flip" });
    const us = await login(s, u);
    expect((await s.get("/api/v1/admin/stats", us.token)).status).toBe(403);
    const promoted = await asRoot.post(`/users/${u.user_id}/role`, { role: "admin" });
    expect(promoted.status).toBe(200);
    expect(promoted.body).toMatchObject({ user_id: u.user_id, role: "admin" });
    expect((await s.get("/api/v1/admin/stats", us.token)).status).toBe(200);
    expect((await asRoot.post(`/users/${u.user_id}/role`, { role: "user" })).body.role).toBe("user");
    expectError(await s.get("/api/v1/admin/stats", us.token), 403, "FORBIDDEN");
    expectError(await asRoot.post(`/users/${u.user_id}/role`, { role: "root" }), 400, "VALIDATION_ERROR");
  });

  test("an administrator cannot demote, disable or delete themself", async () => {
    expectError(await asRoot.post(`/users/${root.user_id}/role`, { role: "user" }), 403, "FORBIDDEN");
    expectError(await asRoot.post(`/users/${root.user_id}/disable`), 403, "FORBIDDEN");
    expectError(await asRoot.del(`/users/${root.user_id}`), 403, "FORBIDDEN");
    const me = await asRoot.get(`/users/${root.user_id}`);
    expect(me.body).toMatchObject({ role: "admin", disabled: false });
    expect(await tokenStatus(s, rootSession.token)).toBe(200);
  });
});

describe("users: list, search, page", () => {
  let family: Account[];
  beforeAll(async () => {
    // Names chosen so each search below has one right answer.
    family = [
      await makeUser(s, { prefix: "qz", first_name: "Quentin", last_name: "Zanetti" }),
      await makeUser(s, { prefix: "qz", first_name: "Zelda", last_name: "Quill" }),
      await makeUser(s, { prefix: "qz", first_name: "Ursula", last_name: "Oquendo" }),
    ];
  });

  test("q matches a prefix of email, username, first or last name, case-insensitively", async () => {
    const ids = async (q: string) => (await asRoot.get(`/users?q=${encodeURIComponent(q)}`)).body.users.map((u: { user_id: number }) => u.user_id).sort();
    const [quentin, zelda, ursula] = family.map((u) => u.user_id);
    expect(await ids("quent")).toEqual([quentin]); // first name
    expect(await ids("QUILL")).toEqual([zelda]); // last name, any case
    expect(await ids("oquen")).toEqual([ursula]); // last name
    expect(await ids(family[0]!.username)).toEqual([quentin]); // username
    expect(await ids(family[1]!.email.toUpperCase())).toEqual([zelda]); // email
    expect(await ids("qz")).toEqual([quentin!, zelda!, ursula!].sort()); // username prefix of all three
    expect(await ids("uentin")).toEqual([]); // a prefix, not a substring
    expect(await ids("_")).toEqual([]); // LIKE wildcards are literal
    expect(await ids("%")).toEqual([]);
    const r = await asRoot.get("/users?q=qz");
    expect(r.body.total_count).toBe(3);
    expect(r.body.users[0]).not.toHaveProperty("password_hash");
    expect(JSON.stringify(r.body)).not.toMatch(/argon2|password/);
  });

  test("keyset paging visits every user once, newest first, whatever is added meanwhile", async () => {
    const all = (await asRoot.get("/users?limit=100")).body;
    expect(all.users.length).toBe(all.total_count);
    const seen: number[] = [];
    let cursor: string | null = null;
    let added: Account | null = null;
    for (let page = 0; page < 50; page++) {
      const r = await asRoot.get(`/users?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      expect(r.status, r.text).toBe(200);
      expect(r.body.users.length).toBeLessThanOrEqual(2);
      seen.push(...r.body.users.map((u: { user_id: number }) => u.user_id));
      // A signup in the middle of paging lands before the first page, never inside the walk.
      added ??= await makeUser(s, { prefix: "mid" });
      if (!r.body.has_more) {
        expect(r.body.next_cursor).toBeNull();
        break;
      }
      cursor = r.body.next_cursor;
    }
    expect(seen).toEqual(all.users.map((u: { user_id: number }) => u.user_id));
    expect([...seen].sort((a, b) => b - a)).toEqual(seen);
    expect(seen).not.toContain(added!.user_id);
  });

  test("bad limit and cursor values are 400s", async () => {
    expectError(await asRoot.get("/users?limit=0"), 400, "VALIDATION_ERROR");
    expectError(await asRoot.get("/users?limit=abc"), 400, "VALIDATION_ERROR");
    expectError(await asRoot.get("/users?cursor=not*a*cursor"), 400, "VALIDATION_ERROR");
    expectError(await asRoot.get(`/users?cursor=${Buffer.from('{"x":1}').toString("base64url")}`), 400, "VALIDATION_ERROR");
    expect((await asRoot.get("/users?limit=1000")).status).toBe(200); // capped at 100, not refused
  });
});

describe("users: create, show", () => {
  test("create: 201 with the account; the user can sign in though registration is closed", async () => {
    const tag = uniq();
    const input = { email: `made${tag}@example.test`, username: `made${tag}`, first_name: "Made", last_name: "ByAdmin", password: `pw-${tag}-long` };
    const r = await asRoot.post("/users", input);
    expect(r.status, r.text).toBe(201);
    expect(r.body).toMatchObject({ email: input.email, username: input.username, first_name: "Made", last_name: "ByAdmin", role: "user", disabled: false });
    expect(r.body).not.toHaveProperty("password");
    expect(r.text).not.toContain(input.password);
    expect(typeof r.body.user_id).toBe("number");
    expectError(await s.post("/api/v1/auth/register", null, { ...input, email: `x${input.email}`, username: `x${tag}` }), 403, "FORBIDDEN");
    expect((await s.post("/api/v1/auth/login", null, { email: input.email, password: input.password })).status).toBe(200);

    const admin = await asRoot.post("/users", { ...input, email: `adm${input.email}`, username: `adm${tag}`, role: "admin" });
    expect(admin.status).toBe(201);
    expect(admin.body.role).toBe("admin");
  });

  test("create: duplicates are 409 CONFLICT, bad fields 400 with details", async () => {
    const tag = uniq();
    const input = { email: `dup${tag}@example.test`, username: `dup${tag}`, first_name: "D", last_name: "Up", password: `pw-${tag}-long` };
    expect((await asRoot.post("/users", input)).status).toBe(201);
    const sameEmail = expectError(await asRoot.post("/users", { ...input, username: `other${tag}`, email: input.email.toUpperCase() }), 409, "CONFLICT");
    expect(sameEmail.details?.[0]?.field).toBe("email");
    const sameName = expectError(await asRoot.post("/users", { ...input, email: `other${tag}@example.test` }), 409, "CONFLICT");
    expect(sameName.details?.[0]?.field).toBe("username");

    const bad = expectError(await asRoot.post("/users", { email: "not-an-email", username: "X!", first_name: "", last_name: "L", password: "short" }), 400, "VALIDATION_ERROR");
    const fields = bad.details.map((d: { field: string }) => d.field);
    for (const f of ["email", "username", "password"]) expect(fields).toContain(f);
    expectError(await asRoot.post("/users", { ...input, role: "superuser" }), 400, "VALIDATION_ERROR");
    expectError(await s.request("POST", "/api/v1/admin/users", rootSession.token, "{not json"), 400, "INVALID_JSON");
  });

  test("show: the account with its live sessions and devices; 404 and 400 for bad ids", async () => {
    const u = await makeUser(s, { prefix: "show" });
    const a = await login(s, u, "phone-a");
    await login(s, u, "laptop-b");
    expect((await s.post("/api/v1/notifications/devices", a.token, { device_id: "pixel", platform: "android", device_token: "ok-token-123456" })).status).toBe(201);
    const r = await asRoot.get(`/users/${u.user_id}`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ user_id: u.user_id, email: u.email, role: "user", disabled: false });
    expect(r.body.sessions.map((x: { device_id: string }) => x.device_id).sort()).toEqual(["laptop-b", "phone-a"]);
    expect(r.body.sessions.every((x: { session_id: string; current: boolean }) => typeof x.session_id === "string" && x.current === false)).toBe(true);
    expect(r.body.devices).toEqual([expect.objectContaining({ device_id: "pixel", platform: "android" })]);
    // The push token is the device's secret: an operator sees that it exists, not what it is.
    expect(r.text).not.toContain("ok-token-123456");
    expectError(await asRoot.get("/users/abc"), 400, "VALIDATION_ERROR");
    expectError(await asRoot.get("/users/0"), 400, "VALIDATION_ERROR");
  });
});

describe("users: lock out, reset, delete", () => {
  test("disable: every token and socket of the user dies at once; enable lets them sign in again", async () => {
    const u = await makeUser(s, { prefix: "dis" });
    const [a, b] = [await login(s, u), await login(s, u)];
    const live = await connect(a.token);
    const r = await asRoot.post(`/users/${u.user_id}/disable`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ user_id: u.user_id, disabled: true });
    expectError(await s.get("/api/v1/users/me", a.token), 401, "INVALID_TOKEN");
    expectError(await s.get("/api/v1/users/me", b.token), 401, "INVALID_TOKEN");
    expect(await closedWithin(live.closed)).not.toBe("still open");
    expectError(await s.post("/api/v1/auth/refresh", null, { refresh_token: a.refresh_token }), 401, "INVALID_TOKEN");
    expectError(await s.post("/api/v1/auth/login", null, { email: u.email, password: u.password }), 403, "ACCOUNT_DISABLED");
    expect((await asRoot.get(`/users/${u.user_id}`)).body.sessions).toEqual([]);

    const e = await asRoot.post(`/users/${u.user_id}/enable`);
    expect(e.body.disabled).toBe(false);
    expect(await tokenStatus(s, a.token)).toBe(401); // enabling does not revive old sessions
    const again = await login(s, u);
    expect(await tokenStatus(s, again.token)).toBe(200);
  });

  test("password reset: old sessions end, the old password fails, the new one works", async () => {
    const u = await makeUser(s, { prefix: "pw" });
    const old = await login(s, u);
    expectError(await asRoot.post(`/users/${u.user_id}/password`, { password: "short" }), 400, "VALIDATION_ERROR");
    expect(await tokenStatus(s, old.token)).toBe(200); // a refused reset changes nothing
    const fresh = `brand-new-${uniq()}`;
    const r = await asRoot.post(`/users/${u.user_id}/password`, { password: fresh });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ success: true });
    expectError(await s.get("/api/v1/users/me", old.token), 401, "INVALID_TOKEN");
    expectError(await s.post("/api/v1/auth/refresh", null, { refresh_token: old.refresh_token }), 401, "INVALID_TOKEN");
    expectError(await s.post("/api/v1/auth/login", null, { email: u.email, password: u.password }), 401, "INVALID_CREDENTIALS");
    expect((await s.post("/api/v1/auth/login", null, { email: u.email, password: fresh })).status).toBe(200);
  });

  test("delete with messages=keep: the messages stay, from a deleted account (sender_id null)", async () => {
    const gone = await makeUser(s, { prefix: "gone" });
    const stays = await makeUser(s, { prefix: "stays" });
    const goneSession = await login(s, gone);
    const staysSession = await login(s, stays);
    const c = await conversationWith(s, goneSession, [stays.user_id], 3, (i) => `kept words ${i}`);
    const r = await asRoot.del(`/users/${gone.user_id}`); // keep is the default
    expect(r.status, r.text).toBe(200);
    expect(r.body).toEqual({ success: true, erased_messages: 0 });
    expect(await tokenStatus(s, goneSession.token)).toBe(401);
    expectError(await asRoot.get(`/users/${gone.user_id}`), 404, "NOT_FOUND");
    expectError(await asRoot.del(`/users/${gone.user_id}`), 404, "NOT_FOUND");

    const history = await s.get(`/api/v1/conversations/${c.id}/messages?limit=10`, staysSession.token);
    expect(history.status).toBe(200);
    expect(history.body.messages).toHaveLength(3);
    for (const m of history.body.messages) {
      expect(m.sender_id).toBeNull();
      expect(m.content).toMatch(/^kept words \d$/);
    }
    const row = s.server.core.db.query<{ n: number }, [number]>("SELECT count(*) AS n FROM messages WHERE conversation_id = ? AND sender_id IS NULL AND content LIKE 'kept words %'").get(c.id);
    expect(row!.n).toBe(3);
  });

  test("delete with messages=erase: the messages become tombstones first", async () => {
    const gone = await makeUser(s, { prefix: "erase" });
    const stays = await makeUser(s, { prefix: "witness" });
    const goneSession = await login(s, gone);
    const staysSession = await login(s, stays);
    const c = await conversationWith(s, goneSession, [stays.user_id], 2, (i) => `secret words ${i}`);
    await s.post(`/api/v1/conversations/${c.id}/messages`, staysSession.token, { message_type: "text", content: "the witness's own reply" });
    expectError(await asRoot.del(`/users/${gone.user_id}?messages=shred`), 400, "VALIDATION_ERROR");
    const r = await asRoot.del(`/users/${gone.user_id}?messages=erase`);
    expect(r.status, r.text).toBe(200);
    expect(r.body).toEqual({ success: true, erased_messages: 2 });

    const history = await s.get(`/api/v1/conversations/${c.id}/messages?limit=10`, staysSession.token);
    const erased = history.body.messages.filter((m: { message_id: string }) => c.messageIds.includes(m.message_id));
    expect(erased).toHaveLength(2);
    for (const m of erased) expect(m).toMatchObject({ sender_id: null, content: null, deleted: true });
    expect(history.text).not.toContain("secret words");
    expect(history.text).toContain("the witness's own reply");
    const search = await s.get("/api/v1/messages/search?q=secret", staysSession.token);
    expect(search.text).not.toContain("secret words");
  });

  test("sessions: revoking one kills its token and socket, not the user's others", async () => {
    const u = await makeUser(s, { prefix: "sess" });
    const [a, b] = [await login(s, u, "a"), await login(s, u, "b")];
    const live = await connect(a.token);
    const r = await asRoot.del(`/sessions/${a.session_id}`);
    expect(r.status, r.text).toBe(200);
    expect(r.body).toEqual({ success: true });
    expectError(await s.get("/api/v1/users/me", a.token), 401, "INVALID_TOKEN");
    expect(await closedWithin(live.closed)).not.toBe("still open");
    expect(await tokenStatus(s, b.token)).toBe(200);
    expectError(await s.post("/api/v1/auth/refresh", null, { refresh_token: a.refresh_token }), 401, "INVALID_TOKEN");
    expectError(await asRoot.del(`/sessions/${a.session_id}`), 404, "NOT_FOUND"); // already ended
    expect((await asRoot.get(`/users/${u.user_id}`)).body.sessions.map((x: { session_id: string }) => x.session_id)).toEqual([b.session_id]);
  });

  test("devices: revoking one stops it being listed or pushed to; unknown ones are 404", async () => {
    const u = await makeUser(s, { prefix: "dev" });
    const us = await login(s, u);
    for (const id of ["tablet", "phone"]) {
      expect((await s.post("/api/v1/notifications/devices", us.token, { device_id: id, platform: "android", device_token: `ok-${id}-${uniq()}` })).status).toBe(201);
    }
    const r = await asRoot.del(`/users/${u.user_id}/devices/tablet`);
    expect(r.status, r.text).toBe(200);
    expect((await s.get("/api/v1/notifications/devices", us.token)).body.devices.map((d: { device_id: string }) => d.device_id)).toEqual(["phone"]);
    expectError(await asRoot.del(`/users/${u.user_id}/devices/tablet`), 404, "NOT_FOUND");
    expectError(await asRoot.del(`/users/${plain.user_id}/devices/phone`), 404, "NOT_FOUND"); // someone else's id
    expect(await tokenStatus(s, us.token)).toBe(200); // a device is not a session
  });
});

describe("conversations overview", () => {
  test("counts and participant ids, never a word of any message", async () => {
    const [a, b, c] = [await makeUser(s, { prefix: "ca" }), await makeUser(s, { prefix: "cb" }), await makeUser(s, { prefix: "cc" })];
    const as = await login(s, a);
    const marker = `confidential-${uniq()}`;
    const group = await conversationWith(s, as, [b.user_id, c.user_id], 4, (i) => `${marker} #${i}`);
    const direct = await conversationWith(s, as, [b.user_id], 1, () => `${marker} direct`);

    const all: any[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 100; page++) {
      const r = await asRoot.get(`/conversations?limit=1${cursor ? `&cursor=${cursor}` : ""}`);
      expect(r.status).toBe(200);
      expect(r.text).not.toContain(marker);
      all.push(...r.body.conversations);
      if (!r.body.has_more) break;
      cursor = r.body.next_cursor;
    }
    const ids = all.map((x) => x.conversation_id);
    expect(new Set(ids).size).toBe(ids.length);
    const g = all.find((x) => x.conversation_id === group.id);
    expect(g).toMatchObject({ conversation_type: "group", participant_count: 3, message_count: 4, created_by: a.user_id });
    expect([...g.participant_ids].sort()).toEqual([a.user_id, b.user_id, c.user_id].sort());
    const d = all.find((x) => x.conversation_id === direct.id);
    expect(d).toMatchObject({ conversation_type: "direct", participant_count: 2, message_count: 1, title: null });
    // Only these keys: nothing that could carry content slips in later unnoticed.
    expect(Object.keys(g).sort()).toEqual(
      ["conversation_id", "conversation_type", "created_at", "created_by", "message_count", "participant_count", "participant_ids", "title", "updated_at"].sort(),
    );
    const whole = await asRoot.get("/conversations?limit=100");
    expect(whole.text).not.toContain(marker);
    expect(whole.text).not.toMatch(/"content"|last_message/);
  });
});

describe("stats and settings", () => {
  test("every figure, checked against what happened", async () => {
    const before = (await asRoot.get("/stats")).body;
    const sender = await makeUser(s, { prefix: "send" });
    const receiver = await makeUser(s, { prefix: "recv" });
    const ss = await login(s, sender);
    const rs = await login(s, receiver);
    // Two android devices for the (offline) receiver: FCM refuses one for good, postpones the other.
    for (const [id, token] of [["doomed", `reject-${uniq()}`], ["patient", `later-${uniq()}`]]) {
      expect((await s.post("/api/v1/notifications/devices", rs.token, { device_id: id, platform: "android", device_token: token })).status).toBe(201);
    }
    await asRoot.post(`/users/${(await makeUser(s, { prefix: "off" })).user_id}/disable`);
    await conversationWith(s, ss, [receiver.user_id], 1);

    // One job per device: one failed for good, one queued to retry in an hour.
    const after = await until(
      async () => {
        const r = (await asRoot.get("/stats")).body;
        return r.push.failed - before.push.failed === 1 && r.push.queued - before.push.queued === 1 ? r : undefined;
      },
      10_000,
      "push jobs to be tried",
    );
    expect(after.users.total - before.users.total).toBe(3);
    expect(after.users.disabled - before.users.disabled).toBe(1);
    expect(after.users.admins).toBe(before.users.admins);
    expect(after.conversations - before.conversations).toBe(1);
    expect(after.messages.today - before.messages.today).toBe(1);
    expect(after.messages.total - before.messages.total).toBe(1);
    const today = new Date().toISOString().slice(0, 10);
    expect(after.messages_per_day.at(-1)).toEqual({ day: today, messages: after.messages.today });
    expect(after.messages_per_day.length).toBeLessThanOrEqual(30);
    expect(after.devices - before.devices).toBe(2);
    expect(after.sessions - before.sessions).toBe(2);
    expect(after.push.since_start.failed - before.push.since_start.failed).toBe(1);
    expect(after.push.since_start.retried - before.push.since_start.retried).toBe(1);
    // Ground truth for the push figures: the job table itself.
    const jobs = s.server.core.db.query<{ queued: number; failed: number }, []>("SELECT count(*) FILTER (WHERE failed_at IS NULL) AS queued, count(*) FILTER (WHERE failed_at IS NOT NULL) AS failed FROM push_jobs").get()!;
    expect({ queued: after.push.queued, failed: after.push.failed }).toEqual(jobs);
    // Storage: the database file plus its WAL, and what is under media/.
    const onDisk = (f: string) => {
      try {
        return statSync(join(s.dataDir, f)).size;
      } catch {
        return 0;
      }
    };
    // (Read the files before and after: a session touch may write between the two.)
    const low = onDisk("confab.db") + onDisk("confab.db-wal");
    const reported = (await asRoot.get("/stats")).body.storage.database_bytes;
    const high = onDisk("confab.db") + onDisk("confab.db-wal");
    expect(low).toBeGreaterThan(0);
    expect(reported).toBeGreaterThanOrEqual(low);
    expect(reported).toBeLessThanOrEqual(high);
  }, 30_000);

  test("media size counts uploaded files", async () => {
    const u = await makeUser(s, { prefix: "media" });
    const other = await makeUser(s, { prefix: "peer" });
    const us = await login(s, u);
    const c = await conversationWith(s, us, [other.user_id], 0);
    const before = (await asRoot.get("/stats")).body.storage.media_bytes;
    const form = new FormData();
    form.append("file", new Blob(["some,csv,data\n".repeat(4000)]), "data.csv");
    form.append("conversation_id", String(c.id));
    form.append("message_type", "file");
    const up = await fetch(`${s.url}/api/v1/media/upload`, { method: "POST", headers: { authorization: `Bearer ${us.token}` }, body: form });
    expect(up.status, await up.clone().text()).toBe(201);
    const after = (await asRoot.get("/stats")).body.storage.media_bytes;
    expect(after - before).toBeGreaterThanOrEqual(56_000);
    expect(after).toBe(directoryBytes(join(s.dataDir, "media")));
  });

  test("live connections count open /v1/connect sockets", async () => {
    const base = (await asRoot.get("/stats")).body.live;
    const u = await makeUser(s, { prefix: "live" });
    const us = await login(s, u);
    const one = await connect(us.token);
    const two = await connect(us.token);
    const during = (await asRoot.get("/stats")).body.live;
    expect(during.connections - base.connections).toBe(2);
    expect(during.users - base.users).toBe(1);
    one.ws.close();
    two.ws.close();
    await Promise.all([one.closed, two.closed]);
    const end = await until(async () => {
      const l = (await asRoot.get("/stats")).body.live;
      return l.connections === base.connections ? l : undefined;
    }, 3000, "the sockets to be forgotten");
    expect(end.users).toBe(base.users);
  });

  test("settings: the effective configuration, the Facebook app secret masked", async () => {
    const r = await asRoot.get("/settings");
    expect(r.status).toBe(200);
    expect(r.body.facebook).toEqual({ graphUrl: "http://127.0.0.1:9", appId: "4242", appSecret: "********" });
    expect(r.body.port).toBe(0);
    expect(r.body.dataDir).toBe(s.dataDir);
    expect(r.text).not.toContain(FACEBOOK_SECRET);
    // Nothing else secret is in there either: the JWT key and VAPID private key live in files.
    const jwt = Buffer.from(s.server.core.secrets.jwtSecret);
    for (const form of [jwt.toString("base64"), jwt.toString("base64url"), jwt.toString("hex")]) expect(r.text).not.toContain(form.slice(0, 16));
    expect(r.text).not.toMatch(/privateKey|private_key/);
  });
});

/** Total bytes of the files under `d`, as the server counts them. */
function directoryBytes(d: string): number {
  let total = 0;
  for (const e of readdirSync(d, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) total += statSync(join(e.parentPath, e.name)).size;
  }
  return total;
}

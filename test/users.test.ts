/** Profiles, privacy and user search end to end (CONTRACT §2, §6). */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { expectError, startTestServer, uniq, type TestServer, type TestUser } from "./harness";

let s: TestServer;
let alice: TestUser;
let bob: TestUser;

beforeAll(async () => {
  s = await startTestServer({ registration: "open" });
  alice = await s.register({ first_name: "Alice", last_name: "Liddell" });
  bob = await s.register({ first_name: "Bob", last_name: "Builder" });
});
afterAll(async () => {
  await s.stop();
});

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$/;

function expectProfileShape(p: any) {
  expect(Object.keys(p).sort()).toEqual(
    ["first_name", "last_active_at", "last_name", "privacy_settings", "profile_picture_url", "status_message", "user_id", "username"].sort(),
  );
  expect(Number.isInteger(p.user_id)).toBe(true);
  expect(typeof p.username).toBe("string");
  expect(typeof p.first_name).toBe("string");
  expect(typeof p.last_name).toBe("string");
  expect(p.profile_picture_url === null || typeof p.profile_picture_url === "string").toBe(true);
  expect(p.status_message === null || typeof p.status_message === "string").toBe(true);
  expect(p.last_active_at === null || ISO.test(p.last_active_at)).toBe(true);
  expect(typeof p.privacy_settings.show_last_seen).toBe("boolean");
  expect(typeof p.privacy_settings.show_online_status).toBe("boolean");
  // Account internals never leak into a profile.
  for (const k of ["email", "password", "password_hash", "role", "disabled"]) expect(p).not.toHaveProperty(k);
}

/** Put two users in a conversation together, the way the conversations service stores it. */
function shareConversation(a: number, b: number) {
  const db = s.server.core.db;
  const now = Date.now();
  const { id } = db.query<{ id: number }, [string, number, number, number]>(
    "INSERT INTO conversations (type, title, created_by, created_at, updated_at) VALUES ('group', ?, ?, ?, ?) RETURNING id",
  ).get(`t-${uniq()}`, a, now, now)!;
  const add = db.query("INSERT INTO participants (conversation_id, user_id, joined_at) VALUES (?, ?, ?)");
  add.run(id, a, now);
  add.run(id, b, now);
}

describe("GET /users/{id}", () => {
  test("another user's profile: fields and types", async () => {
    const r = await s.get(`/api/v1/users/${bob.user_id}`, alice.token);
    expect(r.status).toBe(200);
    expectProfileShape(r.body);
    expect(r.body).toMatchObject({
      user_id: bob.user_id,
      username: bob.username,
      first_name: "Bob",
      last_name: "Builder",
      profile_picture_url: null,
      status_message: null,
      privacy_settings: { show_last_seen: true, show_online_status: true },
    });
  });

  test("/users/me is the caller's own profile", async () => {
    const mine = await s.get("/api/v1/users/me", alice.token);
    expect(mine.status).toBe(200);
    expectProfileShape(mine.body);
    const byId = await s.get(`/api/v1/users/${alice.user_id}`, alice.token);
    expect(mine.body).toEqual(byId.body);
    expect(mine.body.user_id).toBe(alice.user_id);
    // Using the API is activity.
    expect(mine.body.last_active_at).toMatch(ISO);
  });

  test("needs a token", async () => {
    expectError(await s.get(`/api/v1/users/${bob.user_id}`), 401, "AUTH_REQUIRED");
  });

  test("a non-numeric or non-positive id → 400 naming user_id; an unknown one → 404", async () => {
    for (const bad of ["abc", "0", "-3", "1.5", "1e3", "99999999999999999999"]) {
      const e = expectError(await s.get(`/api/v1/users/${bad}`, alice.token), 400, "VALIDATION_ERROR");
      expect(e.details.map((d: any) => d.field)).toEqual(["user_id"]);
    }
    expectError(await s.get("/api/v1/users/987654321", alice.token), 404, "NOT_FOUND");
  });

  test("show_last_seen false hides last_active_at from others, not from the user", async () => {
    const carol = await s.register();
    await s.get("/api/v1/users/me", carol.token); // some activity
    const before = await s.get(`/api/v1/users/${carol.user_id}`, alice.token);
    expect(before.body.last_active_at).toMatch(ISO);

    const r = await s.put(`/api/v1/users/${carol.user_id}`, carol.token, { privacy_settings: { show_last_seen: false } });
    expect(r.status).toBe(200);
    expect(r.body.user.privacy_settings).toEqual({ show_last_seen: false, show_online_status: true });

    const seenByAlice = await s.get(`/api/v1/users/${carol.user_id}`, alice.token);
    expect(seenByAlice.status).toBe(200);
    expect(seenByAlice.body.last_active_at).toBeNull();
    expect(seenByAlice.body.privacy_settings.show_last_seen).toBe(false);
    const seenBySelf = await s.get("/api/v1/users/me", carol.token);
    expect(seenBySelf.body.last_active_at).toMatch(ISO);
  });
});

describe("PUT /users/{id}", () => {
  test("own profile → 200 {success, user}, and it persists", async () => {
    const u = await s.register();
    const patch = { first_name: "Zed", last_name: "Zulu", status_message: "Busy", privacy_settings: { show_last_seen: false, show_online_status: false } };
    const r = await s.put(`/api/v1/users/${u.user_id}`, u.token, patch);
    expect(r.status).toBe(200);
    expect(r.body.success).toBe(true);
    expectProfileShape(r.body.user);
    expect(r.body.user).toMatchObject({ user_id: u.user_id, first_name: "Zed", last_name: "Zulu", status_message: "Busy", privacy_settings: patch.privacy_settings });
    const read = await s.get(`/api/v1/users/${u.user_id}`, u.token);
    // last_active_at is bookkeeping written with the next group commit, so it may appear between
    // the two reads; everything the PUT changed must read back the same.
    const { last_active_at: _a, ...written } = r.body.user;
    const { last_active_at: _b, ...reread } = read.body;
    expect(reread).toEqual(written);
  });

  test("a partial update changes only what it names; null clears the status", async () => {
    const u = await s.register({ first_name: "Keep", last_name: "Me" });
    await s.put(`/api/v1/users/${u.user_id}`, u.token, { status_message: "Away", privacy_settings: { show_online_status: false } });
    const r = await s.put(`/api/v1/users/${u.user_id}`, u.token, { status_message: null });
    expect(r.status).toBe(200);
    expect(r.body.user).toMatchObject({ first_name: "Keep", last_name: "Me", status_message: null, privacy_settings: { show_last_seen: true, show_online_status: false } });
  });

  test("someone else's profile → 403 FORBIDDEN, and nothing changes", async () => {
    const before = await s.get(`/api/v1/users/${bob.user_id}`, bob.token);
    expectError(await s.put(`/api/v1/users/${bob.user_id}`, alice.token, { first_name: "Hacked", status_message: "pwned" }), 403, "FORBIDDEN");
    const after = await s.get(`/api/v1/users/${bob.user_id}`, bob.token);
    expect(after.body.first_name).toBe(before.body.first_name);
    expect(after.body.status_message).toBe(before.body.status_message);
  });

  test("an admin may change anyone's profile", async () => {
    const admin = await s.register();
    s.server.core.users.setRole(admin.user_id, "admin");
    const relog = await s.post("/api/v1/auth/login", null, { email: admin.email, password: admin.password });
    const target = await s.register();
    const r = await s.put(`/api/v1/users/${target.user_id}`, relog.body.access_token, { status_message: "set by admin" });
    expect(r.status).toBe(200);
    expect(r.body.user.status_message).toBe("set by admin");
    expectError(await s.put("/api/v1/users/987654321", relog.body.access_token, { first_name: "X" }), 404, "NOT_FOUND");
  });

  test("wrong types → 400 naming the field, and nothing changes", async () => {
    const u = await s.register({ first_name: "Typed" });
    const cases: [unknown, string][] = [
      [{ first_name: 12345 }, "first_name"],
      [{ last_name: ["x"] }, "last_name"],
      [{ status_message: 7 }, "status_message"],
      [{ privacy_settings: { show_last_seen: "nope" } }, "privacy_settings.show_last_seen"],
      [{ privacy_settings: { show_online_status: 1 } }, "privacy_settings.show_online_status"],
    ];
    for (const [body, field] of cases) {
      const e = expectError(await s.put(`/api/v1/users/${u.user_id}`, u.token, body), 400, "VALIDATION_ERROR");
      expect(e.details.map((d: any) => d.field)).toContain(field);
    }
    const after = await s.get("/api/v1/users/me", u.token);
    expect(after.body.first_name).toBe("Typed");
    expect(after.body.privacy_settings.show_last_seen).toBe(true);
  });

  // KNOWN BUG (src/app.ts): Elysia's default body normalizer ("exactMirror") rebuilds an object
  // from the schema's keys before validating, so `privacy_settings: "off"` (or a body of `5`)
  // becomes `{}` and passes as an empty update. Fix: `new Elysia({ normalize: "typebox" })` in
  // buildHttpApp. `test.failing` keeps this red-flagged until then: drop `.failing` once fixed.
  test("a non-object where an object belongs → 400, not a silent no-op", async () => {
    const u = await s.register();
    const e = expectError(await s.put(`/api/v1/users/${u.user_id}`, u.token, { privacy_settings: "off" }), 400, "VALIDATION_ERROR");
    expect(e.details.map((d: any) => d.field)).toContain("privacy_settings");
    expectError(await s.put(`/api/v1/users/${u.user_id}`, u.token, 5), 400, "VALIDATION_ERROR");
  });

  test("bad values → 400 naming the field", async () => {
    const u = await s.register();
    const cases: [unknown, string][] = [
      [{ first_name: "" }, "first_name"],
      [{ first_name: "   " }, "first_name"],
      [{ last_name: "x".repeat(65) }, "last_name"],
      [{ status_message: "s".repeat(141) }, "status_message"],
    ];
    for (const [body, field] of cases) {
      const e = expectError(await s.put(`/api/v1/users/${u.user_id}`, u.token, body), 400, "VALIDATION_ERROR");
      expect(e.details.map((d: any) => d.field)).toContain(field);
    }
  });

  test("fields that are not part of a profile cannot be set (role, email, username)", async () => {
    const u = await s.register();
    const r = await s.put(`/api/v1/users/${u.user_id}`, u.token, { role: "admin", email: "evil@example.test", username: "evil_name", disabled: 1 });
    if (r.status === 200) expect(r.body.user.username).toBe(u.username);
    else expectError(r, 400, "VALIDATION_ERROR");
    const row = s.server.core.users.requireUser(u.user_id);
    expect(row.role).toBe("user");
    expect(row.email).toBe(u.email);
    expect(row.username).toBe(u.username);
  });

  test("bad id → 400; an unknown id → 403 for a non-admin (it is not theirs either way)", async () => {
    expectError(await s.put("/api/v1/users/abc", alice.token, { first_name: "X" }), 400, "VALIDATION_ERROR");
    expectError(await s.put("/api/v1/users/987654321", alice.token, { first_name: "X" }), 403, "FORBIDDEN");
  });
});

describe("GET /users/search", () => {
  // Users whose names all start with a tag no other test uses.
  const tag = `q${uniq()}`.slice(0, 12);
  let viewer: TestUser;
  let byUsername: TestUser, byFirst: TestUser, byLast: TestUser;

  beforeAll(async () => {
    viewer = await s.register();
    byUsername = await s.register({ username: `${tag}_user` });
    byFirst = await s.register({ first_name: `${tag.toUpperCase()}first` });
    byLast = await s.register({ last_name: `${tag[0]!.toUpperCase()}${tag.slice(1)}last` });
  });

  const search = (q: string, extra = "", token = viewer.token) => s.get(`/api/v1/users/search?q=${encodeURIComponent(q)}${extra}`, token);

  test("matches a prefix of username, first or last name, case-insensitively; result shape", async () => {
    const r = await search(tag.toUpperCase());
    expect(r.status).toBe(200);
    expect(Object.keys(r.body).sort()).toEqual(["has_more", "total_count", "users"]);
    const ids = r.body.users.map((u: any) => u.user_id).sort();
    expect(ids).toEqual([byUsername.user_id, byFirst.user_id, byLast.user_id].sort());
    expect(r.body.total_count).toBe(3);
    expect(r.body.has_more).toBe(false);
    for (const u of r.body.users) {
      expect(Object.keys(u).sort()).toEqual(["first_name", "last_name", "mutual_friends_count", "profile_picture_url", "user_id", "username"]);
      expect(u.mutual_friends_count).toBe(0);
      expect(u).not.toHaveProperty("email");
    }
  });

  test("only prefixes match, not the middle of a name", async () => {
    const r = await search(tag.slice(2));
    expect(r.status).toBe(200);
    expect(r.body.users.map((u: any) => u.user_id)).not.toContain(byUsername.user_id);
  });

  test("mutual_friends_count is the number of conversations shared with the caller", async () => {
    shareConversation(viewer.user_id, byFirst.user_id);
    shareConversation(viewer.user_id, byFirst.user_id);
    shareConversation(byUsername.user_id, byFirst.user_id); // not the viewer's
    const users = (await search(tag)).body.users;
    expect(users.find((u: any) => u.user_id === byFirst.user_id).mutual_friends_count).toBe(2);
    expect(users.find((u: any) => u.user_id === byUsername.user_id).mutual_friends_count).toBe(0);
  });

  test("limit and offset page through the results", async () => {
    const p1 = await search(tag, "&limit=2");
    expect(p1.body.users).toHaveLength(2);
    expect(p1.body.total_count).toBe(3);
    expect(p1.body.has_more).toBe(true);
    const p2 = await search(tag, "&limit=2&offset=2");
    expect(p2.body.users).toHaveLength(1);
    expect(p2.body.has_more).toBe(false);
    const all = [...p1.body.users, ...p2.body.users].map((u: any) => u.user_id);
    expect(new Set(all).size).toBe(3);
  });

  test("a bad limit → 400 naming limit; above 100 is treated as 100", async () => {
    for (const bad of ["abc", "0", "-1", "2.5", "1e2", " "]) {
      const e = expectError(await search(tag, `&limit=${encodeURIComponent(bad)}`), 400, "VALIDATION_ERROR");
      expect(e.details.map((d: any) => d.field)).toEqual(["limit"]);
    }
    const capped = await search(tag, "&limit=500");
    expect(capped.status).toBe(200);
    expect(capped.body.users).toHaveLength(3);
  });

  test("limit 500 returns at most 100", async () => {
    const many = `m${uniq()}`.slice(0, 10);
    for (let i = 0; i < 105; i++) {
      // Straight through the service: 105 HTTP registrations would be slow for nothing.
      await s.server.core.users.createUser({ email: `${many}${i}@example.test`, username: `${many}_${i}`, first_name: "M", last_name: "N", password: null });
    }
    const r = await search(many, "&limit=500");
    expect(r.status).toBe(200);
    expect(r.body.users).toHaveLength(100);
    expect(r.body.total_count).toBe(105);
    expect(r.body.has_more).toBe(true);
  });

  test("a bad offset → 400 naming offset", async () => {
    const e = expectError(await search(tag, "&offset=-1"), 400, "VALIDATION_ERROR");
    expect(e.details.map((d: any) => d.field)).toEqual(["offset"]);
  });

  test("missing, empty or over-long q → 400 naming q", async () => {
    for (const path of ["/api/v1/users/search", "/api/v1/users/search?q=", "/api/v1/users/search?q=%20%20", `/api/v1/users/search?q=${"a".repeat(65)}`]) {
      const e = expectError(await s.get(path, viewer.token), 400, "VALIDATION_ERROR");
      expect(e.details.map((d: any) => d.field)).toContain("q");
    }
  });

  test("LIKE wildcards in q match literally", async () => {
    const w = `w${uniq()}`.slice(0, 10);
    const underscore = await s.register({ username: `${w}_x` });
    const letter = await s.register({ username: `${w}ax` });
    const percent = await s.register({ first_name: `${w}%pct` });
    const backslash = await s.register({ first_name: `${w}\\slash` });

    const ids = async (q: string) => (await search(q)).body.users.map((u: any) => u.user_id).sort();
    expect(await ids(`${w}_`)).toEqual([underscore.user_id]);
    expect(await ids(`${w}%`)).toEqual([percent.user_id]);
    expect(await ids(`${w}\\`)).toEqual([backslash.user_id]);
    expect(await ids(`${w}a`)).toEqual([letter.user_id]);
    // A bare wildcard matches nobody whose name does not start with it.
    const pct = await search("%");
    expect(pct.status).toBe(200);
    expect(pct.body.users.map((u: any) => u.user_id)).not.toContain(viewer.user_id);
  });

  test("disabled users are not found", async () => {
    const d = `d${uniq()}`.slice(0, 10);
    const gone = await s.register({ username: `${d}_gone` });
    s.server.core.users.setDisabled(gone.user_id, true);
    expect((await search(d)).body).toEqual({ users: [], total_count: 0, has_more: false });
  });

  test("needs a token", async () => {
    expectError(await s.get(`/api/v1/users/search?q=${tag}`), 401, "AUTH_REQUIRED");
  });
});

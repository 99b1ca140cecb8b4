/** Conversations end to end: create, list, get, update, participants (CONTRACT §2, §3, §7). */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { expectError, ok, startTestServer, type Res, type TestServer, type TestUser } from "./harness";

let s: TestServer;
let alice: TestUser;
let bob: TestUser;
let carol: TestUser;
let dave: TestUser;
let outsider: TestUser;

beforeAll(async () => {
  s = await startTestServer({ registration: "open" });
  [alice, bob, carol, dave, outsider] = await Promise.all([
    s.register({ first_name: "Alice", last_name: "Archer" }),
    s.register({ first_name: "Bob", last_name: "Baker" }),
    s.register({ first_name: "Carol", last_name: "Cook" }),
    s.register({ first_name: "Dave", last_name: "Diver" }),
    s.register({ first_name: "Olga", last_name: "Outside" }),
  ]);
});
afterAll(async () => {
  await s?.stop();
});

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$/;

async function group(owner: TestUser, others: TestUser[], extra: Record<string, unknown> = {}): Promise<any> {
  const r = await s.post("/api/v1/conversations", owner.token, {
    conversation_type: "group",
    title: "Team",
    participant_ids: others.map((u) => u.user_id),
    ...extra,
  });
  return ok(r, 201);
}

async function send(u: TestUser, conversationId: number, content: string): Promise<any> {
  return ok(await s.post(`/api/v1/conversations/${conversationId}/messages`, u.token, { message_type: "text", content }), 201);
}

async function listAll(u: TestUser): Promise<any[]> {
  return ok(await s.get("/api/v1/conversations?limit=100", u.token)).conversations;
}

/** The field names of a VALIDATION_ERROR. */
function fieldsOf(r: Res): string[] {
  return expectError(r, 400, "VALIDATION_ERROR").details.map((d: any) => d.field);
}

function expectConversationShape(c: any) {
  expect(Object.keys(c).sort()).toEqual(
    [
      "conversation_id",
      "conversation_type",
      "created_at",
      "created_by",
      "description",
      "last_message",
      "last_read_message_id",
      "participants",
      "title",
      "unread_count",
      "updated_at",
    ].sort(),
  );
  expect(Number.isInteger(c.conversation_id)).toBe(true);
  expect(["direct", "group"]).toContain(c.conversation_type);
  expect(c.created_at).toMatch(ISO);
  expect(c.updated_at).toMatch(ISO);
  expect(Number.isInteger(c.unread_count)).toBe(true);
  for (const p of c.participants) {
    expect(Number.isInteger(p.user_id)).toBe(true);
    expect(typeof p.first_name).toBe("string");
    expect(typeof p.last_name).toBe("string");
    expect(p).toHaveProperty("profile_picture_url");
    expect(["admin", "member"]).toContain(p.role);
    expect(p.joined_at).toMatch(ISO);
    for (const k of ["email", "password_hash", "disabled"]) expect(p).not.toHaveProperty(k);
  }
}

describe("POST /conversations: direct", () => {
  test("201 the first time; 200 with the same conversation after that, from either side", async () => {
    const [x, y] = await Promise.all([s.register(), s.register()]);
    const first = await s.post("/api/v1/conversations", x.token, { conversation_type: "direct", participant_ids: [y.user_id] });
    const c = ok(first, 201);
    expectConversationShape(c);
    expect(c).toMatchObject({ conversation_type: "direct", title: null, description: null, created_by: x.user_id, last_message: null, unread_count: 0 });
    expect(c.participants.map((p: any) => p.user_id).sort()).toEqual([x.user_id, y.user_id].sort());

    const again = ok(await s.post("/api/v1/conversations", x.token, { conversation_type: "direct", participant_ids: [y.user_id] }), 200);
    expect(again.conversation_id).toBe(c.conversation_id);
    // The caller listed too, or the other side asking: still the same pair.
    const mirrored = ok(await s.post("/api/v1/conversations", y.token, { conversation_type: "direct", participant_ids: [x.user_id, y.user_id] }), 200);
    expect(mirrored.conversation_id).toBe(c.conversation_id);
    expect((await listAll(x)).filter((l) => l.conversation_type === "direct")).toHaveLength(1);
  });

  test("two direct creations racing for one pair make one conversation", async () => {
    const [x, y] = await Promise.all([s.register(), s.register()]);
    const rs = await Promise.all([
      s.post("/api/v1/conversations", x.token, { conversation_type: "direct", participant_ids: [y.user_id] }),
      s.post("/api/v1/conversations", y.token, { conversation_type: "direct", participant_ids: [x.user_id] }),
      s.post("/api/v1/conversations", x.token, { conversation_type: "direct", participant_ids: [y.user_id] }),
    ]);
    expect(rs.map((r) => r.status).sort()).toEqual([200, 200, 201]);
    expect(new Set(rs.map((r) => r.body.conversation_id)).size).toBe(1);
  });

  test("with two others, with a title or description, with only yourself or nobody → 400", async () => {
    expect(fieldsOf(await s.post("/api/v1/conversations", alice.token, { conversation_type: "direct", participant_ids: [bob.user_id, carol.user_id] }))).toEqual([
      "participant_ids",
    ]);
    expect(fieldsOf(await s.post("/api/v1/conversations", alice.token, { conversation_type: "direct", participant_ids: [bob.user_id], title: "Hi" }))).toEqual(["title"]);
    expect(fieldsOf(await s.post("/api/v1/conversations", alice.token, { conversation_type: "direct", participant_ids: [bob.user_id], description: "d" }))).toEqual([
      "description",
    ]);
    expect(fieldsOf(await s.post("/api/v1/conversations", alice.token, { conversation_type: "direct", participant_ids: [alice.user_id] }))).toEqual(["participant_ids"]);
    expect(fieldsOf(await s.post("/api/v1/conversations", alice.token, { conversation_type: "direct", participant_ids: [] }))).toEqual(["participant_ids"]);
  });
});

describe("POST /conversations: group and validation", () => {
  test("group: the creator is admin, the others members; description null when unset; created_by", async () => {
    const c = await group(alice, [bob, carol]);
    expectConversationShape(c);
    expect(c).toMatchObject({ conversation_type: "group", title: "Team", description: null, created_by: alice.user_id, last_message: null, unread_count: 0 });
    const roles = Object.fromEntries(c.participants.map((p: any) => [p.user_id, p.role]));
    expect(roles).toEqual({ [alice.user_id]: "admin", [bob.user_id]: "member", [carol.user_id]: "member" });
    const names = c.participants.find((p: any) => p.user_id === bob.user_id);
    expect(names).toMatchObject({ first_name: "Bob", last_name: "Baker", profile_picture_url: null });

    const described = await group(alice, [bob], { description: "  Plans for Q3  " });
    expect(described.description).toBe("Plans for Q3");
  });

  test("the caller is always a participant, even when not listed; duplicates collapse", async () => {
    const c = await group(bob, [carol, carol, bob]);
    expect(c.participants.map((p: any) => p.user_id).sort()).toEqual([bob.user_id, carol.user_id].sort());
  });

  test("an unknown or malformed participant id → 400 participant_ids", async () => {
    expect(fieldsOf(await s.post("/api/v1/conversations", alice.token, { conversation_type: "group", title: "x", participant_ids: [bob.user_id, 987654] }))).toEqual([
      "participant_ids",
    ]);
    expect(fieldsOf(await s.post("/api/v1/conversations", alice.token, { conversation_type: "direct", participant_ids: [987654] }))).toEqual(["participant_ids"]);
    const r = await s.post("/api/v1/conversations", alice.token, { conversation_type: "group", participant_ids: ["two"] });
    expect(fieldsOf(r)[0]).toStartWith("participant_ids");
  });

  test("an unknown conversation_type → 400 naming conversation_type; a missing body field too", async () => {
    expect(fieldsOf(await s.post("/api/v1/conversations", alice.token, { conversation_type: "channel", participant_ids: [bob.user_id] }))).toContain(
      "conversation_type",
    );
    expect(fieldsOf(await s.post("/api/v1/conversations", alice.token, { participant_ids: [bob.user_id] }))).toContain("conversation_type");
    expect(fieldsOf(await s.post("/api/v1/conversations", alice.token, { conversation_type: "group" }))).toContain("participant_ids");
    expect(fieldsOf(await s.post("/api/v1/conversations", alice.token, { conversation_type: "group", participant_ids: [], title: "t".repeat(101) }))).toContain("title");
  });

  test("not JSON → 400 INVALID_JSON; no token → 401", async () => {
    expectError(await s.post("/api/v1/conversations", alice.token, "{nope"), 400, "INVALID_JSON");
    expectError(await s.post("/api/v1/conversations", null, { conversation_type: "group", participant_ids: [] }), 401, "AUTH_REQUIRED");
    expectError(await s.get("/api/v1/conversations"), 401, "AUTH_REQUIRED");
  });
});

describe("GET /conversations", () => {
  test("item shape: participants, last_message, unread_count, last_read_message_id, updated_at", async () => {
    const [x, y] = await Promise.all([s.register({ first_name: "Xena", last_name: "Xu" }), s.register({ first_name: "Yan", last_name: "Yu" })]);
    const c = ok(await s.post("/api/v1/conversations", x.token, { conversation_type: "direct", participant_ids: [y.user_id] }), 201);
    const m1 = await send(x, c.conversation_id, "hello");
    const m2 = await send(y, c.conversation_id, "hi back");
    const [item] = await listAll(x);
    expectConversationShape(item);
    expect(item.conversation_id).toBe(c.conversation_id);
    expect(item.last_message).toEqual({
      message_id: m2.message_id,
      sender_id: y.user_id,
      content: "hi back",
      created_at: m2.created_at,
      message_type: "text",
      deleted: false,
    });
    // x has read their own message, not y's.
    expect(item.unread_count).toBe(1);
    expect(item.last_read_message_id).toBe(m1.message_id);
    expect(item.updated_at).toBe(m2.created_at);
    const yi = item.participants.find((p: any) => p.user_id === y.user_id);
    expect(yi).toMatchObject({ first_name: "Yan", last_name: "Yu", profile_picture_url: null });
    // GET one is the list item.
    expect(ok(await s.get(`/api/v1/conversations/${c.conversation_id}`, x.token))).toEqual(item);
  });

  test("latest activity first: a new message moves its conversation to the top", async () => {
    const u = await s.register();
    const a = await group(u, [bob], { title: "A" });
    const b = await group(u, [bob], { title: "B" });
    const c = await group(u, [bob], { title: "C" });
    expect((await listAll(u)).map((x) => x.title)).toEqual(["C", "B", "A"]);
    // Activity is kept in milliseconds (ties go to the newer conversation): step past each one.
    await Bun.sleep(2);
    await send(bob, a.conversation_id, "bump");
    expect((await listAll(u)).map((x) => x.title)).toEqual(["A", "C", "B"]);
    await Bun.sleep(2);
    await send(u, b.conversation_id, "bump");
    expect((await listAll(u)).map((x) => x.title)).toEqual(["B", "A", "C"]);
    // Being added to a conversation is activity too.
    await Bun.sleep(2);
    const d = await group(bob, [], { title: "D" });
    ok(await s.post(`/api/v1/conversations/${d.conversation_id}/participants`, bob.token, { action: "add", user_ids: [u.user_id] }));
    expect((await listAll(u)).map((x) => x.title)).toEqual(["D", "B", "A", "C"]);
    void c;
  });

  test("keyset paging through 30 conversations with limit 7: no gap, no duplicate", async () => {
    const u = await s.register();
    // Created concurrently, so many share a millisecond: the cursor must break ties.
    const made = await Promise.all(Array.from({ length: 30 }, (_, i) => group(u, [], { title: `p${i}` })));
    const expected = (await listAll(u)).map((c) => c.conversation_id);
    expect(expected.sort()).toEqual(made.map((c) => c.conversation_id).sort());

    const seen: number[] = [];
    const sizes: number[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 10; page++) {
      const r: any = ok(await s.get(`/api/v1/conversations?limit=7${cursor ? `&cursor=${cursor}` : ""}`, u.token));
      sizes.push(r.conversations.length);
      seen.push(...r.conversations.map((c: any) => c.conversation_id));
      expect(r.has_more).toBe(r.next_cursor !== null);
      if (!r.has_more) break;
      cursor = r.next_cursor;
    }
    expect(sizes).toEqual([7, 7, 7, 7, 2]);
    expect(new Set(seen).size).toBe(30);
    expect(seen).toEqual(ok(await s.get("/api/v1/conversations?limit=100", u.token)).conversations.map((c: any) => c.conversation_id));
  });

  test("limit: 0, -1, abc, 2.5 → 400 naming limit; above 100 is treated as 100", async () => {
    for (const bad of ["0", "-1", "abc", "2.5", "1e2"]) {
      expect(fieldsOf(await s.get(`/api/v1/conversations?limit=${bad}`, alice.token))).toEqual(["limit"]);
    }
    expect(ok(await s.get("/api/v1/conversations?limit=100000", alice.token)).conversations.length).toBeLessThanOrEqual(100);
  });

  test("a cursor that is not one of ours → 400 naming cursor", async () => {
    const forged = Buffer.from(JSON.stringify({ a: "yesterday", i: 1 })).toString("base64url");
    for (const bad of ["!!!", "abc", forged, Buffer.from("null").toString("base64url"), Buffer.from("[1,2]").toString("base64url")]) {
      expect(fieldsOf(await s.get(`/api/v1/conversations?cursor=${encodeURIComponent(bad)}`, alice.token))).toEqual(["cursor"]);
    }
  });
});

describe("GET /conversations/{id}", () => {
  test("participant 200; non-participant 404; unknown 404; non-numeric 400", async () => {
    const c = await group(alice, [bob]);
    const got = ok(await s.get(`/api/v1/conversations/${c.conversation_id}`, bob.token));
    expectConversationShape(got);
    expect(got.conversation_id).toBe(c.conversation_id);
    expectError(await s.get(`/api/v1/conversations/${c.conversation_id}`, outsider.token), 404, "NOT_FOUND");
    expectError(await s.get("/api/v1/conversations/99999999", alice.token), 404, "NOT_FOUND");
    for (const bad of ["abc", "0", "-3", "1.5"]) expect(fieldsOf(await s.get(`/api/v1/conversations/${bad}`, alice.token))).toEqual(["conversation_id"]);
  });
});

describe("PUT /conversations/{id}", () => {
  test("admin changes title and description; member 403; non-participant 404; direct 400", async () => {
    const c = await group(alice, [bob], { description: "old" });
    const up = ok(await s.put(`/api/v1/conversations/${c.conversation_id}`, alice.token, { title: "New title", description: "New description" }));
    expectConversationShape(up);
    expect(up).toMatchObject({ title: "New title", description: "New description" });
    // Only the fields given change; null clears.
    expect(ok(await s.put(`/api/v1/conversations/${c.conversation_id}`, alice.token, { description: null }))).toMatchObject({
      title: "New title",
      description: null,
    });
    expect(ok(await s.get(`/api/v1/conversations/${c.conversation_id}`, bob.token))).toMatchObject({ title: "New title", description: null });

    expectError(await s.put(`/api/v1/conversations/${c.conversation_id}`, bob.token, { title: "Mine now" }), 403, "FORBIDDEN");
    expectError(await s.put(`/api/v1/conversations/${c.conversation_id}`, outsider.token, { title: "x" }), 404, "NOT_FOUND");
    expect(fieldsOf(await s.put(`/api/v1/conversations/${c.conversation_id}`, alice.token, { title: "t".repeat(101) }))).toEqual(["title"]);
    expect(ok(await s.get(`/api/v1/conversations/${c.conversation_id}`, alice.token)).title).toBe("New title");

    const [x, y] = await Promise.all([s.register(), s.register()]);
    const d = ok(await s.post("/api/v1/conversations", x.token, { conversation_type: "direct", participant_ids: [y.user_id] }), 201);
    expectError(await s.put(`/api/v1/conversations/${d.conversation_id}`, x.token, { title: "x" }), 400, "VALIDATION_ERROR");
  });
});

describe("POST /conversations/{id}/participants", () => {
  test("admin adds: 200 with added_participants; existing members are not added again", async () => {
    const c = await group(alice, [bob]);
    const r = ok(await s.post(`/api/v1/conversations/${c.conversation_id}/participants`, alice.token, { action: "add", user_ids: [carol.user_id, bob.user_id] }));
    expect(r.success).toBe(true);
    expect(r.added_participants).toHaveLength(1);
    const added = r.added_participants[0];
    expect(added).toMatchObject({ user_id: carol.user_id, first_name: "Carol", last_name: "Cook" });
    expect(added.joined_at).toMatch(ISO);
    const again = ok(await s.post(`/api/v1/conversations/${c.conversation_id}/participants`, alice.token, { action: "add", user_ids: [carol.user_id, alice.user_id] }));
    expect(again.added_participants).toEqual([]);
    const got = ok(await s.get(`/api/v1/conversations/${c.conversation_id}`, alice.token));
    expect(got.participants.map((p: any) => p.user_id).sort()).toEqual([alice.user_id, bob.user_id, carol.user_id].sort());
  });

  test("member adding → 403; non-participant → 404; unknown user → 400 user_ids; bad action → 400; direct → 400", async () => {
    const c = await group(alice, [bob]);
    const path = `/api/v1/conversations/${c.conversation_id}/participants`;
    expectError(await s.post(path, bob.token, { action: "add", user_ids: [carol.user_id] }), 403, "FORBIDDEN");
    expectError(await s.post(path, outsider.token, { action: "add", user_ids: [outsider.user_id] }), 404, "NOT_FOUND");
    expect(fieldsOf(await s.post(path, alice.token, { action: "add", user_ids: [987654] }))).toEqual(["user_ids"]);
    expect(fieldsOf(await s.post(path, alice.token, { action: "kick", user_ids: [bob.user_id] }))).toContain("action");
    expect(fieldsOf(await s.post(path, alice.token, { action: "add", user_ids: [] }))).toContain("user_ids");
    expect(ok(await s.get(`/api/v1/conversations/${c.conversation_id}`, alice.token)).participants).toHaveLength(2);

    const [x, y] = await Promise.all([s.register(), s.register()]);
    const d = ok(await s.post("/api/v1/conversations", x.token, { conversation_type: "direct", participant_ids: [y.user_id] }), 201);
    expectError(await s.post(`/api/v1/conversations/${d.conversation_id}/participants`, x.token, { action: "add", user_ids: [alice.user_id] }), 400, "VALIDATION_ERROR");
    expectError(await s.post(`/api/v1/conversations/${d.conversation_id}/participants`, x.token, { action: "remove", user_ids: [x.user_id] }), 400, "VALIDATION_ERROR");
  });

  test("someone added later starts with nothing unread", async () => {
    const c = await group(alice, [bob]);
    await send(bob, c.conversation_id, "before dave");
    await send(bob, c.conversation_id, "still before dave");
    ok(await s.post(`/api/v1/conversations/${c.conversation_id}/participants`, alice.token, { action: "add", user_ids: [dave.user_id] }));
    expect(ok(await s.get(`/api/v1/conversations/${c.conversation_id}`, dave.token)).unread_count).toBe(0);
    await send(bob, c.conversation_id, "after dave");
    expect(ok(await s.get(`/api/v1/conversations/${c.conversation_id}`, dave.token)).unread_count).toBe(1);
  });

  test("admin removes a member: that member gets 404 on the conversation, its history and sending", async () => {
    const c = await group(alice, [bob, carol]);
    const id = c.conversation_id;
    await send(bob, id, "bob was here");
    const r = ok(await s.post(`/api/v1/conversations/${id}/participants`, alice.token, { action: "remove", user_ids: [bob.user_id] }));
    expect(r).toEqual({ success: true, removed_participants: [bob.user_id] });
    expectError(await s.get(`/api/v1/conversations/${id}`, bob.token), 404, "NOT_FOUND");
    expectError(await s.get(`/api/v1/conversations/${id}/messages`, bob.token), 404, "NOT_FOUND");
    expectError(await s.post(`/api/v1/conversations/${id}/messages`, bob.token, { message_type: "text", content: "let me back" }), 404, "NOT_FOUND");
    expect((await listAll(bob)).map((x) => x.conversation_id)).not.toContain(id);
    expect(ok(await s.get(`/api/v1/conversations/${id}`, alice.token)).participants.map((p: any) => p.user_id).sort()).toEqual(
      [alice.user_id, carol.user_id].sort(),
    );
    // Removing someone who is not there removes nothing.
    expect(ok(await s.post(`/api/v1/conversations/${id}/participants`, alice.token, { action: "remove", user_ids: [bob.user_id] })).removed_participants).toEqual([]);
  });

  test("a member removing another → 403; anyone may leave", async () => {
    const c = await group(alice, [bob, carol]);
    const path = `/api/v1/conversations/${c.conversation_id}/participants`;
    expectError(await s.post(path, bob.token, { action: "remove", user_ids: [carol.user_id] }), 403, "FORBIDDEN");
    expectError(await s.post(path, bob.token, { action: "remove", user_ids: [bob.user_id, carol.user_id] }), 403, "FORBIDDEN");
    expect(ok(await s.post(path, carol.token, { action: "remove", user_ids: [carol.user_id] }))).toEqual({ success: true, removed_participants: [carol.user_id] });
    expectError(await s.get(`/api/v1/conversations/${c.conversation_id}`, carol.token), 404, "NOT_FOUND");
    expectError(await s.post(path, carol.token, { action: "remove", user_ids: [carol.user_id] }), 404, "NOT_FOUND");
  });

  test("the last admin leaving promotes the longest-standing member", async () => {
    const c = await group(alice, [bob]);
    const path = `/api/v1/conversations/${c.conversation_id}/participants`;
    await Bun.sleep(3); // carol joins strictly later than bob, whatever their user ids
    ok(await s.post(path, alice.token, { action: "add", user_ids: [carol.user_id] }));
    ok(await s.post(path, alice.token, { action: "remove", user_ids: [alice.user_id] }));
    const got = ok(await s.get(`/api/v1/conversations/${c.conversation_id}`, bob.token));
    expect(Object.fromEntries(got.participants.map((p: any) => [p.user_id, p.role]))).toEqual({ [bob.user_id]: "admin", [carol.user_id]: "member" });
    // The new admin can act as one.
    ok(await s.put(`/api/v1/conversations/${c.conversation_id}`, bob.token, { title: "Bob's now" }));
    ok(await s.post(path, bob.token, { action: "add", user_ids: [dave.user_id] }));
  });

  test("rights are checked in the write itself: an admin who leaves cannot still add, remove or rename in the same batch", async () => {
    const c = await group(alice, [bob, carol]);
    const id = c.conversation_id;
    const svc = s.server.core.conversations;
    // Called in one tick, so they share one write batch, the leave first.
    const [left, add, remove, rename] = await Promise.allSettled([
      svc.removeParticipants(alice.user_id, id, [alice.user_id]),
      svc.addParticipants(alice.user_id, id, [dave.user_id]),
      svc.removeParticipants(alice.user_id, id, [carol.user_id]),
      svc.update(alice.user_id, id, { title: "renamed by a leaver" }),
    ]);
    expect(left).toEqual({ status: "fulfilled", value: [alice.user_id] });
    for (const r of [add, remove, rename]) expect(r).toMatchObject({ status: "rejected", reason: { code: "NOT_FOUND" } });
    const got = ok(await s.get(`/api/v1/conversations/${id}`, bob.token));
    expect(got.title).toBe("Team");
    // bob and carol joined in the same millisecond: either may have been promoted, but one was.
    expect(got.participants.map((p: any) => p.user_id).sort()).toEqual([bob.user_id, carol.user_id].sort());
    expect(got.participants.filter((p: any) => p.role === "admin")).toHaveLength(1);
  });

  test("users who left keep no access to later messages", async () => {
    const c = await group(alice, [bob, carol]);
    const id = c.conversation_id;
    await send(alice, id, "before carol left: pelican");
    ok(await s.post(`/api/v1/conversations/${id}/participants`, carol.token, { action: "remove", user_ids: [carol.user_id] }));
    const later = await send(alice, id, "after carol left: flamingo");
    expectError(await s.get(`/api/v1/conversations/${id}/messages`, carol.token), 404, "NOT_FOUND");
    expectError(await s.get(`/api/v1/conversations/${id}/messages?after=${later.message_id}`, carol.token), 404, "NOT_FOUND");
    expect(ok(await s.get("/api/v1/messages/search?q=flamingo", carol.token)).messages).toEqual([]);
    expectError(await s.get(`/api/v1/messages/search?q=flamingo&conversation_id=${id}`, carol.token), 404, "NOT_FOUND");
    expectError(await s.post(`/api/v1/messages/${later.message_id}/reactions`, carol.token, { emoji: "👍" }), 403, "FORBIDDEN");
    expectError(await s.post(`/api/v1/conversations/${id}/read`, carol.token, { message_id: later.message_id }), 404, "NOT_FOUND");
    expect((await listAll(carol)).map((x) => x.conversation_id)).not.toContain(id);
    // Those who stayed still see everything.
    expect(ok(await s.get("/api/v1/messages/search?q=flamingo", bob.token)).messages.map((m: any) => m.message_id)).toEqual([later.message_id]);
  });
});

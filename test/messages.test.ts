/**
 * Messages end to end (CONTRACT §2, §3, §7): send and idempotent resend, validation, edit and
 * delete (tombstones), reactions, read markers and unread counts, delivery status from
 * receipts, history paging both ways, and full-text search.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { expectError, ok, startTestServer, type Res, type TestServer, type TestUser } from "./harness";
import { SEARCH_WINDOW } from "../src/messages/store";
import { MIN_PREFIX_LENGTH } from "../src/messages/service";

let s: TestServer;
let alice: TestUser;
let bob: TestUser;
let carol: TestUser;
let outsider: TestUser;
/** alice (admin), bob, carol. */
let trio: number;

beforeAll(async () => {
  s = await startTestServer({ registration: "open" });
  // One after another, so user ids ascend in this order (reactions list users by time, then id).
  alice = await s.register();
  bob = await s.register();
  carol = await s.register();
  outsider = await s.register();
  trio = (await group(alice, [bob, carol])).conversation_id;
});
afterAll(async () => {
  await s?.stop();
});

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$/;
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const NIL_UUID = "00000000-0000-7000-8000-000000000000";

function fieldsOf(r: Res): string[] {
  return expectError(r, 400, "VALIDATION_ERROR").details.map((d: any) => d.field);
}

async function group(owner: TestUser, others: TestUser[]): Promise<any> {
  return ok(await s.post("/api/v1/conversations", owner.token, { conversation_type: "group", title: "g", participant_ids: others.map((u) => u.user_id) }), 201);
}

function sendRaw(u: TestUser, conversationId: number, body: Record<string, unknown>): Promise<Res> {
  return s.post(`/api/v1/conversations/${conversationId}/messages`, u.token, body);
}

async function send(u: TestUser, conversationId: number, content: string, extra: Record<string, unknown> = {}): Promise<any> {
  return ok(await sendRaw(u, conversationId, { message_type: "text", content, ...extra }), 201);
}

async function history(u: TestUser, conversationId: number, query = ""): Promise<any> {
  return ok(await s.get(`/api/v1/conversations/${conversationId}/messages${query}`, u.token));
}

/** One message as `u` sees it in the history. */
async function seen(u: TestUser, conversationId: number, messageId: string): Promise<any> {
  const all = (await history(u, conversationId, "?limit=100")).messages;
  return all.find((m: any) => m.message_id === messageId);
}

async function conversation(u: TestUser, id: number): Promise<any> {
  return ok(await s.get(`/api/v1/conversations/${id}`, u.token));
}

async function search(u: TestUser, q: string, extra = ""): Promise<string[]> {
  return ok(await s.get(`/api/v1/messages/search?q=${encodeURIComponent(q)}${extra}`, u.token)).messages.map((m: any) => m.message_id);
}

describe("send", () => {
  test("201 with the message: UUIDv7 id, delivery_status sent, client_message_id echoed", async () => {
    const before = Date.now();
    const r = await sendRaw(alice, trio, { message_type: "text", content: "Hello everyone!", client_message_id: "c-shape-1" });
    const m = ok(r, 201);
    expect(m.message_id).toMatch(UUID_V7);
    // A UUIDv7 starts with its creation time in milliseconds.
    const ms = parseInt(m.message_id.replace(/-/g, "").slice(0, 12), 16);
    expect(ms).toBeGreaterThanOrEqual(before - 5);
    expect(ms).toBeLessThanOrEqual(Date.now() + 5);
    expect(m).toMatchObject({
      conversation_id: trio,
      sender_id: alice.user_id,
      message_type: "text",
      content: "Hello everyone!",
      delivery_status: "sent",
      client_message_id: "c-shape-1",
      reply_to_message_id: null,
      reactions: {},
      media_attachments: [],
      deleted: false,
    });
    expect(m.created_at).toMatch(ISO);
    expect(Date.parse(m.created_at)).toBe(ms);
    // History shows the same message.
    const h = await seen(bob, trio, m.message_id);
    expect(h).toMatchObject({ message_id: m.message_id, content: "Hello everyone!", sender_id: alice.user_id, created_at: m.created_at });
  });

  test("ids sort by time", async () => {
    const a = await send(alice, trio, "first");
    const b = await send(bob, trio, "second");
    const c = await send(alice, trio, "third");
    expect([c.message_id, a.message_id, b.message_id].sort()).toEqual([a.message_id, b.message_id, c.message_id]);
  });

  test("a resend with the same client_message_id → 200 with the original; nothing new in history", async () => {
    const c = await group(alice, [bob]);
    const first = await send(alice, c.conversation_id, "once", { client_message_id: "dup-1" });
    const again = ok(await sendRaw(alice, c.conversation_id, { message_type: "text", content: "once (retry)", client_message_id: "dup-1" }), 200);
    expect(again).toEqual(first);
    // The same id from another sender, or in another conversation, is another message.
    const bobs = await send(bob, c.conversation_id, "bob's", { client_message_id: "dup-1" });
    expect(bobs.message_id).not.toBe(first.message_id);
    const elsewhere = await send(alice, trio, "elsewhere", { client_message_id: "dup-1" });
    expect(elsewhere.message_id).not.toBe(first.message_id);
    const h = (await history(alice, c.conversation_id)).messages;
    expect(h.map((m: any) => m.content)).toEqual(["bob's", "once"]);
    // bob's message is alice's one unread; the retry counted nothing.
    expect((await conversation(alice, c.conversation_id)).unread_count).toBe(1);
  });

  test("concurrent resends of one client_message_id make one message", async () => {
    const c = await group(alice, [bob]);
    const rs = await Promise.all(
      Array.from({ length: 8 }, () => sendRaw(alice, c.conversation_id, { message_type: "text", content: "racing", client_message_id: "race-1" })),
    );
    expect(rs.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 201]);
    expect(new Set(rs.map((r) => r.body.message_id)).size).toBe(1);
    expect((await history(bob, c.conversation_id)).messages).toHaveLength(1);
  });

  test("content: 10,000 characters is fine, 10,001 → 400 naming content; empty or blank text → 400", async () => {
    ok(await sendRaw(alice, trio, { message_type: "text", content: "x".repeat(10_000) }), 201);
    // Characters, not UTF-16 units: 10,000 emoji are 10,000 characters.
    ok(await sendRaw(alice, trio, { message_type: "text", content: "🙂".repeat(10_000) }), 201);
    expect(fieldsOf(await sendRaw(alice, trio, { message_type: "text", content: "x".repeat(10_001) }))).toEqual(["content"]);
    expect(fieldsOf(await sendRaw(alice, trio, { message_type: "text", content: "🙂".repeat(10_001) }))).toEqual(["content"]);
    for (const content of ["", "   ", "\n\t ", null]) expect(fieldsOf(await sendRaw(alice, trio, { message_type: "text", content }))).toEqual(["content"]);
    expect(fieldsOf(await sendRaw(alice, trio, { message_type: "text" }))).toEqual(["content"]);
  });

  test("unknown message_type → 400 naming message_type; media without attachments → 400", async () => {
    expect(fieldsOf(await sendRaw(alice, trio, { message_type: "sticker", content: "hi" }))).toContain("message_type");
    expect(fieldsOf(await sendRaw(alice, trio, { content: "hi" }))).toContain("message_type");
    // An image message with no image is not a message.
    expect(fieldsOf(await sendRaw(alice, trio, { message_type: "image" }))).toEqual(["media_attachments"]);
    expect(fieldsOf(await sendRaw(alice, trio, { message_type: "file", content: "caption only", media_attachments: [] }))).toEqual(["media_attachments"]);
  });

  test("media_attachments naming an unknown file_id → 400 media_attachments", async () => {
    const r = await sendRaw(alice, trio, { message_type: "image", content: "look", media_attachments: [{ file_id: crypto.randomUUID() }] });
    expect(fieldsOf(r)).toEqual(["media_attachments"]);
  });

  test("reply_to_message_id: kept on the reply; from another conversation, unknown or malformed → 400", async () => {
    const target = await send(bob, trio, "question?");
    const reply = await send(alice, trio, "answer", { reply_to_message_id: target.message_id });
    expect(reply.reply_to_message_id).toBe(target.message_id);
    const other = await group(alice, [bob]);
    const foreign = await send(alice, other.conversation_id, "elsewhere");
    for (const bad of [foreign.message_id, NIL_UUID, "not-an-id"]) {
      expect(fieldsOf(await sendRaw(alice, trio, { message_type: "text", content: "x", reply_to_message_id: bad }))).toEqual(["reply_to_message_id"]);
    }
  });

  test("non-participant send or history → 404; unknown conversation → 404; bad id → 400", async () => {
    expectError(await sendRaw(outsider, trio, { message_type: "text", content: "let me in" }), 404, "NOT_FOUND");
    expectError(await s.get(`/api/v1/conversations/${trio}/messages`, outsider.token), 404, "NOT_FOUND");
    expectError(await sendRaw(alice, 99999999, { message_type: "text", content: "anyone?" }), 404, "NOT_FOUND");
    expectError(await s.get("/api/v1/conversations/99999999/messages", alice.token), 404, "NOT_FOUND");
    expect(fieldsOf(await s.get("/api/v1/conversations/abc/messages", alice.token))).toEqual(["conversation_id"]);
    expectError(await s.post(`/api/v1/conversations/${trio}/messages`, null, { message_type: "text", content: "x" }), 401, "AUTH_REQUIRED");
  });
});

describe("edit", () => {
  test("the author edits: edit_history lists earlier versions with reason and time", async () => {
    const m = await send(alice, trio, "Hello everyone!");
    const r1 = ok(await s.put(`/api/v1/messages/${m.message_id}`, alice.token, { content: "Hello everyone! (edited)", edit_reason: "typo_correction" }));
    expect(r1.success).toBe(true);
    expect(r1.message).toMatchObject({ message_id: m.message_id, content: "Hello everyone! (edited)", edited: true });
    expect(r1.message.edit_history).toHaveLength(1);
    expect(r1.message.edit_history[0]).toMatchObject({ previous_content: "Hello everyone!", edit_reason: "typo_correction" });
    expect(r1.message.edit_history[0].edited_at).toMatch(ISO);
    expect(r1.message.updated_at).toBe(r1.message.edit_history[0].edited_at);

    const r2 = ok(await s.put(`/api/v1/messages/${m.message_id}`, alice.token, { content: "Third version" }));
    expect(r2.message.edit_history.map((e: any) => [e.previous_content, e.edit_reason])).toEqual([
      ["Hello everyone!", "typo_correction"],
      ["Hello everyone! (edited)", null],
    ]);
    expect(await seen(bob, trio, m.message_id)).toMatchObject({ content: "Third version", edited: true, created_at: m.created_at });
    // Saving the same text again records no edit.
    expect(ok(await s.put(`/api/v1/messages/${m.message_id}`, alice.token, { content: "Third version" })).message.edit_history).toHaveLength(2);
  });

  test("another participant → 403; a non-participant → 403; an unknown id → 404; bad content → 400", async () => {
    const m = await send(alice, trio, "mine");
    expectError(await s.put(`/api/v1/messages/${m.message_id}`, bob.token, { content: "hijacked" }), 403, "FORBIDDEN");
    expectError(await s.put(`/api/v1/messages/${m.message_id}`, outsider.token, { content: "hijacked" }), 403, "FORBIDDEN");
    expectError(await s.put(`/api/v1/messages/${NIL_UUID}`, alice.token, { content: "x" }), 404, "NOT_FOUND");
    expectError(await s.put("/api/v1/messages/nope", alice.token, { content: "x" }), 404, "NOT_FOUND");
    expect(fieldsOf(await s.put(`/api/v1/messages/${m.message_id}`, alice.token, { content: "  " }))).toEqual(["content"]);
    expect(fieldsOf(await s.put(`/api/v1/messages/${m.message_id}`, alice.token, { content: "y".repeat(10_001) }))).toEqual(["content"]);
    expect((await seen(alice, trio, m.message_id)).content).toBe("mine");
  });
});

describe("delete", () => {
  test("the author deletes: a tombstone stays; a reply keeps pointing at it", async () => {
    const m = await send(alice, trio, "regrettable words");
    ok(await s.post(`/api/v1/messages/${m.message_id}/reactions`, bob.token, { emoji: "😮" }));
    ok(await s.put(`/api/v1/messages/${m.message_id}`, alice.token, { content: "more regrettable words" }));
    const reply = await send(bob, trio, "what?", { reply_to_message_id: m.message_id });
    expect(ok(await s.del(`/api/v1/messages/${m.message_id}`, alice.token))).toEqual({ success: true });
    const t = await seen(bob, trio, m.message_id);
    expect(t).toMatchObject({ message_id: m.message_id, deleted: true, content: null, reactions: {}, media_attachments: [], sender_id: alice.user_id });
    expect((await seen(bob, trio, reply.message_id)).reply_to_message_id).toBe(m.message_id);
    // Nothing of the text survives in the database: not the content, not earlier versions.
    const leftovers = s.server.core.db
      .query<{ n: number }, [string]>(
        `SELECT (SELECT count(*) FROM message_edits e JOIN messages m ON m.seq = e.message_seq WHERE m.id = ?1) +
                (SELECT count(*) FROM messages WHERE id = ?1 AND content IS NOT NULL) AS n`,
      )
      .get(m.message_id)!;
    expect(leftovers.n).toBe(0);
    // Deleting again is fine; editing or reacting to a tombstone is not.
    ok(await s.del(`/api/v1/messages/${m.message_id}`, alice.token));
    expectError(await s.put(`/api/v1/messages/${m.message_id}`, alice.token, { content: "undo" }), 404, "NOT_FOUND");
    expectError(await s.post(`/api/v1/messages/${m.message_id}/reactions`, bob.token, { emoji: "👍" }), 404, "NOT_FOUND");
  });

  test("another participant → 403; a non-participant → 403; unknown → 404", async () => {
    const m = await send(alice, trio, "keep me");
    expectError(await s.del(`/api/v1/messages/${m.message_id}`, bob.token), 403, "FORBIDDEN");
    expectError(await s.del(`/api/v1/messages/${m.message_id}`, outsider.token), 403, "FORBIDDEN");
    expectError(await s.del(`/api/v1/messages/${NIL_UUID}`, alice.token), 404, "NOT_FOUND");
    expect((await seen(carol, trio, m.message_id)).content).toBe("keep me");
  });

  test("erasing an account's messages leaves tombstones with no edits, reactions or search hits", async () => {
    const eraser = await s.register();
    const c = (await group(alice, [eraser, bob])).conversation_id;
    const m1 = await send(eraser, c, "erase the wombat");
    const m2 = await send(eraser, c, "and the other wombat");
    const kept = await send(bob, c, "bob's wombat stays");
    ok(await s.put(`/api/v1/messages/${m1.message_id}`, eraser.token, { content: "erase the wombat, edited" }));
    ok(await s.post(`/api/v1/messages/${m2.message_id}/reactions`, bob.token, { emoji: "👍" }));
    const core = s.server.core;
    expect(await core.writer.run(() => core.messages.eraseAllBy(eraser.user_id))).toBe(2);
    for (const id of [m1.message_id, m2.message_id]) expect(await seen(alice, c, id)).toMatchObject({ deleted: true, content: null, reactions: {} });
    const left = core.db
      .query<{ edits: number; reactions: number }, [number]>(
        `SELECT (SELECT count(*) FROM message_edits e JOIN messages m ON m.seq = e.message_seq WHERE m.sender_id = ?1) AS edits,
                (SELECT count(*) FROM reactions r JOIN messages m ON m.seq = r.message_seq WHERE m.sender_id = ?1) AS reactions`,
      )
      .get(eraser.user_id)!;
    expect(left).toEqual({ edits: 0, reactions: 0 });
    expect(await search(alice, "wombat")).toEqual([kept.message_id]);
  });

  test("a deleted message disappears from search", async () => {
    const m = await send(alice, trio, "the quokka smiles");
    expect(await search(bob, "quokka")).toEqual([m.message_id]);
    ok(await s.del(`/api/v1/messages/${m.message_id}`, alice.token));
    expect(await search(bob, "quokka")).toEqual([]);
  });
});

describe("reactions", () => {
  test("add is idempotent; one user may leave several emoji; remove takes only the caller's", async () => {
    const m = await send(alice, trio, "react to me");
    const path = `/api/v1/messages/${m.message_id}/reactions`;
    expect(ok(await s.post(path, alice.token, { emoji: "👍" }))).toEqual({ success: true, reactions: { "👍": [alice.user_id] } });
    expect(ok(await s.post(path, alice.token, { emoji: "👍" })).reactions).toEqual({ "👍": [alice.user_id] });
    ok(await s.post(path, bob.token, { emoji: "👍" }));
    ok(await s.post(path, alice.token, { emoji: "❤️" }));
    // Multi-codepoint graphemes are one emoji: a family, a flag, a skin tone.
    ok(await s.post(path, carol.token, { emoji: "👨‍👩‍👧" }));
    ok(await s.post(path, carol.token, { emoji: "🇫🇷" }));
    ok(await s.post(path, carol.token, { emoji: "👋🏽" }));
    const all = ok(await s.post(path, bob.token, { emoji: "❤️" })).reactions;
    expect(all).toEqual({
      "👍": [alice.user_id, bob.user_id],
      "❤️": [alice.user_id, bob.user_id],
      "👨‍👩‍👧": [carol.user_id],
      "🇫🇷": [carol.user_id],
      "👋🏽": [carol.user_id],
    });
    expect((await seen(carol, trio, m.message_id)).reactions).toEqual(all);

    // bob removes his 👍: alice's stays.
    const after = ok(await s.del(`${path}/${encodeURIComponent("👍")}`, bob.token)).reactions;
    expect(after["👍"]).toEqual([alice.user_id]);
    // Removing one you never left changes nothing.
    expect(ok(await s.del(`${path}/${encodeURIComponent("🇫🇷")}`, alice.token)).reactions["🇫🇷"]).toEqual([carol.user_id]);
    ok(await s.del(`${path}/${encodeURIComponent("👨‍👩‍👧")}`, carol.token));
    expect((await seen(alice, trio, m.message_id)).reactions).toEqual({
      "👍": [alice.user_id],
      "❤️": [alice.user_id, bob.user_id],
      "🇫🇷": [carol.user_id],
      "👋🏽": [carol.user_id],
    });
  });

  test("not one emoji (\"ab\", \"\", blank, too long, control) → 400 emoji", async () => {
    const m = await send(alice, trio, "strict about emoji");
    const path = `/api/v1/messages/${m.message_id}/reactions`;
    for (const emoji of ["ab", "", " ", "👍👍", "\u0007", "👍".repeat(20)]) expect(fieldsOf(await s.post(path, alice.token, { emoji }))).toContain("emoji");
    expect(fieldsOf(await s.post(path, alice.token, {}))).toContain("emoji");
    expect(fieldsOf(await s.del(`${path}/ab`, alice.token))).toEqual(["emoji"]);
    expect((await seen(alice, trio, m.message_id)).reactions).toEqual({});
  });

  test("a path emoji is decoded once: a percent sign is a value, never a 500", async () => {
    const m = await send(alice, trio, "percent");
    const path = `/api/v1/messages/${m.message_id}/reactions`;
    ok(await s.post(path, bob.token, { emoji: "%" }));
    expect(ok(await s.del(`${path}/${encodeURIComponent("%")}`, bob.token)).reactions).toEqual({});
    // "%E2" (decoded from %25E2) is three characters, and a raw malformed escape is not an emoji.
    expect(fieldsOf(await s.del(`${path}/%25E2`, bob.token))).toEqual(["emoji"]);
    const raw = await s.del(`${path}/%E2`, bob.token);
    expect(raw.status).toBeLessThan(500);
  });

  test("a non-participant → 403; an unknown message → 404", async () => {
    const m = await send(alice, trio, "private");
    expectError(await s.post(`/api/v1/messages/${m.message_id}/reactions`, outsider.token, { emoji: "👍" }), 403, "FORBIDDEN");
    expectError(await s.del(`/api/v1/messages/${m.message_id}/reactions/${encodeURIComponent("👍")}`, outsider.token), 403, "FORBIDDEN");
    expectError(await s.post(`/api/v1/messages/${NIL_UUID}/reactions`, alice.token, { emoji: "👍" }), 404, "NOT_FOUND");
    expectError(await s.del(`/api/v1/messages/${NIL_UUID}/reactions/x`, alice.token), 404, "NOT_FOUND");
  });
});

describe("read markers and unread counts", () => {
  test("others' messages after the marker are unread; one's own never are; markers never move back", async () => {
    const c = (await group(alice, [bob, carol])).conversation_id;
    const a1 = await send(alice, c, "a1");
    const a2 = await send(alice, c, "a2");
    const a3 = await send(alice, c, "a3");
    const b1 = await send(bob, c, "b1");
    const b2 = await send(bob, c, "b2");
    expect((await conversation(alice, c)).unread_count).toBe(2);
    expect((await conversation(alice, c)).last_read_message_id).toBe(a3.message_id);
    expect((await conversation(bob, c)).unread_count).toBe(0);
    expect((await conversation(carol, c)).unread_count).toBe(5);
    expect((await conversation(carol, c)).last_read_message_id).toBe(null);

    expect(ok(await s.post(`/api/v1/conversations/${c}/read`, carol.token, { message_id: a2.message_id }))).toEqual({ success: true });
    expect(await conversation(carol, c)).toMatchObject({ unread_count: 3, last_read_message_id: a2.message_id });
    // An older marker changes nothing.
    ok(await s.post(`/api/v1/conversations/${c}/read`, carol.token, { message_id: a1.message_id }));
    expect(await conversation(carol, c)).toMatchObject({ unread_count: 3, last_read_message_id: a2.message_id });
    ok(await s.post(`/api/v1/conversations/${c}/read`, carol.token, { message_id: b2.message_id }));
    expect(await conversation(carol, c)).toMatchObject({ unread_count: 0, last_read_message_id: b2.message_id });

    // A deleted message is not waiting to be read.
    const b3 = await send(bob, c, "b3");
    expect((await conversation(alice, c)).unread_count).toBe(3);
    ok(await s.del(`/api/v1/messages/${b3.message_id}`, bob.token));
    expect((await conversation(alice, c)).unread_count).toBe(2);
    // The list carries the same counts as GET one.
    const item = ok(await s.get("/api/v1/conversations?limit=100", alice.token)).conversations.find((x: any) => x.conversation_id === c);
    expect(item.unread_count).toBe(2);
    void b1;
  });

  test("marking read: unknown, malformed or foreign message → 400 message_id; non-participant → 404", async () => {
    const other = await group(alice, [bob]);
    const foreign = await send(alice, other.conversation_id, "elsewhere");
    for (const bad of [NIL_UUID, "nope", foreign.message_id]) {
      expect(fieldsOf(await s.post(`/api/v1/conversations/${trio}/read`, bob.token, { message_id: bad }))).toEqual(["message_id"]);
    }
    expect(fieldsOf(await s.post(`/api/v1/conversations/${trio}/read`, bob.token, {}))).toContain("message_id");
    const m = await send(alice, trio, "read me");
    expectError(await s.post(`/api/v1/conversations/${trio}/read`, outsider.token, { message_id: m.message_id }), 404, "NOT_FOUND");
  });
});

describe("delivery status", () => {
  test("group of 3: sent → delivered once EVERY other participant has it → read once every other read it", async () => {
    const c = (await group(alice, [bob, carol])).conversation_id;
    const m0 = await send(alice, c, "earlier");
    const m = await send(alice, c, "status?");
    expect(m.delivery_status).toBe("sent");
    const status = async (id = m.message_id) => (await seen(alice, c, id)).delivery_status;
    const messages = s.server.core.messages;

    await messages.receipt(bob.user_id, c, m.message_id, "delivered");
    expect(await status()).toBe("sent");
    await messages.receipt(carol.user_id, c, m.message_id, "delivered");
    expect(await status()).toBe("delivered");
    // Receipts are watermarks: the earlier message is delivered too.
    expect(await status(m0.message_id)).toBe("delivered");

    ok(await s.post(`/api/v1/conversations/${c}/read`, bob.token, { message_id: m.message_id }));
    expect(await status()).toBe("delivered");
    // A late "delivered" never takes a read back.
    await messages.receipt(bob.user_id, c, m0.message_id, "delivered");
    ok(await s.post(`/api/v1/conversations/${c}/read`, carol.token, { message_id: m.message_id }));
    expect(await status()).toBe("read");
    expect(await status(m0.message_id)).toBe("read");
    // Everyone sees the same aggregate.
    expect((await seen(bob, c, m.message_id)).delivery_status).toBe("read");

    // A reply from bob is already read by bob himself, but not by the others.
    const r = await send(bob, c, "reply");
    expect(r.delivery_status).toBe("sent");
    ok(await s.post(`/api/v1/conversations/${c}/read`, alice.token, { message_id: r.message_id }));
    expect((await seen(bob, c, r.message_id)).delivery_status).toBe("sent");
    await messages.receipt(carol.user_id, c, r.message_id, "delivered");
    expect((await seen(bob, c, r.message_id)).delivery_status).toBe("delivered");
  });

  test("a receipt from a non-participant is refused", async () => {
    const m = await send(alice, trio, "not yours");
    await expect(s.server.core.messages.receipt(outsider.user_id, trio, m.message_id, "delivered")).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});

describe("history paging", () => {
  let conv: number;
  let sent: string[]; // message ids, oldest first

  beforeAll(async () => {
    conv = (await group(alice, [bob])).conversation_id;
    sent = [];
    for (let i = 0; i < 120; i++) sent.push((await send(i % 3 ? alice : bob, conv, `m${i}`)).message_id);
  });

  async function walk(first: string, next: (page: any) => string): Promise<{ ids: string[]; sizes: number[] }> {
    const ids: string[] = [];
    const sizes: number[] = [];
    let query = first;
    for (let i = 0; i < 40; i++) {
      const page = await history(bob, conv, query);
      ids.push(...page.messages.map((m: any) => m.message_id));
      sizes.push(page.messages.length);
      expect(page.has_more).toBe(page.next_cursor !== null);
      if (!page.has_more) return { ids, sizes };
      query = next(page);
    }
    throw new Error("paging did not end");
  }

  test("newest first without anchors; the default limit is 50; above 100 is 100", async () => {
    const page = await history(bob, conv);
    expect(page.messages).toHaveLength(50);
    expect(page.messages.map((m: any) => m.message_id)).toEqual(sent.slice(-50).reverse());
    expect(page.has_more).toBe(true);
    expect((await history(bob, conv, "?limit=1000")).messages).toHaveLength(100);
  });

  test("backwards with next_cursor (cursor param): every message once, newest first", async () => {
    const { ids, sizes } = await walk("?limit=7", (p) => `?limit=7&cursor=${p.next_cursor}`);
    expect(ids).toEqual([...sent].reverse());
    expect(sizes).toEqual([...Array(17).fill(7), 1]);
  });

  test("backwards with before=<message_id> and with before=<cursor>", async () => {
    const byId = await walk("?limit=11", (p) => `?limit=11&before=${p.messages.at(-1).message_id}`);
    expect(byId.ids).toEqual([...sent].reverse());
    const byCursor = await walk("?limit=13", (p) => `?limit=13&before=${p.next_cursor}`);
    expect(byCursor.ids).toEqual([...sent].reverse());
  });

  test("forwards with after=<message_id>, then next_cursor: oldest first, catching up", async () => {
    const { ids } = await walk(`?limit=9&after=${sent[0]}`, (p) => `?limit=9&cursor=${p.next_cursor}`);
    expect(ids).toEqual(sent.slice(1));
    const byId = await walk(`?limit=10&after=${sent[59]}`, (p) => `?limit=10&after=${p.messages.at(-1).message_id}`);
    expect(byId.ids).toEqual(sent.slice(60));
    // Already caught up: nothing more.
    expect(await history(bob, conv, `?after=${sent.at(-1)}`)).toEqual({ messages: [], has_more: false, next_cursor: null });
    expect(await history(bob, conv, `?before=${sent[0]}`)).toEqual({ messages: [], has_more: false, next_cursor: null });
  });

  test("a message sent while paging backwards does not shift the pages", async () => {
    const first = await history(bob, conv, "?limit=20");
    const extra = await send(alice, conv, "late arrival");
    const second = await history(bob, conv, `?limit=20&cursor=${first.next_cursor}`);
    expect(second.messages.map((m: any) => m.message_id)).toEqual(sent.slice(-40, -20).reverse());
    ok(await s.del(`/api/v1/messages/${extra.message_id}`, alice.token));
  });

  test("bad anchors → 400 naming the parameter", async () => {
    const other = await group(alice, [bob]);
    const foreign = await send(alice, other.conversation_id, "elsewhere");
    for (const p of ["before", "after"]) {
      for (const bad of ["nope", NIL_UUID, foreign.message_id, "e30"]) {
        expect(fieldsOf(await s.get(`/api/v1/conversations/${conv}/messages?${p}=${bad}`, bob.token))).toEqual([p]);
      }
    }
    expect(fieldsOf(await s.get(`/api/v1/conversations/${conv}/messages?cursor=nope`, bob.token))).toEqual(["cursor"]);
    expect(fieldsOf(await s.get(`/api/v1/conversations/${conv}/messages?before=${sent[5]}&after=${sent[1]}`, bob.token))).toHaveLength(1);
    for (const bad of ["0", "-1", "abc", "2.5"]) expect(fieldsOf(await s.get(`/api/v1/conversations/${conv}/messages?limit=${bad}`, bob.token))).toEqual(["limit"]);
  });

  test("a cursor from one conversation does not page another", async () => {
    const page = await history(bob, conv, "?limit=5");
    expect(fieldsOf(await s.get(`/api/v1/conversations/${trio}/messages?cursor=${page.next_cursor}`, bob.token))).toEqual(["cursor"]);
  });
});

describe("search", () => {
  test("ranked: the closer match first", async () => {
    const c = (await group(alice, [bob])).conversation_id;
    const weak = await send(alice, c, "a long message that mentions zeppelin once among many other words about other things entirely");
    const strong = await send(bob, c, "zeppelin zeppelin");
    expect(await search(alice, "zeppelin")).toEqual([strong.message_id, weak.message_id]);
    const r = ok(await s.get("/api/v1/messages/search?q=zeppelin", alice.token)).messages[0];
    expect(r).toMatchObject({ message_id: strong.message_id, content: "zeppelin zeppelin", conversation_id: c, sender_id: bob.user_id });
    expect(await search(alice, "zeppelin", "&limit=1")).toEqual([strong.message_id]);
  });

  test(`ranking is among the newest ${SEARCH_WINDOW} matches the caller can see; older ones are found when fewer match`, async () => {
    const c = (await group(alice, [bob])).conversation_id;
    const elsewhere = (await group(outsider, [carol])).conversation_id;
    const old = await send(alice, c, "axolotl axolotl, a salamander");
    // Newer matches the caller cannot see do not push the old one out of the window…
    for (let i = 0; i < 3; i++) await Promise.all(Array.from({ length: 200 }, (_, j) => send(outsider, elsewhere, `axolotl ${i}-${j} in a conversation bob is not in`)));
    expect((await search(bob, "axolotl"))[0]).toBe(old.message_id);
    // …a window's worth of visible, newer, weaker matches does.
    const newer: string[] = [];
    for (let i = 0; i < SEARCH_WINDOW / 100; i++)
      newer.push(...(await Promise.all(Array.from({ length: 100 }, (_, j) => send(alice, c, `a longer message that mentions the axolotl once, number ${i}-${j}`)))).map((m) => m.message_id));
    const found = await search(bob, "axolotl", "&limit=100");
    expect(found).toHaveLength(100);
    expect(found).not.toContain(old.message_id);
    expect(found.every((id) => newer.includes(id))).toBe(true);
    // A word only the old message has is still found, however old.
    expect(await search(bob, "axolotl salamander")).toEqual([old.message_id]);
  });

  test("the last word matches as a prefix; all words must match; case and accents fold", async () => {
    const c = (await group(alice, [bob])).conversation_id;
    const m1 = await send(alice, c, "Crème brûlée for dessert");
    const m2 = await send(alice, c, "creme caramel");
    expect((await search(bob, "crem")).sort()).toEqual([m1.message_id, m2.message_id].sort());
    expect(await search(bob, "creme bru")).toEqual([m1.message_id]);
    expect(await search(bob, "CARAMEL")).toEqual([m2.message_id]);
    // Only the last word is a prefix.
    expect(await search(bob, "cre caramel")).toEqual([]);
  });

  test(`a last word shorter than ${MIN_PREFIX_LENGTH} characters matches whole words only`, async () => {
    const c = (await group(alice, [bob])).conversation_id;
    const word = await send(alice, c, "team go");
    const longer = await send(alice, c, "team gopher");
    expect(await search(bob, "go")).toEqual([word.message_id]);
    expect(await search(bob, "gop")).toEqual([longer.message_id]);
    // What counts is the last token as the index splits it: "team.go" is the phrase "team go".
    expect(await search(bob, "team.go")).toEqual([word.message_id]);
    expect(await search(bob, "team.gop")).toEqual([longer.message_id]);
  });

  test("only conversations the caller is in, even when the word matches elsewhere", async () => {
    const mine = (await group(alice, [bob])).conversation_id;
    const theirs = (await group(outsider, [carol])).conversation_id;
    const visible = await send(alice, mine, "the narwhal report");
    const hidden = await send(outsider, theirs, "secret narwhal plans");
    expect(await search(bob, "narwhal")).toEqual([visible.message_id]);
    expect(await search(outsider, "narwhal")).toEqual([hidden.message_id]);
    expect(await search(alice, "secret")).not.toContain(hidden.message_id);
  });

  test("conversation_id narrows; a conversation the caller is not in → 404; bad id → 400", async () => {
    const c1 = (await group(alice, [bob])).conversation_id;
    const c2 = (await group(alice, [bob])).conversation_id;
    const in1 = await send(alice, c1, "platypus one");
    const in2 = await send(alice, c2, "platypus two");
    expect((await search(alice, "platypus")).sort()).toEqual([in1.message_id, in2.message_id].sort());
    expect(await search(alice, "platypus", `&conversation_id=${c2}`)).toEqual([in2.message_id]);
    expectError(await s.get(`/api/v1/messages/search?q=platypus&conversation_id=${c1}`, outsider.token), 404, "NOT_FOUND");
    expect(fieldsOf(await s.get("/api/v1/messages/search?q=platypus&conversation_id=abc", alice.token))).toEqual(["conversation_id"]);
  });

  test("query syntax is text: injection attempts never error and never widen the match", async () => {
    const c = (await group(alice, [bob])).conversation_id;
    const bar = await send(alice, c, "meet me at the bar");
    const quoted = await send(alice, c, 'she said "hi" NEAR the door');
    for (const q of ['zzzz" OR "bar', "NEAR(", "*", '"', "'", "(", ")", "^", "-bar", "bar:", "content:bar", "NOT bar", "a AND", "{bar}", "\u0000", "a\u0000b", "🙂", "%", "\\"]) {
      const r = await s.get(`/api/v1/messages/search?q=${encodeURIComponent(q)}`, alice.token);
      if (r.status !== 200) expectError(r, 400, "VALIDATION_ERROR");
      else expect(Array.isArray(r.body.messages)).toBe(true);
    }
    // Operators are words: "OR" must be in the text, not widen to either side.
    expect(await search(alice, 'zzzz" OR "bar')).toEqual([]);
    expect(await search(alice, '"hi" NEAR')).toEqual([quoted.message_id]);
    expect(await search(alice, "bar")).toEqual([bar.message_id]);
  });

  test("q is required; blank → 400 q; bad limit → 400", async () => {
    expect(fieldsOf(await s.get("/api/v1/messages/search", alice.token))).toContain("q");
    expect(fieldsOf(await s.get("/api/v1/messages/search?q=%20%20", alice.token))).toEqual(["q"]);
    expect(fieldsOf(await s.get("/api/v1/messages/search?q=x&limit=0", alice.token))).toEqual(["limit"]);
  });

  test("stays in sync with edits and deletes", async () => {
    const c = (await group(alice, [bob])).conversation_id;
    const m = await send(alice, c, "I like kiwi");
    expect(await search(bob, "kiwi")).toEqual([m.message_id]);
    ok(await s.put(`/api/v1/messages/${m.message_id}`, alice.token, { content: "I like mango" }));
    expect(await search(bob, "kiwi")).toEqual([]);
    expect(await search(bob, "mango")).toEqual([m.message_id]);
    expect(ok(await s.get("/api/v1/messages/search?q=mango", bob.token)).messages[0].content).toBe("I like mango");
    ok(await s.del(`/api/v1/messages/${m.message_id}`, alice.token));
    expect(await search(bob, "mango")).toEqual([]);
    expect(await search(bob, "like")).toEqual([]);
  });
});

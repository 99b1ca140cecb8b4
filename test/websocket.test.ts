/**
 * The WebSocket API end to end (CONTRACT §8, issue #4): real clients on /v1/connect against the
 * real server. Every client frame (auth, resume is in resume.test.ts, subscribe, unsubscribe,
 * send_message, typing_start/stop, presence_update, message_delivered/read, ping) and every
 * server event (new_message, message_updated, message_deleted, reaction_updated,
 * delivery_status_update, user_typing, presence_changed, conversation_updated,
 * participants_changed), errors that keep the socket open, and sessions that end.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ok, startTestServer, type TestServer, type TestUser } from "./harness";
import { ClientPool, WsClient, wsUrl, type Frame } from "./ws-client";

const AUTH_DEADLINE_MS = 300;
const TYPING_TTL_MS = 400;
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$/;

let s: TestServer;
const pool = new ClientPool();
let alice: TestUser;
let bob: TestUser;
let carol: TestUser;
let dave: TestUser;
/** alice (admin), bob, carol; dave is in none of alice's conversations. */
let trio: number;
/** alice and bob. */
let pair: number;

beforeAll(async () => {
  const base = (await import("../src/config")).defaultConfig().ws;
  s = await startTestServer({ registration: "open", ws: { ...base, authDeadlineMs: AUTH_DEADLINE_MS, typingTtlMs: TYPING_TTL_MS } });
  [alice, bob, carol, dave] = await Promise.all([s.register(), s.register(), s.register(), s.register()]);
  trio = (await group(alice, [bob, carol])).conversation_id;
  pair = ok(await s.post("/api/v1/conversations", alice.token, { conversation_type: "direct", participant_ids: [bob.user_id] }), 201).conversation_id;
});
afterAll(async () => {
  await pool.closeAll();
  await s?.stop();
});

async function group(owner: TestUser, others: TestUser[], title = "g"): Promise<any> {
  return ok(await s.post("/api/v1/conversations", owner.token, { conversation_type: "group", title, participant_ids: others.map((u) => u.user_id) }), 201);
}

async function restSend(u: TestUser, conversationId: number, content: string, extra: Record<string, unknown> = {}): Promise<any> {
  return ok(await s.post(`/api/v1/conversations/${conversationId}/messages`, u.token, { message_type: "text", content, ...extra }), 201);
}

const isNew = (id: string) => (f: Frame) => f.type === "new_message" && f.message?.message_id === id;
const isNewWith = (content: string) => (f: Frame) => f.type === "new_message" && f.message?.content === content;
const isError = (code: string) => (f: Frame) => f.type === "error" && f.error?.code === code;

function expectEventId(f: Frame) {
  if (!Number.isSafeInteger(f.event_id) || f.event_id < 1) throw new Error(`no event_id in ${JSON.stringify(f)}`);
}

/** Wait until the server has forgotten every connection this file opened and closed. */
async function settled(open = 0) {
  for (let i = 0; i < 200 && s.server.realtime.registry.size > open; i++) await Bun.sleep(10);
}

describe("auth", () => {
  test("auth_success carries user_id and last_event_id", async () => {
    const c = await pool.open(s);
    const r = await c.request({ type: "auth", token: alice.token, device_id: "phone-1" });
    expect(r.type).toBe("auth_success");
    expect(r.user_id).toBe(alice.user_id);
    expect(Number.isSafeInteger(r.last_event_id)).toBe(true);
    expect(r.last_event_id).toBe(s.server.core.journal.lastEventId());
    expect(r.last_event_id).toBeGreaterThan(0); // the conversations of beforeAll were recorded
    await c.close();
  });

  test("no auth frame within the deadline: close 4001", async () => {
    const c = await pool.open(s);
    const started = Date.now();
    const closed = await c.waitClose(AUTH_DEADLINE_MS + 2000);
    expect(closed.code).toBe(4001);
    expect(Date.now() - started).toBeGreaterThanOrEqual(AUTH_DEADLINE_MS - 50);
  });

  test("an authenticated socket outlives the auth deadline", async () => {
    const c = await pool.as(s, alice);
    await Bun.sleep(AUTH_DEADLINE_MS + 150);
    expect(c.isOpen).toBe(true);
    expect((await c.request({ type: "ping" })).type).toBe("pong");
    await c.close();
  });

  test("a bad token: auth_error, then close 4001", async () => {
    for (const token of ["not-a-jwt", alice.token.slice(0, -4) + "AAAA"]) {
      const c = await pool.open(s);
      const r = await c.request({ type: "auth", token });
      expect(r.type).toBe("auth_error");
      expect(r.error.code).toBe("INVALID_TOKEN");
      expect(typeof r.error.message).toBe("string");
      expect((await c.waitClose()).code).toBe(4001);
    }
  });

  test("a frame before auth: AUTH_REQUIRED, and the socket stays open for auth", async () => {
    const c = await pool.open(s);
    for (const frame of [{ type: "ping" }, { type: "subscribe", conversation_ids: [trio] }, { type: "resume", last_event_id: 0 }]) {
      const r = await c.request(frame);
      expect(r.type).toBe("error");
      expect(r.error.code).toBe("AUTH_REQUIRED");
    }
    expect(c.isOpen).toBe(true);
    expect((await c.request({ type: "auth", token: bob.token })).type).toBe("auth_success");
    await c.close();
  });

  test("frames pipelined right behind the auth frame are handled after it, in order", async () => {
    // Make the token check take a while, as a real async check (a database, a key fetch) would.
    const auth = s.server.core.auth;
    const original = auth.authenticate;
    auth.authenticate = async (token: string) => {
      await Bun.sleep(30);
      return original.call(auth, token);
    };
    const c = await pool.open(s);
    c.send({ type: "auth", token: bob.token, request_id: "a" });
    c.send({ type: "ping", request_id: "b" });
    c.send({ type: "subscribe", conversation_ids: [pair], request_id: "c" });
    c.send({ type: "resume", last_event_id: 0, request_id: "d" });
    c.send({ type: "ping", request_id: "e" });
    await c.until(() => c.all((f) => f.request_id === "e").length === 1).finally(() => {
      auth.authenticate = original;
    });
    const replies = c.all((f) => typeof f.request_id === "string");
    expect(replies.map((f) => [f.request_id, f.type])).toEqual([["a", "auth_success"], ["b", "pong"], ["c", "subscribe_success"], ["d", "resume_complete"], ["e", "pong"]]);
    await c.close();
  });

  test("a second auth frame is refused, the socket stays open", async () => {
    const c = await pool.as(s, alice);
    const r = await c.request({ type: "auth", token: bob.token });
    expect(r.type).toBe("error");
    expect(r.error.code).toBe("VALIDATION_ERROR");
    expect((await c.request({ type: "ping" })).type).toBe("pong");
    await c.close();
  });
});

describe("frames that fail keep the socket open", () => {
  test("bad JSON: INVALID_JSON", async () => {
    const c = await pool.as(s, alice);
    for (const raw of ["{not json", "", "[1,2", '{"type":"ping"']) {
      c.send(raw);
      const e = await c.waitFor(isError("INVALID_JSON"), 2000, `INVALID_JSON for ${JSON.stringify(raw)}`);
      expect(typeof e.error.message).toBe("string");
    }
    expect((await c.request({ type: "ping" })).type).toBe("pong");
    await c.close();
  });

  test("JSON that is not an object, or an unknown type: VALIDATION_ERROR", async () => {
    const c = await pool.as(s, alice);
    for (const raw of ["42", "true", "null", "[]", "[1]", '{"no":"type"}', '{"type":"explode"}', '{"type":"__proto__"}', '{"type":"constructor"}', '{"type":42}']) {
      c.send(raw);
      const e = await c.waitFor((f) => f.type === "error", 2000, `error for ${raw}`);
      expect(e.error.code).toBe("VALIDATION_ERROR");
    }
    const r = await c.request({ type: "toString" });
    expect(r.error.code).toBe("VALIDATION_ERROR");
    expect(r.error.details).toEqual([{ field: "type", message: expect.any(String) }]);
    expect(c.isOpen).toBe(true);
    await c.close();
  });

  test("a valid frame with leading whitespace is a frame (Elysia leaves it unparsed)", async () => {
    const c = await pool.as(s, alice);
    c.send('\n  {"type":"ping","request_id":"ws-1"}');
    expect(await c.waitFor((f) => f.request_id === "ws-1")).toEqual({ type: "pong", request_id: "ws-1" });
    // A JSON string is not a frame either way.
    c.send('"ping"');
    expect((await c.waitFor((f) => f.type === "error")).error.code).toMatch(/^(INVALID_JSON|VALIDATION_ERROR)$/);
    await c.close();
  });

  test("invalid fields: VALIDATION_ERROR with details naming the field", async () => {
    const c = await pool.as(s, alice);
    const cases: [Record<string, unknown>, string][] = [
      [{ type: "subscribe" }, "conversation_ids"],
      [{ type: "subscribe", conversation_ids: "1" }, "conversation_ids"],
      [{ type: "subscribe", conversation_ids: [1.5] }, "conversation_ids"],
      [{ type: "subscribe", conversation_ids: [-1] }, "conversation_ids"],
      [{ type: "unsubscribe", conversation_ids: [0] }, "conversation_ids"],
      [{ type: "send_message", message_type: "text", content: "x" }, "conversation_id"],
      [{ type: "send_message", conversation_id: trio, message_type: "gif", content: "x" }, "message_type"],
      [{ type: "send_message", conversation_id: trio, message_type: "text", content: "" }, "content"],
      [{ type: "send_message", conversation_id: trio, message_type: "text", content: 5 }, "content"],
      [{ type: "send_message", conversation_id: trio, message_type: "text", content: "x".repeat(10_001) }, "content"],
      [{ type: "send_message", conversation_id: trio, message_type: "text", content: "x", client_message_id: "c".repeat(129) }, "client_message_id"],
      [{ type: "typing_start", conversation_id: "abc" }, "conversation_id"],
      [{ type: "typing_stop" }, "conversation_id"],
      [{ type: "presence_update", status: "offline" }, "status"],
      [{ type: "presence_update", status: "busy" }, "status"],
      [{ type: "message_delivered", conversation_id: pair }, "message_id"],
      [{ type: "message_read", conversation_id: pair, message_id: "not-a-message" }, "message_id"],
      [{ type: "resume", last_event_id: -1 }, "last_event_id"],
    ];
    for (const [frame, field] of cases) {
      const r = await c.request(frame);
      expect({ frame, type: r.type, code: r.error?.code }).toEqual({ frame, type: "error", code: "VALIDATION_ERROR" });
      expect(r.error.details.map((d: any) => d.field)).toContain(field);
    }
    expect(c.isOpen).toBe(true);
    await c.close();
  });

  test("request_id is echoed on every reply: successes and errors", async () => {
    const c = await pool.as(s, alice);
    const replies = [
      await c.request({ type: "ping", request_id: "r-ping" }),
      await c.request({ type: "subscribe", conversation_ids: [trio], request_id: "r-sub" }),
      await c.request({ type: "unsubscribe", conversation_ids: [trio], request_id: "r-unsub" }),
      await c.request({ type: "subscribe", conversation_ids: [trio], request_id: "r-sub2" }),
      await c.request({ type: "send_message", conversation_id: trio, message_type: "text", content: "echo", request_id: "r-send" }),
      await c.request({ type: "typing_start", conversation_id: trio, request_id: "r-ts" }),
      await c.request({ type: "typing_stop", conversation_id: trio, request_id: "r-tp" }),
      await c.request({ type: "presence_update", status: "online", request_id: "r-pres" }),
      await c.request({ type: "bogus", request_id: "r-bogus" }),
      await c.request({ type: "send_message", conversation_id: 999_999, message_type: "text", content: "x", request_id: "r-forbidden" }),
    ];
    expect(replies.map((r) => r.request_id)).toEqual(["r-ping", "r-sub", "r-unsub", "r-sub2", "r-send", "r-ts", "r-tp", "r-pres", "r-bogus", "r-forbidden"]);
    expect(replies.map((r) => r.type)).toEqual(["pong", "subscribe_success", "unsubscribe_success", "subscribe_success", "message_sent", "ok", "ok", "ok", "error", "error"]);
    // Bad JSON has no request_id to echo; a frame without one gets a reply without one.
    c.send({ type: "ping" });
    const pong = await c.waitFor((f) => f.type === "pong");
    expect("request_id" in pong).toBe(false);
    await c.close();
  });

  test("ping → pong", async () => {
    const c = await pool.as(s, bob);
    expect(await c.request({ type: "ping", request_id: "p1" })).toEqual({ type: "pong", request_id: "p1" });
    await c.close();
  });
});

describe("subscribe and unsubscribe", () => {
  test("only the user's own conversations are accepted", async () => {
    const other = (await group(dave, [carol])).conversation_id;
    const c = await pool.as(s, alice);
    const r = await c.request({ type: "subscribe", conversation_ids: [trio, other, 987_654, pair, trio] });
    expect(r.type).toBe("subscribe_success");
    expect(r.subscribed_conversations.sort()).toEqual([trio, pair].sort());
    expect(r.rejected_conversations.sort()).toEqual([other, 987_654].sort());
    const u = await c.request({ type: "unsubscribe", conversation_ids: [pair, other] });
    expect(u.type).toBe("unsubscribe_success");
    expect(u.unsubscribed_conversations).toEqual([pair]);
    expect(u.rejected_conversations).toEqual([other]);
    // Subscribing to someone else's conversation does not leak its events.
    await restSend(dave, other, "private to dave and carol");
    await c.expectNone(isNewWith("private to dave and carol"), 150);
    await c.close();
  });

  test("every conversation is followed after auth; unsubscribe stops new_message, subscribe restores it", async () => {
    const c = await pool.as(s, alice);
    const m1 = await restSend(bob, trio, "before unsubscribe");
    await c.waitFor(isNew(m1.message_id));
    await c.request({ type: "unsubscribe", conversation_ids: [trio] });
    const m2 = await restSend(bob, trio, "while unsubscribed");
    // Other conversations keep flowing: the pair's message arrives, the trio's does not.
    const m3 = await restSend(bob, pair, "pair still flows");
    await c.waitFor(isNew(m3.message_id));
    await c.expectNone(isNew(m2.message_id), 150);
    await c.request({ type: "subscribe", conversation_ids: [trio] });
    const m4 = await restSend(bob, trio, "after resubscribe");
    await c.waitFor(isNew(m4.message_id));
    await c.close();
  });
});

describe("send_message", () => {
  test("message_sent to the sender, new_message to the others, with event ids", async () => {
    const a = await pool.as(s, alice);
    const b = await pool.as(s, bob);
    const d = await pool.as(s, dave);
    const sent = await a.request({ type: "send_message", conversation_id: trio, message_type: "text", content: "hello in real time", client_message_id: "cm-1" });
    expect(sent.type).toBe("message_sent");
    expect(sent.message_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    expect(sent.client_message_id).toBe("cm-1");
    expect(sent.conversation_id).toBe(trio);
    expect(sent.timestamp).toMatch(ISO);
    const got = await b.waitFor(isNew(sent.message_id));
    expect(got.conversation_id).toBe(trio);
    expect(got.message).toMatchObject({ sender_id: alice.user_id, message_type: "text", content: "hello in real time", created_at: sent.timestamp, delivery_status: "sent", client_message_id: "cm-1" });
    expect(Number.isSafeInteger(got.event_id)).toBe(true);
    expect(got.event_id).toBeGreaterThan(b.lastEventId);
    // The sender's own socket sees it too (same event), an outsider does not.
    expect((await a.waitFor(isNew(sent.message_id))).event_id).toBe(got.event_id);
    await d.expectNone(isNew(sent.message_id), 100);
    await Promise.all([a.close(), b.close(), d.close()]);
  });

  test("idempotent by client_message_id: the same message_id, one message in history", async () => {
    const a = await pool.as(s, alice);
    const b = await pool.as(s, bob);
    const frame = { type: "send_message", conversation_id: pair, message_type: "text", content: "only once", client_message_id: "idem-1" };
    const first = await a.request(frame);
    const again = await a.request(frame);
    const overRest = ok(await s.post(`/api/v1/conversations/${pair}/messages`, alice.token, { message_type: "text", content: "only once", client_message_id: "idem-1" }), 200);
    expect(again.type).toBe("message_sent");
    expect(again.message_id).toBe(first.message_id);
    expect(overRest.message_id).toBe(first.message_id);
    // Resent frames racing each other still make one message.
    const raced = await Promise.all([1, 2, 3].map(() => a.request({ ...frame, client_message_id: "idem-2" })));
    expect(new Set(raced.map((r) => r.message_id)).size).toBe(1);
    const history = ok(await s.get(`/api/v1/conversations/${pair}/messages?limit=100`, bob.token)).messages;
    expect(history.filter((m: any) => m.client_message_id === "idem-1")).toHaveLength(1);
    expect(history.filter((m: any) => m.client_message_id === "idem-2")).toHaveLength(1);
    // The recipient was told once per message.
    await b.waitFor(isNew(first.message_id));
    await b.expectNone(isNew(first.message_id), 100);
    await Promise.all([a.close(), b.close()]);
  });

  test("failures are error frames: not a member, a bad reply target", async () => {
    const other = (await group(dave, [carol])).conversation_id;
    const a = await pool.as(s, alice);
    const r = await a.request({ type: "send_message", conversation_id: other, message_type: "text", content: "intrude" });
    expect(r.type).toBe("error");
    expect(r.error.code).toBe("NOT_FOUND");
    const r2 = await a.request({ type: "send_message", conversation_id: trio, message_type: "text", content: "x", reply_to_message_id: crypto.randomUUID() });
    expect(r2.error.code).toBe("VALIDATION_ERROR");
    expect(r2.error.details[0].field).toBe("reply_to_message_id");
    const h = ok(await s.get(`/api/v1/conversations/${other}/messages`, dave.token)).messages;
    expect(h.some((m: any) => m.content === "intrude")).toBe(false);
    expect(a.isOpen).toBe(true);
    await a.close();
  });
});

describe("typing", () => {
  test("typing_start reaches the others, not the typist; typing_stop ends it", async () => {
    const a = await pool.as(s, alice);
    const b = await pool.as(s, bob);
    const c = await pool.as(s, carol);
    const d = await pool.as(s, dave);
    const typing = (v: boolean) => (f: Frame) => f.type === "user_typing" && f.user_id === alice.user_id && f.conversation_id === trio && f.is_typing === v;
    expect((await a.request({ type: "typing_start", conversation_id: trio })).type).toBe("ok");
    const t = await b.waitFor(typing(true));
    expect(t).toEqual({ type: "user_typing", conversation_id: trio, user_id: alice.user_id, is_typing: true });
    expect("event_id" in t).toBe(false); // lossy: no event id
    await c.waitFor(typing(true));
    // Repeated typing_start (a keystroke each) is one event, not one per key.
    await a.request({ type: "typing_start", conversation_id: trio });
    await a.request({ type: "typing_start", conversation_id: trio });
    await a.request({ type: "typing_stop", conversation_id: trio });
    await b.waitFor(typing(false));
    await c.waitFor(typing(false));
    expect(b.all((f) => f.type === "user_typing" && f.is_typing === true)).toHaveLength(1);
    await a.expectNone((f) => f.type === "user_typing", 50);
    await d.expectNone((f) => f.type === "user_typing", 0);
    // A stop without a start announces nothing.
    await a.request({ type: "typing_stop", conversation_id: trio });
    await b.expectNone((f) => f.type === "user_typing", 100);
    await Promise.all([a.close(), b.close(), c.close(), d.close()]);
  });

  test("typing expires by itself after the TTL", async () => {
    const a = await pool.as(s, alice);
    const b = await pool.as(s, bob);
    await a.request({ type: "typing_start", conversation_id: pair });
    const start = await b.waitFor((f) => f.type === "user_typing" && f.is_typing === true);
    const at = Date.now();
    expect(start.conversation_id).toBe(pair);
    const stop = await b.waitFor((f) => f.type === "user_typing" && f.is_typing === false, TYPING_TTL_MS + 2000);
    expect(stop).toEqual({ type: "user_typing", conversation_id: pair, user_id: alice.user_id, is_typing: false });
    expect(Date.now() - at).toBeGreaterThanOrEqual(TYPING_TTL_MS - 100);
    await Promise.all([a.close(), b.close()]);
  });

  test("typing in a conversation one is not in: an error frame, nobody is told", async () => {
    const other = (await group(dave, [carol])).conversation_id;
    const a = await pool.as(s, alice);
    const c = await pool.as(s, carol);
    const r = await a.request({ type: "typing_start", conversation_id: other });
    expect(r.type).toBe("error");
    expect(r.error.code).toBe("NOT_FOUND");
    expect((await a.request({ type: "typing_stop", conversation_id: other })).error.code).toBe("NOT_FOUND");
    await c.expectNone((f) => f.type === "user_typing" && f.conversation_id === other, 100);
    await Promise.all([a.close(), c.close()]);
  });
});

describe("receipts", () => {
  test("message_delivered and message_read: delivery_status_update to the sender, REST delivery_status follows", async () => {
    const a = await pool.as(s, alice);
    const b = await pool.as(s, bob);
    const m = await restSend(alice, pair, "did you get this?");
    await b.waitFor(isNew(m.message_id));
    const statusOf = async () => (ok(await s.get(`/api/v1/conversations/${pair}/messages?limit=100`, alice.token)).messages as any[]).find((x) => x.message_id === m.message_id).delivery_status;
    expect(await statusOf()).toBe("sent");

    expect((await b.request({ type: "message_delivered", conversation_id: pair, message_id: m.message_id })).type).toBe("ok");
    const delivered = await a.waitFor((f) => f.type === "delivery_status_update" && f.message_id === m.message_id && f.status === "delivered");
    // (No asymmetric matchers inside toMatchObject: bun 1.4 writes them into the received object.)
    expect(delivered).toMatchObject({ conversation_id: pair, user_id: bob.user_id });
    expect(delivered.timestamp).toMatch(ISO);
    expectEventId(delivered);
    expect(await statusOf()).toBe("delivered");

    expect((await b.request({ type: "message_read", conversation_id: pair, message_id: m.message_id })).type).toBe("ok");
    await a.waitFor((f) => f.type === "delivery_status_update" && f.message_id === m.message_id && f.status === "read" && f.user_id === bob.user_id);
    expect(await statusOf()).toBe("read");

    // A receipt that moves nothing (already read) announces nothing.
    await b.request({ type: "message_delivered", conversation_id: pair, message_id: m.message_id });
    await a.expectNone((f) => f.type === "delivery_status_update" && f.message_id === m.message_id, 150);
    await Promise.all([a.close(), b.close()]);
  });

  test("receipts for a conversation one is not in, or a message of another conversation, are errors", async () => {
    const b = await pool.as(s, bob);
    const d = await pool.as(s, dave);
    const m = await restSend(alice, pair, "for bob only");
    const r = await d.request({ type: "message_read", conversation_id: pair, message_id: m.message_id });
    expect(r.error.code).toBe("NOT_FOUND");
    const r2 = await b.request({ type: "message_read", conversation_id: trio, message_id: m.message_id });
    expect(r2.error.code).toBe("VALIDATION_ERROR");
    expect(r2.error.details[0].field).toBe("message_id");
    await Promise.all([b.close(), d.close()]);
  });
});

describe("REST changes are pushed", () => {
  test("edit, delete and reactions: message_updated, message_deleted, reaction_updated", async () => {
    const b = await pool.as(s, bob);
    const m = await restSend(alice, trio, "first draft");
    await b.waitFor(isNew(m.message_id));

    ok(await s.put(`/api/v1/messages/${m.message_id}`, alice.token, { content: "second draft" }));
    const upd = await b.waitFor((f) => f.type === "message_updated" && f.message.message_id === m.message_id);
    expect(upd).toMatchObject({ conversation_id: trio, message: { content: "second draft", edited: true } });
    expectEventId(upd);

    expect((await s.post(`/api/v1/messages/${m.message_id}/reactions`, bob.token, { emoji: "👍" })).status).toBeLessThan(300);
    const add = await b.waitFor((f) => f.type === "reaction_updated" && f.message_id === m.message_id && f.action === "add");
    expect(add).toMatchObject({ conversation_id: trio, user_id: bob.user_id, emoji: "👍", reactions: { "👍": [bob.user_id] } });
    expectEventId(add);
    ok(await s.del(`/api/v1/messages/${m.message_id}/reactions/${encodeURIComponent("👍")}`, bob.token));
    const rm = await b.waitFor((f) => f.type === "reaction_updated" && f.message_id === m.message_id && f.action === "remove");
    expect(rm.reactions).toEqual({});

    ok(await s.del(`/api/v1/messages/${m.message_id}`, alice.token));
    const del = await b.waitFor((f) => f.type === "message_deleted" && f.message_id === m.message_id);
    expect(del).toEqual({ type: "message_deleted", event_id: expect.any(Number), conversation_id: trio, message_id: m.message_id });
    // Event ids grow in the order things happened.
    expect([upd.event_id, add.event_id, rm.event_id, del.event_id]).toEqual([upd.event_id, add.event_id, rm.event_id, del.event_id].sort((x, y) => x - y));
    await b.close();
  });

  test("a conversation updated over REST: conversation_updated (change updated)", async () => {
    const g = (await group(alice, [bob], "before")).conversation_id;
    const b = await pool.as(s, bob);
    ok(await s.put(`/api/v1/conversations/${g}`, alice.token, { title: "after", description: "d" }));
    const f = await b.waitFor((x) => x.type === "conversation_updated" && x.conversation_id === g && x.change === "updated");
    expect(f).toMatchObject({ title: "after", description: "d", updated_by: alice.user_id });
    expectEventId(f);
    await b.close();
  });
});

describe("membership", () => {
  test("a conversation created with you: conversation_updated (created) on your open connection, then its messages", async () => {
    const d = await pool.as(s, dave);
    const g = await group(alice, [dave], "new with dave");
    const f = await d.waitFor((x) => x.type === "conversation_updated" && x.conversation_id === g.conversation_id);
    expect(f.change).toBe("created");
    expectEventId(f);
    expect(f.conversation).toMatchObject({ conversation_id: g.conversation_id, conversation_type: "group", title: "new with dave", created_by: alice.user_id });
    const m = await restSend(alice, g.conversation_id, "welcome dave");
    await d.waitFor(isNew(m.message_id));
    await d.close();
  });

  test("added: participants_changed, then new_message without subscribing; removed: participants_changed and nothing after", async () => {
    const g = (await group(alice, [bob], "add-remove")).conversation_id;
    const d = await pool.as(s, dave);
    const before = await restSend(alice, g, "before dave");
    ok(await s.post(`/api/v1/conversations/${g}/participants`, alice.token, { action: "add", user_ids: [dave.user_id] }));
    const added = await d.waitFor((f) => f.type === "participants_changed" && f.conversation_id === g);
    expect(added).toMatchObject({ added_user_ids: [dave.user_id], removed_user_ids: [], changed_by: alice.user_id });
    expectEventId(added);
    const m = await restSend(bob, g, "hello dave");
    const got = await d.waitFor(isNew(m.message_id));
    expect(got.event_id).toBeGreaterThan(added.event_id);
    await d.expectNone(isNew(before.message_id), 0);
    // Dave may now type there and send there.
    expect((await d.request({ type: "typing_start", conversation_id: g })).type).toBe("ok");
    expect((await d.request({ type: "send_message", conversation_id: g, message_type: "text", content: "hi all" })).type).toBe("message_sent");

    ok(await s.post(`/api/v1/conversations/${g}/participants`, alice.token, { action: "remove", user_ids: [dave.user_id] }));
    const removed = await d.waitFor((f) => f.type === "participants_changed" && f.conversation_id === g && f.removed_user_ids?.length);
    expect(removed).toMatchObject({ added_user_ids: [], removed_user_ids: [dave.user_id], changed_by: alice.user_id });
    const after = await restSend(bob, g, "dave is gone");
    await d.expectNone(isNew(after.message_id), 150);
    // Nor may dave subscribe again.
    const r = await d.request({ type: "subscribe", conversation_ids: [g] });
    expect(r.rejected_conversations).toEqual([g]);
    await d.close();
  });

  test("leaving a group: your own connections stop getting its messages", async () => {
    const g = (await group(alice, [bob, carol], "leave")).conversation_id;
    const c = await pool.as(s, carol);
    ok(await s.post(`/api/v1/conversations/${g}/participants`, carol.token, { action: "remove", user_ids: [carol.user_id] }));
    await c.waitFor((f) => f.type === "participants_changed" && f.conversation_id === g);
    const m = await restSend(alice, g, "carol left");
    await c.expectNone(isNew(m.message_id), 150);
    await c.close();
  });
});

describe("several devices", () => {
  test("own messages from another device reach every connection of the user, subscribed or not", async () => {
    const a1 = await pool.as(s, alice, "laptop");
    const a2 = await pool.as(s, alice, "phone");
    const a3 = await pool.as(s, alice, "tablet");
    // a3 unsubscribed from the conversation: own messages still reach it (CONTRACT §8).
    await a3.request({ type: "unsubscribe", conversation_ids: [trio] });

    const viaRest = await restSend(alice, trio, "from the REST client");
    for (const c of [a1, a2, a3]) await c.waitFor(isNew(viaRest.message_id));

    const viaWs = await a1.request({ type: "send_message", conversation_id: trio, message_type: "text", content: "from the laptop" });
    for (const c of [a1, a2, a3]) await c.waitFor(isNew(viaWs.message_id));
    // Exactly once each.
    for (const c of [a1, a2, a3]) {
      await c.expectNone(isNew(viaWs.message_id), 0);
      expect(c.all(isNew(viaRest.message_id))).toHaveLength(1);
    }
    // Others' messages do not reach the unsubscribed device.
    const fromBob = await restSend(bob, trio, "bob to the trio");
    await a1.waitFor(isNew(fromBob.message_id));
    await a3.expectNone(isNew(fromBob.message_id), 150);
    await Promise.all([a1.close(), a2.close(), a3.close()]);
  });
});

describe("sessions that end close their sockets (4001)", () => {
  async function login(u: TestUser, device: string): Promise<string> {
    return ok(await s.post("/api/v1/auth/login", null, { email: u.email, password: u.password, device_id: device })).access_token;
  }

  test("logout closes that session's sockets only", async () => {
    const token = await login(carol, "to-logout");
    const doomed = await pool.as(s, { token });
    const doomed2 = await pool.as(s, { token });
    const kept = await pool.as(s, carol);
    ok(await s.post("/api/v1/auth/logout", token));
    expect((await doomed.waitClose()).code).toBe(4001);
    expect((await doomed2.waitClose()).code).toBe(4001);
    expect(kept.isOpen).toBe(true);
    expect((await kept.request({ type: "ping" })).type).toBe("pong");
    // The token no longer opens a socket.
    const again = await pool.open(s);
    expect((await again.request({ type: "auth", token })).type).toBe("auth_error");
    expect((await again.waitClose()).code).toBe(4001);
    await kept.close();
  });

  test("revoking a session closes its sockets", async () => {
    const token = await login(carol, "to-revoke");
    const doomed = await pool.as(s, { token });
    const kept = await pool.as(s, carol);
    const sessions = ok(await s.get("/api/v1/auth/sessions", carol.token)).sessions as any[];
    const target = sessions.find((x) => x.device_id === "to-revoke");
    ok(await s.del(`/api/v1/auth/sessions/${target.session_id}`, carol.token));
    expect((await doomed.waitClose()).code).toBe(4001);
    await kept.expectNone(() => false, 50);
    expect(kept.isOpen).toBe(true);
    await kept.close();
  });

  test("disabling the user closes all of their sockets", async () => {
    const erin = await s.register();
    const token2 = await login(erin, "second");
    const e1 = await pool.as(s, erin);
    const e2 = await pool.as(s, { token: token2 });
    const other = await pool.as(s, bob);
    s.server.core.users.setDisabled(erin.user_id, true);
    expect((await e1.waitClose()).code).toBe(4001);
    expect((await e2.waitClose()).code).toBe(4001);
    expect(other.isOpen).toBe(true);
    await other.close();
  });
});

describe("the server's connection registry", () => {
  test("closed sockets are forgotten", async () => {
    await pool.closeAll();
    await settled(0);
    expect(s.server.realtime.registry.size).toBe(0);
    expect(s.server.realtime.registry.users).toBe(0);
    expect(s.server.realtime.isConnected(alice.user_id)).toBe(false);
    const c = await pool.as(s, alice);
    expect(s.server.realtime.isConnected(alice.user_id)).toBe(true);
    await c.close();
    await settled(0);
    expect(s.server.realtime.isConnected(alice.user_id)).toBe(false);
  });

  test("an unauthenticated socket is not a user's connection", async () => {
    const c = await WsClient.open(wsUrl(s));
    pool.track(c);
    await Bun.sleep(20);
    expect(s.server.realtime.registry.size).toBe(1);
    expect(s.server.realtime.registry.users).toBe(0);
    await c.close();
  });
});

describe("presence", () => {
  const presenceOf = (u: TestUser, status?: string) => (f: Frame) => f.type === "presence_changed" && f.user_id === u.user_id && (status === undefined || f.status === status);

  test("online while connected, away when set, offline with last_seen when the last connection closes", async () => {
    const [erin, frank, gina] = await Promise.all([s.register(), s.register(), s.register()]);
    await group(erin, [frank], "erin+frank");
    const f = await pool.as(s, frank);
    const g = await pool.as(s, gina);
    const e1 = await pool.as(s, erin);
    expect(await f.waitFor(presenceOf(erin, "online"))).toEqual({ type: "presence_changed", user_id: erin.user_id, status: "online", last_seen: null });
    expect((await e1.request({ type: "presence_update", status: "away" })).type).toBe("ok");
    await f.waitFor(presenceOf(erin, "away"));
    await e1.request({ type: "presence_update", status: "away" }); // no change, no event
    await e1.request({ type: "presence_update", status: "online" });
    await f.waitFor(presenceOf(erin, "online"));
    // A second device changes nothing; closing one of two changes nothing.
    const e2 = await pool.as(s, erin);
    await e2.close();
    await f.expectNone(presenceOf(erin), 150);
    await e1.close();
    const off = await f.waitFor(presenceOf(erin, "offline"));
    expect(off.last_seen).toMatch(ISO);
    expect(Math.abs(Date.parse(off.last_seen) - Date.now())).toBeLessThan(5000);
    expect("event_id" in off).toBe(false); // lossy
    // gina shares no conversation with erin: she heard nothing; nobody hears their own presence.
    await g.expectNone(presenceOf(erin), 0);
    await e1.expectNone(presenceOf(erin), 0);
    await Promise.all([f.close(), g.close()]);
  });

  test("show_online_status false: never announced; show_last_seen false: offline without last_seen", async () => {
    const [hidden, noSeen, frank] = await Promise.all([s.register(), s.register(), s.register()]);
    await group(frank, [hidden, noSeen], "privacy");
    ok(await s.put(`/api/v1/users/${hidden.user_id}`, hidden.token, { privacy_settings: { show_online_status: false } }));
    ok(await s.put(`/api/v1/users/${noSeen.user_id}`, noSeen.token, { privacy_settings: { show_last_seen: false } }));
    const f = await pool.as(s, frank);
    const h = await pool.as(s, hidden);
    await h.request({ type: "presence_update", status: "away" });
    await h.close();
    await f.expectNone(presenceOf(hidden), 200);
    const n = await pool.as(s, noSeen);
    await f.waitFor(presenceOf(noSeen, "online"));
    await n.close();
    expect((await f.waitFor(presenceOf(noSeen, "offline"))).last_seen).toBeNull();
    await f.close();
  });

  test("hiding the online status while online is announced as offline; showing it again announces the status", async () => {
    const [kay, frank] = await Promise.all([s.register(), s.register()]);
    await group(frank, [kay], "privacy toggle");
    const f = await pool.as(s, frank);
    const k = await pool.as(s, kay);
    await f.waitFor(presenceOf(kay, "online"));
    ok(await s.put(`/api/v1/users/${kay.user_id}`, kay.token, { privacy_settings: { show_online_status: false } }));
    expect(await f.waitFor(presenceOf(kay))).toEqual({ type: "presence_changed", user_id: kay.user_id, status: "offline", last_seen: null });
    // Other profile changes, presence updates and the disconnect of a hidden user say nothing.
    ok(await s.put(`/api/v1/users/${kay.user_id}`, kay.token, { status_message: "hidden" }));
    await k.request({ type: "presence_update", status: "away" });
    await f.expectNone(presenceOf(kay), 150);
    ok(await s.put(`/api/v1/users/${kay.user_id}`, kay.token, { privacy_settings: { show_online_status: true } }));
    await f.waitFor(presenceOf(kay, "away"));
    ok(await s.put(`/api/v1/users/${kay.user_id}`, kay.token, { status_message: "shown" }));
    await f.expectNone(presenceOf(kay), 150);
    await k.close();
    await f.waitFor(presenceOf(kay, "offline"));
    await f.close();
  });

  test("a new conversation makes its participants see each other's presence", async () => {
    const [ivan, judy] = await Promise.all([s.register(), s.register()]);
    const i = await pool.as(s, ivan);
    const j = await pool.as(s, judy);
    await j.request({ type: "presence_update", status: "away" });
    await i.expectNone(presenceOf(judy), 100);
    await group(judy, [ivan], "new contacts");
    await i.waitFor((f) => f.type === "conversation_updated");
    await j.request({ type: "presence_update", status: "online" });
    await i.waitFor(presenceOf(judy, "online"));
    await i.request({ type: "presence_update", status: "away" });
    await j.waitFor(presenceOf(ivan, "away"));
    await Promise.all([i.close(), j.close()]);
  });
});

describe("presence switched off (--presence off)", () => {
  let quiet: TestServer;
  const quietPool = new ClientPool();
  beforeAll(async () => {
    quiet = await startTestServer({ registration: "open", presence: "off" });
  });
  afterAll(async () => {
    await quietPool.closeAll();
    await quiet?.stop();
  });

  test("no presence_changed and no user_typing, while the frames are still accepted", async () => {
    const [kim, lee] = await Promise.all([quiet.register(), quiet.register()]);
    const conv = ok(await quiet.post("/api/v1/conversations", kim.token, { conversation_type: "direct", participant_ids: [lee.user_id] }), 201).conversation_id;
    const l = await quietPool.as(quiet, lee);
    const k = await quietPool.as(quiet, kim);
    expect((await k.request({ type: "presence_update", status: "away" })).type).toBe("ok");
    expect((await k.request({ type: "typing_start", conversation_id: conv })).type).toBe("ok");
    expect((await k.request({ type: "typing_stop", conversation_id: conv })).type).toBe("ok");
    // Membership is still checked.
    expect((await k.request({ type: "typing_start", conversation_id: 999_999 })).error.code).toBe("NOT_FOUND");
    const sent = await k.request({ type: "send_message", conversation_id: conv, message_type: "text", content: "still works" });
    await l.waitFor(isNew(sent.message_id));
    await k.close();
    await l.expectNone((f) => f.type === "presence_changed" || f.type === "user_typing", 200);
    await l.close();
  });
});

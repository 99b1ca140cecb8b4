/**
 * One service layer under two transports (CONTRACT §7 "whichever transport made the change",
 * ARCHITECTURE rule 2): what REST changes reaches WebSocket clients, what a WebSocket client
 * changes is what REST shows, and receipts flow back to the sender either way.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { ok, startTestServer, type TestServer, type TestUser } from "./harness";
import { ClientPool, type Frame } from "./ws-client";

let s: TestServer;
const pool = new ClientPool();
let alice: TestUser;
let bob: TestUser;
let carol: TestUser;
let pair: number;
let trio: number;

beforeAll(async () => {
  s = await startTestServer({ registration: "open" });
  [alice, bob, carol] = await Promise.all([s.register(), s.register(), s.register()]);
  pair = ok(await s.post("/api/v1/conversations", alice.token, { conversation_type: "direct", participant_ids: [bob.user_id] }), 201).conversation_id;
  trio = ok(await s.post("/api/v1/conversations", alice.token, { conversation_type: "group", title: "t", participant_ids: [bob.user_id, carol.user_id] }), 201).conversation_id;
});
afterAll(async () => {
  await pool.closeAll();
  await s?.stop();
});

const newMessage = (id: string) => (f: Frame) => f.type === "new_message" && f.message.message_id === id;

async function historyOf(u: TestUser, conversationId: number): Promise<any[]> {
  return ok(await s.get(`/api/v1/conversations/${conversationId}/messages?limit=100`, u.token)).messages;
}

test("a REST send reaches a WebSocket subscriber, in the REST response's shape", async () => {
  const b = await pool.as(s, bob);
  expect((await b.request({ type: "subscribe", conversation_ids: [pair] })).subscribed_conversations).toEqual([pair]);
  const sent = ok(await s.post(`/api/v1/conversations/${pair}/messages`, alice.token, { message_type: "text", content: "over REST", client_message_id: "rest-1" }), 201);
  const f = await b.waitFor(newMessage(sent.message_id));
  expect(f.conversation_id).toBe(pair);
  // The pushed message is the object REST answered with (bob sees it as alice's, status sent).
  expect(f.message).toEqual(sent);
  await b.close();
});

test("a WebSocket send is in REST history, for the sender and the recipient", async () => {
  const a = await pool.as(s, alice);
  const r = await a.request({ type: "send_message", conversation_id: pair, message_type: "text", content: "over WebSocket", client_message_id: "ws-1" });
  expect(r.type).toBe("message_sent");
  for (const u of [alice, bob]) {
    const m = (await historyOf(u, pair)).find((x) => x.message_id === r.message_id);
    expect(m).toMatchObject({ content: "over WebSocket", sender_id: alice.user_id, client_message_id: "ws-1", created_at: r.timestamp });
  }
  // The same client_message_id over REST is the same message (idempotency spans transports).
  const again = ok(await s.post(`/api/v1/conversations/${pair}/messages`, alice.token, { message_type: "text", content: "over WebSocket", client_message_id: "ws-1" }), 200);
  expect(again.message_id).toBe(r.message_id);
  // And the conversation list shows it as the last message, unread for bob.
  const conv = ok(await s.get(`/api/v1/conversations/${pair}`, bob.token));
  expect(conv.last_message.message_id).toBe(r.message_id);
  expect(conv.unread_count).toBeGreaterThan(0);
  await a.close();
});

test("receipts over WebSocket reach the sender over WebSocket and show in REST", async () => {
  const a = await pool.as(s, alice);
  const b = await pool.as(s, bob);
  const c = await pool.as(s, carol);
  const m = ok(await s.post(`/api/v1/conversations/${trio}/messages`, alice.token, { message_type: "text", content: "for two readers" }), 201);
  await b.waitFor(newMessage(m.message_id));
  await c.waitFor(newMessage(m.message_id));
  const status = async () => (await historyOf(alice, trio)).find((x) => x.message_id === m.message_id).delivery_status;

  await b.request({ type: "message_delivered", conversation_id: trio, message_id: m.message_id });
  await a.waitFor((f) => f.type === "delivery_status_update" && f.user_id === bob.user_id && f.status === "delivered");
  expect(await status()).toBe("sent"); // carol has not got it yet
  await c.request({ type: "message_delivered", conversation_id: trio, message_id: m.message_id });
  await a.waitFor((f) => f.type === "delivery_status_update" && f.user_id === carol.user_id && f.status === "delivered");
  expect(await status()).toBe("delivered");

  await b.request({ type: "message_read", conversation_id: trio, message_id: m.message_id });
  await a.waitFor((f) => f.type === "delivery_status_update" && f.user_id === bob.user_id && f.status === "read");
  expect(await status()).toBe("delivered");
  // Carol reads over REST instead: the WebSocket sender hears it the same way.
  ok(await s.post(`/api/v1/conversations/${trio}/read`, carol.token, { message_id: m.message_id }));
  const read = await a.waitFor((f) => f.type === "delivery_status_update" && f.user_id === carol.user_id && f.status === "read");
  expect(read.message_id).toBe(m.message_id);
  expect(read.conversation_id).toBe(trio);
  expect(await status()).toBe("read");
  // Read over WebSocket moves the REST unread count too.
  expect(ok(await s.get(`/api/v1/conversations/${trio}`, bob.token)).unread_count).toBe(0);
  // Every participant hears receipts (they are conversation events); the reader's own too.
  await b.waitFor((f) => f.type === "delivery_status_update" && f.user_id === carol.user_id && f.status === "read");
  await Promise.all([a.close(), b.close(), c.close()]);
});

test("REST edits, reactions and deletes of a WebSocket-sent message reach WebSocket clients", async () => {
  const a = await pool.as(s, alice);
  const b = await pool.as(s, bob);
  const r = await a.request({ type: "send_message", conversation_id: pair, message_type: "text", content: "typo" });
  await b.waitFor(newMessage(r.message_id));
  ok(await s.put(`/api/v1/messages/${r.message_id}`, alice.token, { content: "fixed" }));
  expect((await b.waitFor((f) => f.type === "message_updated")).message.content).toBe("fixed");
  expect((await s.post(`/api/v1/messages/${r.message_id}/reactions`, bob.token, { emoji: "👀" })).status).toBeLessThan(300);
  expect((await a.waitFor((f) => f.type === "reaction_updated")).reactions).toEqual({ "👀": [bob.user_id] });
  ok(await s.del(`/api/v1/messages/${r.message_id}`, alice.token));
  expect((await b.waitFor((f) => f.type === "message_deleted")).message_id).toBe(r.message_id);
  const m = (await historyOf(bob, pair)).find((x) => x.message_id === r.message_id);
  expect(m).toMatchObject({ deleted: true, content: null });
  await Promise.all([a.close(), b.close()]);
});

/**
 * No missed events across reconnects (CONTRACT §8): `resume` replays exactly what a client
 * missed, in order, then `resume_complete`, then live events with no gap and no duplicate; a
 * server restart changes nothing; pruned or future positions get `resync_required`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { ok, startTestServer, tempDir, type TestServer, type TestUser } from "./harness";
import { ClientPool, type Frame, type WsClient } from "./ws-client";

let s: TestServer;
const dataDir = tempDir("confab-resume-");
const pool = new ClientPool();
let alice: TestUser;
let bob: TestUser;
let carol: TestUser;
let dave: TestUser;
/** alice (admin), bob, carol. */
let trio: number;
/** alice and bob. */
let pair: number;
/** carol and dave: bob must never see its events. */
let elsewhere: number;

beforeAll(async () => {
  s = await startTestServer({ registration: "open", dataDir });
  [alice, bob, carol, dave] = await Promise.all([s.register(), s.register(), s.register(), s.register()]);
  trio = ok(await s.post("/api/v1/conversations", alice.token, { conversation_type: "group", title: "trio", participant_ids: [bob.user_id, carol.user_id] }), 201).conversation_id;
  pair = ok(await s.post("/api/v1/conversations", alice.token, { conversation_type: "direct", participant_ids: [bob.user_id] }), 201).conversation_id;
  elsewhere = ok(await s.post("/api/v1/conversations", carol.token, { conversation_type: "direct", participant_ids: [dave.user_id] }), 201).conversation_id;
});
afterAll(async () => {
  await pool.closeAll();
  await s?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function send(u: TestUser, conversationId: number, content: string): Promise<any> {
  return ok(await s.post(`/api/v1/conversations/${conversationId}/messages`, u.token, { message_type: "text", content }), 201);
}

const hasEventId = (f: Frame) => typeof f.event_id === "number";
/** What identifies an event to a client: its id, type and the message it is about. */
const summary = (f: Frame) => ({ event_id: f.event_id, type: f.type, message_id: f.message?.message_id ?? f.message_id ?? null });

/** Wait until `c` has received the event with id `eventId` (live). */
function reached(c: WsClient, eventId: number, timeoutMs = 10_000) {
  return c.until(() => c.frames.some((f) => f.event_id === eventId), timeoutMs, `event ${eventId}`);
}

/** The journal ids `userId` may see after `after` (straight from the database, not through Journal). */
function visibleIds(userId: number, after: number): number[] {
  return s.server.core.db
    .query<{ id: number }, [number, number]>(
      `SELECT id FROM events WHERE id > ?1 AND (conversation_id IN (SELECT conversation_id FROM participants WHERE user_id = ?2)
         OR id IN (SELECT event_id FROM event_recipients WHERE user_id = ?2)) ORDER BY id`,
    )
    .all(after, userId)
    .map((r) => r.id);
}

/** Send resume and split what follows into the replay and resume_complete. */
async function resume(c: WsClient, lastEventId: number, timeoutMs = 10_000): Promise<{ replayed: Frame[]; complete: Frame; before: Frame[] }> {
  const start = c.frames.length;
  const complete = await c.request({ type: "resume", last_event_id: lastEventId }, timeoutMs);
  expect(complete.type).toBe("resume_complete");
  const end = c.frames.indexOf(complete);
  return { replayed: c.frames.slice(start, end).filter(hasEventId), complete, before: c.frames.slice(0, start) };
}

/** A mix of every kind of journaled change, by others, over REST. Returns the messages sent. */
async function activity(n: number, tag: string): Promise<any[]> {
  const sent: any[] = [];
  for (let i = 0; i < n; i += 20) {
    // Twenty at a time, concurrently: they land in group commits, as under real load.
    const batch = await Promise.all(
      Array.from({ length: Math.min(20, n - i) }, (_, k) => {
        const conversation = (i + k) % 2 ? trio : pair;
        return send(conversation === trio && k % 3 === 0 ? carol : alice, conversation, `${tag} ${i + k}`);
      }),
    );
    sent.push(...batch);
  }
  const mine = sent.filter((m) => m.sender_id === alice.user_id);
  for (const m of mine.slice(0, 10)) ok(await s.put(`/api/v1/messages/${m.message_id}`, alice.token, { content: `${m.content} (edited)` }));
  for (const m of sent.slice(10, 20)) expect((await s.post(`/api/v1/messages/${m.message_id}/reactions`, alice.token, { emoji: "🎉" })).status).toBeLessThan(300);
  for (const m of mine.slice(20, 25)) ok(await s.del(`/api/v1/messages/${m.message_id}`, alice.token));
  const lastInTrio = sent.filter((m) => m.conversation_id === trio).at(-1);
  ok(await s.post(`/api/v1/conversations/${trio}/read`, carol.token, { message_id: lastInTrio.message_id }));
  ok(await s.put(`/api/v1/conversations/${trio}`, alice.token, { title: `trio ${tag}` }));
  // Events bob may not see.
  await send(carol, elsewhere, `${tag} not for bob`);
  return sent;
}

describe("resume", () => {
  test("replays exactly the missed events, in order, then resume_complete, then live events", async () => {
    const stayer = await pool.as(s, bob, "stays-connected");
    const leaver = await pool.as(s, bob, "goes-away");
    const n = leaver.lastEventId;
    await leaver.close();

    await activity(200, "offline");
    // A conversation created with bob while away, and its first message.
    const fresh = ok(await s.post("/api/v1/conversations", carol.token, { conversation_type: "group", title: "fresh", participant_ids: [bob.user_id] }), 201).conversation_id;
    await send(carol, fresh, "in the fresh group");
    const last = (await send(alice, pair, "last while away")).message_id;
    const newest = s.server.core.journal.lastEventId();
    await reached(stayer, newest);

    const back = await pool.as(s, bob, "goes-away");
    const { replayed, complete } = await resume(back, n);
    const expected = stayer.all((f) => hasEventId(f) && f.event_id > n);
    expect(expected.length).toBeGreaterThan(200);
    expect(replayed.map(summary)).toEqual(expected.map(summary));
    // Byte for byte what the connected device saw live.
    expect(replayed).toEqual(expected);
    expect(replayed.map((f) => f.event_id)).toEqual(visibleIds(bob.user_id, n));
    expect(replayed.some((f) => f.conversation_id === elsewhere)).toBe(false);
    expect(replayed.some((f) => f.type === "conversation_updated" && f.change === "created" && f.conversation_id === fresh)).toBe(true);
    expect(replayed.at(-1)!.message.message_id).toBe(last);
    expect(complete.last_event_id).toBe(newest);

    // Then live events, after resume_complete.
    const live = await send(alice, trio, "live again");
    const f = await back.waitFor((x) => x.type === "new_message" && x.message.message_id === live.message_id);
    expect(back.frames.indexOf(f)).toBeGreaterThan(back.frames.indexOf(complete));
    expect(f.event_id).toBeGreaterThan(complete.last_event_id);
    await Promise.all([stayer.close(), back.close()]);
  });

  test("events landing during the replay are neither lost nor duplicated", async () => {
    const leaver = await pool.as(s, bob);
    const n = leaver.lastEventId;
    await leaver.close();
    await activity(60, "before-race");

    const back = await pool.as(s, bob);
    // Events between auth_success and the resume frame come live: the replay must skip them.
    const early = await Promise.all(Array.from({ length: 5 }, (_, i) => send(alice, pair, `between auth and resume ${i}`)));
    for (const m of early) await back.waitFor((f) => f.message?.message_id === m.message_id);
    // Fire sends while the resume is on its way and being answered.
    const racing = Promise.all(Array.from({ length: 60 }, (_, i) => send(i % 2 ? alice : carol, trio, `racing ${i}`)));
    const { complete, replayed } = await resume(back, n);
    expect(replayed.some((f) => early.some((m) => m.message_id === f.message?.message_id))).toBe(false);
    const more = await Promise.all(Array.from({ length: 20 }, (_, i) => send(alice, pair, `after ${i}`)));
    await racing;
    const newest = s.server.core.journal.lastEventId();
    expect(more.length).toBe(20);
    await reached(back, newest);

    const ids = back.all(hasEventId).map((f) => f.event_id);
    expect(new Set(ids).size).toBe(ids.length); // no duplicate
    expect([...ids].sort((a, b) => a - b)).toEqual(visibleIds(bob.user_id, n)); // no gap
    // Everything after resume_complete is newer than it, in order.
    const afterComplete = back.frames.slice(back.frames.indexOf(complete) + 1).filter(hasEventId).map((f) => f.event_id);
    expect(afterComplete.every((id) => id > complete.last_event_id)).toBe(true);
    expect(afterComplete).toEqual([...afterComplete].sort((a, b) => a - b));
    await back.close();
  });

  test("resuming from the newest event replays nothing", async () => {
    const c = await pool.as(s, bob);
    const { replayed, complete } = await resume(c, c.lastEventId);
    expect(replayed).toEqual([]);
    expect(complete.last_event_id).toBe(c.lastEventId);
    await c.close();
  });

  test("the replay covers conversations the connection unsubscribed from, without repeating what came live", async () => {
    const c = await pool.as(s, bob);
    await c.request({ type: "unsubscribe", conversation_ids: [pair] });
    const inPair = await send(alice, pair, "while pair unsubscribed");
    const inTrio = await send(alice, trio, "trio stays subscribed");
    const own = await send(bob, pair, "bob's own, from another device"); // reaches c directly
    await c.waitFor((f) => f.message?.message_id === inTrio.message_id);
    await c.waitFor((f) => f.message?.message_id === own.message_id);
    expect(c.all((f) => f.message?.message_id === inPair.message_id)).toEqual([]);

    const { replayed } = await resume(c, c.lastEventId);
    expect(replayed.map((f) => f.message?.message_id)).toEqual([inPair.message_id]);
    await c.close();
  });

  test("a removed user is replayed their removal, and nothing of the conversation after it", async () => {
    const g = ok(await s.post("/api/v1/conversations", alice.token, { conversation_type: "group", title: "soon without dave", participant_ids: [dave.user_id] }), 201).conversation_id;
    const d = await pool.as(s, dave);
    const n = d.lastEventId;
    await d.close();
    ok(await s.post(`/api/v1/conversations/${g}/participants`, alice.token, { action: "remove", user_ids: [dave.user_id] }));
    await send(alice, g, "dave cannot see this");
    const back = await pool.as(s, dave);
    const { replayed } = await resume(back, n);
    const here = replayed.filter((f) => f.conversation_id === g);
    expect(here.map((f) => f.type)).toEqual(["participants_changed"]);
    expect(here[0]!.removed_user_ids).toEqual([dave.user_id]);
    await back.close();
  });

  test("resync_required: a position past the newest event", async () => {
    const c = await pool.as(s, bob);
    const r = await c.request({ type: "resume", last_event_id: s.server.core.journal.lastEventId() + 1000 });
    expect(r.type).toBe("resync_required");
    // The socket stays usable; events keep coming live.
    const m = await send(alice, pair, "after resync");
    await c.waitFor((f) => f.message?.message_id === m.message_id);
    await c.close();
  });

  test("a malformed resume: VALIDATION_ERROR naming last_event_id", async () => {
    const c = await pool.as(s, bob);
    for (const bad of [{}, { last_event_id: "5" }, { last_event_id: -1 }, { last_event_id: 1.5 }, { last_event_id: null }, { last_event_id: 2 ** 60 }]) {
      const r = await c.request({ type: "resume", ...bad });
      expect(r.type).toBe("error");
      expect(r.error.code).toBe("VALIDATION_ERROR");
      expect(r.error.details[0].field).toBe("last_event_id");
    }
    expect(c.isOpen).toBe(true);
    await c.close();
  });
});

describe("across a server restart", () => {
  test("a restart in between changes nothing: ids keep growing, the replay spans both runs", async () => {
    const stayer1 = await pool.as(s, bob);
    const leaver = await pool.as(s, bob);
    const n = leaver.lastEventId;
    await leaver.close();
    await activity(30, "before-restart");
    const beforeStop = s.server.core.journal.lastEventId();
    await reached(stayer1, visibleIds(bob.user_id, n).at(-1)!);
    const seenBefore = stayer1.all((f) => hasEventId(f) && f.event_id > n);

    await pool.closeAll();
    await s.stop();
    s = await startTestServer({ registration: "open", dataDir });
    expect(s.server.core.journal.lastEventId()).toBe(beforeStop);

    const stayer2 = await pool.as(s, bob); // tokens survive: the secret lives in the data dir
    expect(stayer2.lastEventId).toBe(beforeStop);
    await activity(30, "after-restart");
    const newest = s.server.core.journal.lastEventId();
    await reached(stayer2, visibleIds(bob.user_id, n).at(-1)!);
    const seenAfter = stayer2.all((f) => hasEventId(f));
    expect(seenAfter[0]!.event_id).toBeGreaterThan(beforeStop);

    const back = await pool.as(s, bob);
    const { replayed, complete } = await resume(back, n);
    expect(replayed.map(summary)).toEqual([...seenBefore, ...seenAfter].map(summary));
    expect(replayed).toEqual([...seenBefore, ...seenAfter]);
    expect(complete.last_event_id).toBe(newest);
    await pool.closeAll();
  }, 20_000);
});

describe("retention", () => {
  test("after pruning, a position older than the window gets resync_required; a recent one still resumes", async () => {
    const c = await pool.as(s, bob);
    const old = c.lastEventId;
    await send(alice, pair, "soon pruned");
    const kept = s.server.core.journal.lastEventId();
    // Everything recorded so far falls out of the retention window.
    const pruned = s.server.core.journal.prune(Date.now() + s.server.core.journal.retentionMs + 1000);
    expect(pruned).toBeGreaterThan(0);
    const r = await c.request({ type: "resume", last_event_id: old });
    expect(r.type).toBe("resync_required");
    expect((await c.request({ type: "resume", last_event_id: 0 })).type).toBe("resync_required");
    // A client that had seen everything before the prune misses nothing: it may resume.
    await c.close();
    const m = await send(alice, pair, "after the prune");
    const back = await pool.as(s, bob);
    const { replayed } = await resume(back, kept);
    expect(replayed.map((f) => f.message?.message_id)).toEqual([m.message_id]);
    await back.close();
  });

  test("eventRetentionSeconds drives the window", async () => {
    const short = await startTestServer({ registration: "open", eventRetentionSeconds: 1 });
    try {
      const [u, v] = await Promise.all([short.register(), short.register()]);
      const conv = ok(await short.post("/api/v1/conversations", u.token, { conversation_type: "direct", participant_ids: [v.user_id] }), 201).conversation_id;
      ok(await short.post(`/api/v1/conversations/${conv}/messages`, u.token, { message_type: "text", content: "old news" }), 201);
      expect(short.server.core.journal.prune(Date.now())).toBe(0); // still inside the window
      expect(short.server.core.journal.prune(Date.now() + 1500)).toBeGreaterThan(0);
      const c = pool.track(await (await import("./ws-client")).connectAs(short, v));
      expect((await c.request({ type: "resume", last_event_id: 0 })).type).toBe("resync_required");
      await c.close();
    } finally {
      await short.stop();
    }
  });
});

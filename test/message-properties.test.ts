/**
 * Model-based property test of a group conversation (CONTRACT §7): random sequences of send
 * (sometimes resending a client_message_id), edit, delete, react, unreact, read, leave and
 * re-add by 3–4 users, run over real HTTP against the real server, then compared with a small
 * in-memory model: history paged both ways with small limits is in send order with no gap or
 * duplicate, tombstones are tombstones, reactions, unread counts, read markers and delivery
 * status match, and those who left get 404.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import fc from "fast-check";
import { startTestServer, type Res, type TestServer, type TestUser } from "./harness";

let s: TestServer;
let people: TestUser[];

beforeAll(async () => {
  s = await startTestServer({ registration: "open" });
  people = await Promise.all([0, 1, 2, 3].map(() => s.register()));
});
afterAll(async () => {
  await s?.stop();
});

type Cmd =
  | { t: "send"; u: number; text: string; cid: string | null }
  | { t: "edit"; u: number; k: number; text: string }
  | { t: "delete"; u: number; k: number }
  | { t: "react"; u: number; k: number; emoji: string }
  | { t: "unreact"; u: number; k: number; emoji: string }
  | { t: "read"; u: number; k: number }
  | { t: "leave"; u: number }
  | { t: "rejoin"; u: number };

interface MMsg {
  id: string;
  sender: number;
  content: string | null;
  deleted: boolean;
  reactions: Map<string, Set<number>>;
}

interface Model {
  msgs: MMsg[];
  members: Set<number>;
  /** Index of the newest message each user has read; -1 for none. */
  read: number[];
  /** "<user>:<client_message_id>" → message index. */
  byClientId: Map<string, number>;
}

const EMOJI = ["👍", "❤️", "😂"];
const text = fc.string({ unit: "grapheme", minLength: 1, maxLength: 12 }).filter((x) => x.trim() !== "");
const user = fc.nat({ max: 3 });
const k = fc.nat({ max: 30 });
const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.constant("send" as const), u: user, text, cid: fc.option(fc.constantFrom("x", "y", "z"), { freq: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("edit" as const), u: user, k, text }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("delete" as const), u: user, k }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("react" as const), u: user, k, emoji: fc.constantFrom(...EMOJI) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("unreact" as const), u: user, k, emoji: fc.constantFrom(...EMOJI) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("read" as const), u: user, k }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("leave" as const), u: user }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("rejoin" as const), u: user }) },
);

function expectStatus(r: Res, status: number, what: string) {
  if (r.status !== status) throw new Error(`${what}: expected ${status}, got ${r.status} ${r.text}`);
}

function unread(m: Model, u: number): number {
  return m.msgs.filter((x, i) => i > m.read[u]! && x.sender !== u && !x.deleted).length;
}

/** `read` when every current participant but the sender has read it (nobody else: read too). */
function status(m: Model, i: number): string {
  const others = [...m.members].filter((u) => u !== m.msgs[i]!.sender);
  return others.every((u) => m.read[u]! >= i) ? "read" : "sent";
}

function reactionsOf(x: MMsg): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [emoji, users] of x.reactions) if (users.size) out[emoji] = [...users].map((u) => people[u]!.user_id).sort((a, b) => a - b);
  return out;
}

function sortedReactions(r: Record<string, number[]>): Record<string, number[]> {
  return Object.fromEntries(Object.entries(r).map(([e, us]) => [e, [...us].sort((a, b) => a - b)]));
}

async function step(conv: number, m: Model, c: Cmd) {
  const me = people[c.u]!;
  const member = m.members.has(c.u);
  const target = "k" in c && m.msgs.length ? c.k % m.msgs.length : -1;
  const msg = target >= 0 ? m.msgs[target]! : null;
  const what = `${JSON.stringify(c)} (member: ${member})`;
  switch (c.t) {
    case "send": {
      const r = await s.post(`/api/v1/conversations/${conv}/messages`, me.token, {
        message_type: "text",
        content: c.text,
        ...(c.cid ? { client_message_id: c.cid } : {}),
      });
      if (!member) return expectStatus(r, 404, what);
      const key = `${c.u}:${c.cid}`;
      const earlier = c.cid ? m.byClientId.get(key) : undefined;
      if (earlier !== undefined) {
        expectStatus(r, 200, what);
        if (r.body.message_id !== m.msgs[earlier]!.id) throw new Error(`${what}: a resend made a new message`);
        return;
      }
      expectStatus(r, 201, what);
      if (r.body.content !== c.text) throw new Error(`${what}: content came back as ${JSON.stringify(r.body.content)}`);
      m.msgs.push({ id: r.body.message_id, sender: c.u, content: c.text, deleted: false, reactions: new Map() });
      m.read[c.u] = m.msgs.length - 1;
      if (c.cid) m.byClientId.set(key, m.msgs.length - 1);
      return;
    }
    case "edit": {
      if (!msg) return;
      const r = await s.put(`/api/v1/messages/${msg.id}`, me.token, { content: c.text });
      if (!member || msg.sender !== c.u) return expectStatus(r, 403, what);
      if (msg.deleted) return expectStatus(r, 404, what);
      expectStatus(r, 200, what);
      msg.content = c.text;
      return;
    }
    case "delete": {
      if (!msg) return;
      const r = await s.del(`/api/v1/messages/${msg.id}`, me.token);
      if (!member || msg.sender !== c.u) return expectStatus(r, 403, what);
      expectStatus(r, 200, what);
      msg.deleted = true;
      msg.content = null;
      msg.reactions.clear();
      return;
    }
    case "react":
    case "unreact": {
      if (!msg) return;
      const path = `/api/v1/messages/${msg.id}/reactions`;
      const r = c.t === "react" ? await s.post(path, me.token, { emoji: c.emoji }) : await s.del(`${path}/${encodeURIComponent(c.emoji)}`, me.token);
      if (!member) return expectStatus(r, 403, what);
      if (msg.deleted) return expectStatus(r, 404, what);
      expectStatus(r, 200, what);
      if (!msg.reactions.has(c.emoji)) msg.reactions.set(c.emoji, new Set());
      if (c.t === "react") msg.reactions.get(c.emoji)!.add(c.u);
      else msg.reactions.get(c.emoji)!.delete(c.u);
      expect(sortedReactions(r.body.reactions)).toEqual(reactionsOf(msg));
      return;
    }
    case "read": {
      if (!msg) return;
      const r = await s.post(`/api/v1/conversations/${conv}/read`, me.token, { message_id: msg.id });
      if (!member) return expectStatus(r, 404, what);
      expectStatus(r, 200, what);
      m.read[c.u] = Math.max(m.read[c.u]!, target);
      return;
    }
    case "leave": {
      const r = await s.post(`/api/v1/conversations/${conv}/participants`, me.token, { action: "remove", user_ids: [me.user_id] });
      if (!member) return expectStatus(r, 404, what);
      expectStatus(r, 200, what);
      m.members.delete(c.u);
      return;
    }
    case "rejoin": {
      if (member || m.members.size === 0) return;
      // Whoever the server made admin (the creator, or whom it promoted) adds them back.
      const any = people[[...m.members][0]!]!;
      const info = await s.get(`/api/v1/conversations/${conv}`, any.token);
      expectStatus(info, 200, what);
      const admins = info.body.participants.filter((p: any) => p.role === "admin");
      if (admins.length !== 1) throw new Error(`${what}: expected exactly one admin, got ${JSON.stringify(info.body.participants)}`);
      const admin = people.find((p) => p.user_id === admins[0].user_id)!;
      const r = await s.post(`/api/v1/conversations/${conv}/participants`, admin.token, { action: "add", user_ids: [me.user_id] });
      expectStatus(r, 200, what);
      m.members.add(c.u);
      // Joining starts the read marker at the conversation's latest message.
      m.read[c.u] = m.msgs.length - 1;
      return;
    }
  }
}

/** Page through the history as `u`; `first` is the first query, then next_cursor. */
async function pages(conv: number, u: TestUser, first: string, limit: number): Promise<any[]> {
  const out: any[] = [];
  let query = `?limit=${limit}${first}`;
  for (let i = 0; i < 100; i++) {
    const r = await s.get(`/api/v1/conversations/${conv}/messages${query}`, u.token);
    expectStatus(r, 200, `history ${query}`);
    if (r.body.messages.length > limit) throw new Error(`page larger than ${limit}`);
    out.push(...r.body.messages);
    if (!r.body.has_more) {
      if (r.body.next_cursor !== null) throw new Error("next_cursor without has_more");
      return out;
    }
    query = `?limit=${limit}&cursor=${r.body.next_cursor}`;
  }
  throw new Error("history paging did not end");
}

async function check(conv: number, m: Model, n: number, limit: number) {
  const expected = m.msgs.map((x, i) => ({
    message_id: x.id,
    sender_id: people[x.sender]!.user_id,
    content: x.content,
    deleted: x.deleted,
    reactions: reactionsOf(x),
    delivery_status: status(m, i),
  }));
  const shape = (x: any) => ({
    message_id: x.message_id,
    sender_id: x.sender_id,
    content: x.content,
    deleted: x.deleted,
    reactions: sortedReactions(x.reactions),
    delivery_status: x.delivery_status,
  });
  for (let u = 0; u < n; u++) {
    const me = people[u]!;
    if (!m.members.has(u)) {
      expectStatus(await s.get(`/api/v1/conversations/${conv}/messages`, me.token), 404, `history of user ${u} who left`);
      expectStatus(await s.get(`/api/v1/conversations/${conv}`, me.token), 404, `conversation of user ${u} who left`);
      continue;
    }
    const back = await pages(conv, me, "", limit);
    expect(back.map(shape)).toEqual([...expected].reverse());
    if (m.msgs.length) {
      const forward = await pages(conv, me, `&after=${m.msgs[0]!.id}`, limit);
      expect(forward.map((x) => x.message_id)).toEqual(m.msgs.slice(1).map((x) => x.id));
    }
    const c = await s.get(`/api/v1/conversations/${conv}`, me.token);
    expectStatus(c, 200, `conversation of member ${u}`);
    expect({ user: u, unread: c.body.unread_count, marker: c.body.last_read_message_id }).toEqual({
      user: u,
      unread: unread(m, u),
      marker: m.read[u]! >= 0 ? m.msgs[m.read[u]!]!.id : null,
    });
    expect(c.body.participants.map((p: any) => p.user_id).sort((a: number, b: number) => a - b)).toEqual(
      [...m.members].map((x) => people[x]!.user_id).sort((a, b) => a - b),
    );
    // The conversation is the newest activity of each of its members: the top of their list.
    const top = await s.get("/api/v1/conversations?limit=1", me.token);
    expect(top.body.conversations[0]).toEqual(c.body);
  }
}

test("a group conversation behaves like the model under random operations", async () => {
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 3, max: 4 }), fc.array(cmd, { maxLength: 25 }), fc.integer({ min: 1, max: 5 }), async (n, cmds, limit) => {
      runs++;
      const created = await s.post("/api/v1/conversations", people[0]!.token, {
        conversation_type: "group",
        title: "prop",
        participant_ids: people.slice(1, n).map((p) => p.user_id),
      });
      expectStatus(created, 201, "create");
      const conv = created.body.conversation_id as number;
      const m: Model = { msgs: [], members: new Set(Array.from({ length: n }, (_, i) => i)), read: Array(n).fill(-1), byClientId: new Map() };
      for (const c of cmds) await step(conv, m, { ...c, u: c.u % n });
      await check(conv, m, n, limit);
    }),
    { numRuns: 100 },
  );
  expect(runs).toBeGreaterThanOrEqual(100);
}, 60_000);

/**
 * Durability (CONTRACT §7: "the response comes after the message is durably committed"): a real
 * server process is killed with SIGKILL while 16 clients send as fast as they can; after a
 * restart on the same data dir every send that was acknowledged with 201 is in the history
 * exactly once, in each sender's order, and resending any client_message_id is still
 * idempotent.
 */
import { afterAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { BUN, CLI, http, killAll, spawnServer, type ServerProcess } from "./process";
import { tempDir } from "./harness";

const dir = tempDir("confab-crash-");
afterAll(() => {
  killAll();
  rmSync(dir, { recursive: true, force: true });
});

const ENV = { CONFAB_AUTH_RATE_LIMIT: "100000", CONFAB_RATE_LIMIT: "100000000" };
const SENDERS = 16;
const USERS = 4;
/** How long the senders run before the kill. */
const KILL_AFTER_MS = 1500;

function serve(): Promise<ServerProcess> {
  return spawnServer([BUN, CLI, "serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", dir, "--registration", "open"], { env: ENV });
}

interface Attempt {
  sender: number;
  n: number; // position in this sender's sequence
  conversation: number;
  user: number;
  cid: string;
  /** message_id when acknowledged with 201; undefined when the answer never came. */
  id?: string;
}

async function historyOf(base: string, conversation: number, token: string): Promise<any[]> {
  const out: any[] = [];
  let query = "?limit=100";
  for (let i = 0; i < 1000; i++) {
    const r = await http(base, "GET", `/api/v1/conversations/${conversation}/messages${query}`, undefined, token);
    if (r.status !== 200) throw new Error(`history: ${r.status} ${r.text}`);
    out.push(...r.body.messages);
    if (!r.body.has_more) return out.reverse(); // oldest first
    query = `?limit=100&cursor=${r.body.next_cursor}`;
  }
  throw new Error("history paging did not end");
}

test("every acknowledged send survives SIGKILL exactly once; resends stay idempotent after a restart", async () => {
  let server = await serve();
  const base1 = server.url;

  const users: { id: number; token: string }[] = [];
  for (let i = 0; i < USERS; i++) {
    const tag = `${Date.now().toString(36)}${i}`;
    const r = await http(base1, "POST", "/api/v1/auth/register", {
      email: `crash${tag}@example.test`,
      username: `crash${tag}`,
      password: `pw-${tag}-secret`,
      first_name: "Crash",
      last_name: `Tester${i}`,
    });
    expect(r.status).toBe(201);
    users.push({ id: r.body.user.user_id, token: r.body.access_token });
  }
  // One conversation per user, everyone in each: four senders per conversation, one per user.
  const conversations: number[] = [];
  for (let c = 0; c < USERS; c++) {
    const others = users.filter((_, i) => i !== c).map((u) => u.id);
    const r = await http(base1, "POST", "/api/v1/conversations", { conversation_type: "group", title: `crash ${c}`, participant_ids: others }, users[c]!.token);
    expect(r.status).toBe(201);
    conversations.push(r.body.conversation_id);
  }

  const attempts: Attempt[] = [];
  const unexpected: string[] = [];
  let stop = false;
  async function sender(s: number) {
    const user = s % USERS;
    const conversation = conversations[Math.floor(s / USERS) % USERS]!;
    for (let n = 0; !stop && n < 100_000; n++) {
      const a: Attempt = { sender: s, n, conversation, user, cid: `s${s}-${n}` };
      attempts.push(a);
      try {
        const r = await http(base1, "POST", `/api/v1/conversations/${conversation}/messages`, { message_type: "text", content: `sender ${s} message ${n}`, client_message_id: a.cid }, users[user]!.token);
        if (r.status === 201) a.id = r.body.message_id;
        else unexpected.push(`${a.cid}: ${r.status} ${r.text}`);
      } catch {
        return; // the server is gone: this answer never came
      }
    }
  }
  const running = Array.from({ length: SENDERS }, (_, s) => sender(s));
  await Bun.sleep(KILL_AFTER_MS);
  server.proc.kill("SIGKILL");
  stop = true;
  await Promise.all(running);
  expect(await server.proc.exited).not.toBe(0);
  expect(server.proc.signalCode).toBe("SIGKILL");

  const acked = attempts.filter((a) => a.id !== undefined);
  const unanswered = attempts.filter((a) => a.id === undefined);
  expect(unexpected).toEqual([]);
  // The kill really came mid-stream: plenty acknowledged, some still in flight.
  expect(acked.length).toBeGreaterThan(100);
  expect(unanswered.length).toBeGreaterThan(0);
  expect(unanswered.length).toBeLessThanOrEqual(SENDERS);

  server = await serve();
  const base2 = server.url;
  const reader = users[0]!.token;
  const byCid = new Map(attempts.map((a) => [`${a.conversation}:${a.cid}`, a]));
  const found = new Map<string, any>(); // "<conversation>:<cid>" → message
  for (const conversation of conversations) {
    const history = await historyOf(base2, conversation, reader);
    const ids = history.map((m) => m.message_id);
    expect(new Set(ids).size).toBe(ids.length);
    const lastPerSender = new Map<number, number>();
    for (const m of history) {
      const key = `${conversation}:${m.client_message_id}`;
      const a = byCid.get(key);
      // Nothing appears that nobody sent, and nothing twice.
      expect(a, `unexpected message ${JSON.stringify(m)}`).toBeDefined();
      expect(found.has(key), `duplicate of ${key}`).toBe(false);
      found.set(key, m);
      expect(m.sender_id).toBe(users[a!.user]!.id);
      expect(m.content).toBe(`sender ${a!.sender} message ${a!.n}`);
      // Each sender's messages are stored in the order they were sent.
      expect(a!.n).toBeGreaterThan(lastPerSender.get(a!.sender) ?? -1);
      lastPerSender.set(a!.sender, a!.n);
    }
  }
  const lost = acked.filter((a) => found.get(`${a.conversation}:${a.cid}`)?.message_id !== a.id);
  expect(lost.map((a) => a.cid)).toEqual([]);
  // Unacknowledged sends may or may not have made it, but nothing after them did: each sender
  // stopped at its first unanswered send.
  for (const a of unanswered) expect(attempts.some((b) => b.sender === a.sender && b.n > a.n)).toBe(false);

  const send = (a: Attempt) =>
    http(base2, "POST", `/api/v1/conversations/${a.conversation}/messages`, { message_type: "text", content: "resent", client_message_id: a.cid }, users[a.user]!.token);
  // Resending acknowledged ids returns the original message.
  for (const a of acked.filter((_, i) => i % Math.ceil(acked.length / 8) === 0)) {
    const r = await send(a);
    expect(r.status).toBe(200);
    expect(r.body.message_id).toBe(a.id);
    expect(r.body.content).toBe(`sender ${a.sender} message ${a.n}`);
  }
  // Resending the unanswered ones: 200 with the stored message if the commit made it, else 201.
  for (const a of unanswered) {
    const stored = found.get(`${a.conversation}:${a.cid}`);
    const r = await send(a);
    if (stored) {
      expect(r.status).toBe(200);
      expect(r.body.message_id).toBe(stored.message_id);
    } else {
      expect(r.status).toBe(201);
    }
    // And again: from now on it is always the same message.
    const again = await send(a);
    expect(again.status).toBe(200);
    expect(again.body.message_id).toBe(r.body.message_id);
  }
  // After all the resends, still exactly one message per client_message_id.
  for (const conversation of conversations) {
    const cids = (await historyOf(base2, conversation, reader)).map((m) => `${m.sender_id}:${m.client_message_id}`);
    expect(new Set(cids).size).toBe(cids.length);
  }
  expect((await server.stop()).code).toBe(0);
}, 60_000);

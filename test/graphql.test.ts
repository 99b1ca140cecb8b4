/**
 * GraphQL end to end (CONTRACT §9, issue #5): real clients against the real server on
 * 127.0.0.1 — fetch for GraphQL over HTTP (GET and POST) and Server-Sent Events, graphql-ws's
 * own client for the graphql-transport-ws protocol, a plain WebSocket for /v1/connect — and
 * graphql-http's compliance audit. Nothing of ours is mocked. The batching proof counts the
 * SQL statements bun:sqlite executes while one request is resolved, by wrapping the library's
 * native statement methods for the length of that request.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Statement } from "bun:sqlite";
import { createClient, type Client } from "graphql-ws";
import { auditServer } from "graphql-http";
import { eventually, startTestServer, uniq, type TestServer, type TestUser } from "./harness";

// ---------------------------------------------------------------------------------- clients

interface GqlRes {
  status: number;
  headers: Headers;
  body: any;
}

/** One GraphQL operation over POST /graphql. */
async function gql(s: TestServer, token: string | null, query: string, variables?: Record<string, unknown>, headers: Record<string, string> = {}): Promise<GqlRes> {
  const h: Record<string, string> = { "content-type": "application/json", accept: "application/graphql-response+json, application/json", ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  const res = await fetch(`${s.url}/graphql`, { method: "POST", headers: h, body: JSON.stringify({ query, variables }) });
  const text = await res.text();
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    body = { text };
  }
  return { status: res.status, headers: res.headers, body };
}

/** `data` of an operation that must succeed without errors. */
async function data(s: TestServer, token: string, query: string, variables?: Record<string, unknown>): Promise<any> {
  const r = await gql(s, token, query, variables);
  if (r.status !== 200 || r.body.errors) throw new Error(`GraphQL failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.data;
}

/** The first error's extensions.code (and the error list when it is not there). */
function codeOf(r: GqlRes): string {
  const code = r.body?.errors?.[0]?.extensions?.code;
  if (!code) throw new Error(`expected a GraphQL error, got ${r.status} ${JSON.stringify(r.body)}`);
  return code;
}

/**
 * What a subscription delivered, in order: each result of the stream (`{data}` or `{errors}`),
 * whether it completed, and how it failed. Both transports feed the same collector.
 */
class Sub {
  readonly results: any[] = [];
  private taken = 0;
  done = false;
  failure: unknown = null;
  private wake: (() => void) | null = null;

  constructor(readonly close: () => void) {}

  push(r: any) {
    this.results.push(r);
    this.wake?.();
  }
  end(failure: unknown = null) {
    this.done = true;
    this.failure ??= failure;
    this.wake?.();
  }

  /** The next result not yet taken; fails after `timeoutMs` or when the stream ended first. */
  async next(timeoutMs = 3000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    while (this.taken >= this.results.length) {
      if (this.done) throw new Error(`subscription ended: ${describeFailure(this.failure)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no subscription event within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = null;
    }
    return this.results[this.taken++];
  }

  /** `data[field]` of the next result, which must carry no errors. */
  async nextData(field: string, timeoutMs?: number): Promise<any> {
    const r = await this.next(timeoutMs);
    if (r.errors) throw new Error(`subscription error: ${JSON.stringify(r.errors)}`);
    return r.data[field];
  }

  /** Nothing more arrives within `ms`. */
  async expectNothing(ms = 300) {
    await Bun.sleep(ms);
    expect(this.results.slice(this.taken)).toEqual([]);
  }

  /** Wait until the stream ended (an error or completion). */
  async ended(timeoutMs = 3000) {
    await eventually(() => (this.done ? true : undefined), timeoutMs, "the subscription to end");
  }
}

function describeFailure(f: unknown): string {
  if (f && typeof f === "object" && "code" in f) return `close ${(f as CloseEvent).code} ${(f as CloseEvent).reason}`;
  return JSON.stringify(f);
}

const wsUrl = (s: TestServer, path: string) => s.url.replace(/^http/, "ws") + path;

/** A graphql-ws client; `authorization` goes into connectionParams as given. */
function wsClient(s: TestServer, authorization?: string): Client {
  return createClient({
    url: wsUrl(s, "/graphql"),
    connectionParams: authorization === undefined ? undefined : { authorization },
    retryAttempts: 0,
    lazy: true,
    lazyCloseTimeout: 0,
  });
}

function subscribeWs(client: Client, query: string, variables?: Record<string, unknown>): Sub {
  let dispose = () => {};
  const sub = new Sub(() => dispose());
  dispose = client.subscribe({ query, variables }, { next: (r) => sub.push(r), error: (e) => sub.end(e ?? "error"), complete: () => sub.end() });
  return sub;
}

/** A subscription over Server-Sent Events: POST /graphql with Accept: text/event-stream. */
function subscribeSse(s: TestServer, token: string, query: string, variables?: Record<string, unknown>): Sub {
  const abort = new AbortController();
  const sub = new Sub(() => abort.abort());
  void (async () => {
    const res = await fetch(`${s.url}/graphql`, {
      method: "POST",
      signal: abort.signal,
      headers: { "content-type": "application/json", accept: "text/event-stream", authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
    if (res.status !== 200 || !res.headers.get("content-type")?.startsWith("text/event-stream")) return sub.end({ status: res.status, body: await res.text() });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      for (let i = buffer.indexOf("\n\n"); i >= 0; i = buffer.indexOf("\n\n")) {
        const block = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const payload = block
          .split("\n")
          .filter((l) => l.startsWith("data:"))
          .map((l) => l.slice(5).trimStart())
          .join("\n");
        if (event === "next") sub.push(JSON.parse(payload));
        if (event === "complete") return sub.end();
      }
    }
    sub.end();
  })().catch((e) => {
    if (!abort.signal.aborted) sub.end(String(e));
  });
  return sub;
}

/**
 * Handlers on the in-process event bus for `event`. Read only, never changed: a subscription
 * is live once its handler is there, so a test can wait for that instead of sleeping.
 */
function busListeners(s: TestServer, event: string): number {
  return (s.server.core.bus as unknown as { handlers: Map<string, Set<unknown>> }).handlers.get(event)?.size ?? 0;
}

/** Start a subscription with `start` and wait until the server listens for `event` on its behalf. */
async function live(s: TestServer, event: string, start: () => Sub): Promise<Sub> {
  const before = busListeners(s, event);
  const sub = start();
  await eventually(() => (busListeners(s, event) > before || sub.done ? true : undefined), 3000, `a ${event} listener`);
  if (sub.done) throw new Error(`subscription ended before it was live: ${describeFailure(sub.failure)} ${JSON.stringify(sub.results)}`);
  return sub;
}

/** A minimal /v1/connect client: authenticates, then buffers frames. */
class Connect {
  readonly frames: any[] = [];
  private constructor(readonly ws: WebSocket) {
    ws.addEventListener("message", (e) => this.frames.push(JSON.parse(String(e.data))));
  }
  static async as(s: TestServer, user: TestUser): Promise<Connect> {
    const ws = new WebSocket(wsUrl(s, "/v1/connect"));
    const c = new Connect(ws);
    await new Promise((resolve, reject) => {
      ws.addEventListener("open", resolve);
      ws.addEventListener("close", () => reject(new Error("closed before open")));
    });
    ws.send(JSON.stringify({ type: "auth", token: user.token }));
    await c.waitFor((f) => f.type === "auth_success");
    return c;
  }
  waitFor(pred: (f: any) => boolean, timeoutMs = 3000): Promise<any> {
    return eventually(() => this.frames.find(pred), timeoutMs, "a /v1/connect frame");
  }
  send(frame: Record<string, unknown>) {
    this.ws.send(JSON.stringify(frame));
  }
  async close() {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    const closed = new Promise((resolve) => this.ws.addEventListener("close", resolve));
    this.ws.close();
    await closed;
  }
}

// ---------------------------------------------------------------------------------- fixtures

const SEND = `mutation Send($input: SendMessageInput!) {
  sendMessage(input: $input) { message { id content clientMessageId createdAt deliveryStatus sender { id firstName } replyTo { id content } } errors { field message } }
}`;

const CREATE = `mutation Create($input: CreateConversationInput!) {
  createConversation(input: $input) { conversation { id type title participants { id } members { user { id } role } } errors { field message } }
}`;

/** The seed's GetConversations query, with a page size and cursor. */
const GET_CONVERSATIONS = `query GetConversations($first: Int, $after: String) {
  conversations(first: $first, after: $after) {
    edges { cursor node { id type title participants { id firstName lastName profilePictureUrl isOnline }
      lastMessage { id content sender { firstName } createdAt } unreadCount } }
    pageInfo { hasNextPage endCursor }
  }
}`;

async function send(s: TestServer, user: TestUser, conversationId: string | number, content: string, extra: Record<string, unknown> = {}) {
  const d = await data(s, user.token, SEND, { input: { conversationId: String(conversationId), content, ...extra } });
  expect(d.sendMessage.errors).toEqual([]);
  return d.sendMessage.message;
}

async function direct(s: TestServer, a: TestUser, b: TestUser): Promise<string> {
  const d = await data(s, a.token, CREATE, { input: { type: "DIRECT", participantIds: [String(b.user_id)] } });
  expect(d.createConversation.errors).toEqual([]);
  return d.createConversation.conversation.id;
}

async function group(s: TestServer, admin: TestUser, others: TestUser[], title = "Team"): Promise<string> {
  const d = await data(s, admin.token, CREATE, { input: { type: "GROUP", title, participantIds: others.map((o) => String(o.user_id)) } });
  expect(d.createConversation.errors).toEqual([]);
  return d.createConversation.conversation.id;
}

// ---------------------------------------------------------------------------------- suites

let s: TestServer;
let alice: TestUser, bob: TestUser, carol: TestUser, dave: TestUser;
/** Users for the conversation lists: 50 partners. */
let pool: TestUser[];
const clients: { close(): void | Promise<void> }[] = [];

beforeAll(async () => {
  s = await startTestServer({ registration: "open", logLevel: "warn" });
  [alice, bob, carol, dave] = await Promise.all([
    s.register({ first_name: "Alice", last_name: "Archer" }),
    s.register({ first_name: "Bob", last_name: "Baker" }),
    s.register({ first_name: "Carol", last_name: "Cooper" }),
    s.register({ first_name: "Dave", last_name: "Dyer" }),
  ]);
  pool = await Promise.all(Array.from({ length: 50 }, (_, i) => s.register({ first_name: `Pal${i}` })));
}, 30_000);

afterAll(async () => {
  for (const c of clients) await c.close();
  await s?.stop();
}, 15_000);

/** Remember a client so afterAll closes it even when a test fails half-way. */
function track<T extends { close(): void | Promise<void> }>(c: T): T {
  clients.push(c);
  return c;
}
const trackClient = (c: Client) => (track({ close: () => c.dispose() }), c);

describe("queries", () => {
  test("me and user(id): camelCase profile fields; an unknown user is null", async () => {
    const d = await data(s, alice.token, `query($id: ID!) { me { id username firstName lastName profilePictureUrl statusMessage lastActiveAt isOnline } user(id: $id) { id firstName } nobody: user(id: "999999") { id } }`, {
      id: String(bob.user_id),
    });
    expect(d.me).toMatchObject({ id: String(alice.user_id), username: alice.username, firstName: "Alice", lastName: "Archer", profilePictureUrl: null, isOnline: false });
    expect(d.user).toEqual({ id: String(bob.user_id), firstName: "Bob" });
    expect(d.nobody).toBeNull();
  });

  test("GET /graphql?query= answers queries; a mutation over GET is 405", async () => {
    const q = encodeURIComponent("{ me { id } }");
    const r = await fetch(`${s.url}/graphql?query=${q}`, { headers: { authorization: `Bearer ${alice.token}` } });
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ data: { me: { id: String(alice.user_id) } } });

    const m = encodeURIComponent('mutation { updatePresence(status: AWAY) { status } }');
    const refused = await fetch(`${s.url}/graphql?query=${m}`, { headers: { authorization: `Bearer ${alice.token}` } });
    expect(refused.status).toBe(405);
    expect(refused.headers.get("allow")).toContain("POST");
  });

  test("introspection is on and enums are UPPER_CASE", async () => {
    const d = await data(s, alice.token, `{
      __schema { queryType { name } mutationType { name } subscriptionType { name } }
      conversationType: __type(name: "ConversationType") { enumValues { name } }
      messageType: __type(name: "MessageType") { enumValues { name } }
      deliveryStatus: __type(name: "DeliveryStatus") { enumValues { name } }
      presenceStatus: __type(name: "PresenceStatus") { enumValues { name } }
    }`);
    expect(d.__schema).toEqual({ queryType: { name: "Query" }, mutationType: { name: "Mutation" }, subscriptionType: { name: "Subscription" } });
    const names = (t: any) => t.enumValues.map((v: any) => v.name);
    expect(names(d.conversationType)).toEqual(["DIRECT", "GROUP"]);
    expect(names(d.messageType)).toEqual(["TEXT", "IMAGE", "VIDEO", "AUDIO", "FILE"]);
    expect(names(d.deliveryStatus)).toEqual(["SENT", "DELIVERED", "READ"]);
    expect(names(d.presenceStatus)).toEqual(["ONLINE", "AWAY", "OFFLINE"]);
  });

  test("conversations: participants, lastMessage{sender}, unreadCount, paged by endCursor across 30", async () => {
    const owner = await s.register({ first_name: "Owner" });
    const partners = pool.slice(0, 30);
    const ids = await Promise.all(partners.map((p) => direct(s, owner, p)));
    // Each partner writes twice: two unread for the owner everywhere.
    await Promise.all(partners.map((p, i) => send(s, p, ids[i]!, `hello ${i}`).then(() => send(s, p, ids[i]!, `again ${i}`))));
    // The owner reads one conversation up to its last message.
    const read = await data(s, owner.token, `query($id: ID!) { conversation(id: $id) { lastMessage { id } } }`, { id: ids[0] });
    const mark = await data(s, owner.token, `mutation($c: ID!, $m: ID!) { markRead(conversationId: $c, messageId: $m) { success errors { field message } } }`, {
      c: ids[0],
      m: read.conversation.lastMessage.id,
    });
    expect(mark.markRead).toEqual({ success: true, errors: [] });

    const seen: any[] = [];
    let after: string | null = null;
    let pages = 0;
    for (; pages < 20; pages++) {
      const d: any = await data(s, owner.token, GET_CONVERSATIONS, { first: 7, after });
      const c = d.conversations;
      expect(c.edges.length).toBeLessThanOrEqual(7);
      seen.push(...c.edges.map((e: any) => e.node));
      if (c.edges.length) expect(c.pageInfo.endCursor).toBe(c.edges[c.edges.length - 1].cursor);
      if (!c.pageInfo.hasNextPage) break;
      after = c.pageInfo.endCursor;
    }
    expect(pages).toBe(4); // 7+7+7+7+2
    expect(seen.length).toBe(30);
    expect(new Set(seen.map((c) => c.id)).size).toBe(30);
    // The same order as the REST list (latest activity first).
    const rest = await s.get("/api/v1/conversations?limit=100", owner.token);
    expect(seen.map((c) => Number(c.id))).toEqual(rest.body.conversations.map((c: any) => c.conversation_id));
    for (const c of seen) {
      const i = ids.indexOf(c.id);
      expect(c.type).toBe("DIRECT");
      expect(c.title).toBeNull();
      expect(c.participants.map((p: any) => Number(p.id)).sort()).toEqual([owner.user_id, partners[i]!.user_id].sort());
      expect(c.lastMessage.content).toBe(`again ${i}`);
      expect(c.lastMessage.sender.firstName).toBe(`Pal${i}`);
      expect(c.unreadCount).toBe(i === 0 ? 0 : 2);
    }
  });

  test("lastMessage has every Message field, equal to the newest message of the history", async () => {
    const id = await group(s, bob, [alice, carol], "Last");
    const first = await send(s, bob, id, "first");
    const last = await send(s, alice, id, "second", { replyToMessageId: first.id, clientMessageId: "last-1" });
    await data(s, carol.token, `mutation($id: ID!) { addReaction(messageId: $id, emoji: "👀") { errors { field } } }`, { id: last.id });
    await data(s, alice.token, `mutation($id: ID!) { editMessage(id: $id, content: "second!") { errors { field } } }`, { id: last.id });
    const fields = `id conversationId type content deleted edited createdAt updatedAt clientMessageId deliveryStatus sender { id firstName }
      replyTo { id content } reactions { emoji count users { id } } mediaAttachments { fileId }`;
    const d = await data(s, bob.token, `query($id: ID!) {
      conversations(first: 100) { edges { node { id lastMessage { ${fields} } } } }
      conversation(id: $id) { lastMessage { ${fields} } messages(first: 1) { edges { node { ${fields} } } } }
    }`, { id });
    const fromHistory = d.conversation.messages.edges[0].node;
    expect(fromHistory).toMatchObject({ id: last.id, content: "second!", edited: true, clientMessageId: "last-1", replyTo: { id: first.id }, reactions: [{ emoji: "👀", count: 1 }] });
    expect(d.conversation.lastMessage).toEqual(fromHistory);
    expect(d.conversations.edges.find((e: any) => e.node.id === id).node.lastMessage).toEqual(fromHistory);
    // A deleted last message reads as a tombstone in the list too.
    await data(s, alice.token, `mutation($id: ID!) { deleteMessage(id: $id) { success } }`, { id: last.id });
    const after = await data(s, bob.token, `query($id: ID!) { conversation(id: $id) { lastMessage { id content deleted edited reactions { emoji } } } }`, { id });
    expect(after.conversation.lastMessage).toEqual({ id: last.id, content: null, deleted: true, edited: false, reactions: [] });
  });

  test("conversation(id).messages(first, after) walks newest first without duplicates", async () => {
    const id = await direct(s, alice, bob);
    const sent: string[] = [];
    for (let i = 0; i < 23; i++) sent.push((await send(s, i % 2 ? bob : alice, id, `m${i}`)).id);
    const got: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 10; page++) {
      const d: any = await data(s, alice.token, `query($id: ID!, $after: String) { conversation(id: $id) { id messages(first: 5, after: $after) { edges { cursor node { id content conversationId } } pageInfo { hasNextPage endCursor } } } }`, {
        id,
        after,
      });
      const m = d.conversation.messages;
      got.push(...m.edges.map((e: any) => e.node.id));
      for (const e of m.edges) expect(e.node.conversationId).toBe(id);
      if (!m.pageInfo.hasNextPage) break;
      after = m.pageInfo.endCursor;
    }
    expect(got).toEqual([...sent].reverse());
  });

  test("searchUsers by prefix; searchMessages finds only what the caller may see", async () => {
    const tag = `zq${uniq().replace(/[^a-z]/g, "")}`;
    const found = await data(s, alice.token, `query($q: String!) { searchUsers(query: $q, first: 5) { totalCount edges { cursor node { id username firstName } } pageInfo { hasNextPage } } }`, {
      q: carol.username.slice(0, -1),
    });
    expect(found.searchUsers.edges.map((e: any) => e.node.id)).toContain(String(carol.user_id));
    expect(found.searchUsers.totalCount).toBeGreaterThanOrEqual(1);

    const mine = await direct(s, alice, carol);
    const theirs = await direct(s, bob, dave);
    const hit = await send(s, alice, mine, `the ${tag} is here`);
    await send(s, bob, theirs, `secret ${tag} of others`);
    const q = `query($q: String!, $c: ID) { searchMessages(query: $q, conversationId: $c) { edges { node { id content conversationId } } } }`;
    const all = await data(s, alice.token, q, { q: tag });
    expect(all.searchMessages.edges.map((e: any) => e.node)).toEqual([{ id: hit.id, content: `the ${tag} is here`, conversationId: mine }]);
    const scoped = await data(s, alice.token, q, { q: tag, c: mine });
    expect(scoped.searchMessages.edges.length).toBe(1);
    // Naming someone else's conversation is NOT_FOUND, not an empty list that confirms it exists.
    expect(codeOf(await gql(s, alice.token, q, { q: tag, c: theirs }))).toBe("NOT_FOUND");
    const other = await data(s, dave.token, q, { q: tag });
    expect(other.searchMessages.edges.map((e: any) => e.node.conversationId)).toEqual([theirs]);
  });
});

describe("mutations", () => {
  test("createConversation: direct (existing one returned), group with roles, payload errors", async () => {
    const first = await data(s, carol.token, CREATE, { input: { type: "DIRECT", participantIds: [String(dave.user_id)] } });
    const c = first.createConversation.conversation;
    expect(c.type).toBe("DIRECT");
    expect(c.participants.map((p: any) => p.id).sort()).toEqual([String(carol.user_id), String(dave.user_id)].sort());
    const again = await data(s, dave.token, CREATE, { input: { type: "DIRECT", participantIds: [String(carol.user_id)] } });
    expect(again.createConversation.conversation.id).toBe(c.id);

    const g = await data(s, carol.token, CREATE, { input: { type: "GROUP", title: "Book club", participantIds: [String(alice.user_id), String(bob.user_id)] } });
    const gc = g.createConversation.conversation;
    expect(gc).toMatchObject({ type: "GROUP", title: "Book club" });
    expect(gc.members.find((m: any) => m.user.id === String(carol.user_id)).role).toBe("ADMIN");
    expect(gc.members.find((m: any) => m.user.id === String(bob.user_id)).role).toBe("MEMBER");

    const bad = async (input: Record<string, unknown>) => (await data(s, carol.token, CREATE, { input })).createConversation;
    expect(await bad({ type: "DIRECT", title: "x", participantIds: [String(dave.user_id)] })).toEqual({ conversation: null, errors: [{ field: "title", message: expect.any(String) }] });
    expect((await bad({ type: "DIRECT", participantIds: [String(dave.user_id), String(bob.user_id)] })).errors[0].field).toBe("participantIds");
    expect((await bad({ type: "GROUP", participantIds: ["abc"] })).errors[0].field).toBe("participantIds");
    expect((await bad({ type: "GROUP", participantIds: ["999999"] })).errors[0].field).toBe("participantIds");
  });

  test("sendMessage: delivered after commit, idempotent by clientMessageId, replyTo, payload errors", async () => {
    const id = await direct(s, alice, dave);
    const first = await send(s, alice, id, "hello dave", { clientMessageId: "c-1" });
    expect(first).toMatchObject({ content: "hello dave", clientMessageId: "c-1", deliveryStatus: "SENT", sender: { id: String(alice.user_id), firstName: "Alice" }, replyTo: null });
    expect(first.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const repeat = await send(s, alice, id, "hello dave (retry)", { clientMessageId: "c-1" });
    expect(repeat.id).toBe(first.id);
    expect(repeat.content).toBe("hello dave");
    const reply = await send(s, dave, id, "hi!", { replyToMessageId: first.id });
    expect(reply.replyTo).toEqual({ id: first.id, content: "hello dave" });
    const history = await data(s, alice.token, `query($id: ID!) { conversation(id: $id) { messages { edges { node { id } } } } }`, { id });
    expect(history.conversation.messages.edges.map((e: any) => e.node.id)).toEqual([reply.id, first.id]);

    const fails = async (input: Record<string, unknown>) => (await data(s, alice.token, SEND, { input: { conversationId: id, ...input } })).sendMessage;
    expect(await fails({ content: "" })).toEqual({ message: null, errors: [{ field: "content", message: expect.any(String) }] });
    expect((await fails({ content: "x".repeat(10_001) })).errors[0].field).toBe("content");
    const elsewhere = await direct(s, alice, bob);
    const foreign = await send(s, alice, elsewhere, "in another conversation");
    expect((await fails({ content: "re", replyToMessageId: foreign.id })).errors[0].field).toBe("replyToMessageId");
  });

  test("editMessage, deleteMessage, addReaction/removeReaction with Reaction{emoji count users}, markRead", async () => {
    const id = await group(s, alice, [bob, carol], "Edits");
    const m = await send(s, alice, id, "draft");
    const edit = await data(s, alice.token, `mutation($id: ID!) { editMessage(id: $id, content: "final", editReason: "typo") { message { id content edited updatedAt } errors { field message } } }`, { id: m.id });
    expect(edit.editMessage).toMatchObject({ message: { id: m.id, content: "final", edited: true }, errors: [] });
    const empty = await data(s, alice.token, `mutation($id: ID!) { editMessage(id: $id, content: "  ") { message { id } errors { field message } } }`, { id: m.id });
    expect(empty.editMessage.errors[0].field).toBe("content");
    // Only the author edits (403), and someone outside the conversation cannot either.
    expect(codeOf(await gql(s, bob.token, `mutation($id: ID!) { editMessage(id: $id, content: "mine now") { message { id } } }`, { id: m.id }))).toBe("FORBIDDEN");
    expect(codeOf(await gql(s, dave.token, `mutation($id: ID!) { deleteMessage(id: $id) { success } }`, { id: m.id }))).toBe("FORBIDDEN");

    const react = `mutation($id: ID!, $e: String!) { addReaction(messageId: $id, emoji: $e) { message { reactions { emoji count users { id firstName } } } errors { field message } } }`;
    await data(s, bob.token, react, { id: m.id, e: "👍" });
    await data(s, carol.token, react, { id: m.id, e: "👍" });
    const r = await data(s, carol.token, react, { id: m.id, e: "❤️" });
    const reactions = r.addReaction.message.reactions;
    expect(reactions.map((x: any) => [x.emoji, x.count])).toEqual([["👍", 2], ["❤️", 1]]);
    expect(reactions[0].users.map((u: any) => u.firstName).sort()).toEqual(["Bob", "Carol"]);
    const badEmoji = await data(s, bob.token, react, { id: m.id, e: "not an emoji" });
    expect(badEmoji.addReaction).toEqual({ message: null, errors: [{ field: "emoji", message: expect.any(String) }] });
    const removed = await data(s, bob.token, `mutation($id: ID!) { removeReaction(messageId: $id, emoji: "👍") { message { reactions { emoji count users { id } } } errors { field } } }`, { id: m.id });
    expect(removed.removeReaction.message.reactions).toEqual([
      { emoji: "👍", count: 1, users: [{ id: String(carol.user_id) }] },
      { emoji: "❤️", count: 1, users: [{ id: String(carol.user_id) }] },
    ]);

    // Unread for bob, then read.
    const second = await send(s, alice, id, "and another");
    const unread = `query($id: ID!) { conversation(id: $id) { unreadCount lastReadMessageId } }`;
    expect((await data(s, bob.token, unread, { id })).conversation).toEqual({ unreadCount: 2, lastReadMessageId: null });
    const mark = `mutation($c: ID!, $m: ID!) { markRead(conversationId: $c, messageId: $m) { success errors { field message } } }`;
    expect((await data(s, bob.token, mark, { c: id, m: second.id })).markRead).toEqual({ success: true, errors: [] });
    expect((await data(s, bob.token, unread, { id })).conversation).toEqual({ unreadCount: 0, lastReadMessageId: second.id });
    expect((await data(s, bob.token, mark, { c: id, m: "not-a-message" })).markRead).toEqual({ success: false, errors: [{ field: "messageId", message: expect.any(String) }] });
    expect(second.deliveryStatus).toBe("SENT");
    const status = await data(s, alice.token, `query($id: ID!) { conversation(id: $id) { lastMessage { deliveryStatus } } }`, { id });
    expect(status.conversation.lastMessage.deliveryStatus).toBe("SENT"); // carol has not read it yet

    const del = await data(s, alice.token, `mutation($id: ID!) { deleteMessage(id: $id) { success messageId errors { field } } }`, { id: m.id });
    expect(del.deleteMessage).toEqual({ success: true, messageId: m.id, errors: [] });
    const tomb = await data(s, bob.token, `query($id: ID!) { conversation(id: $id) { messages { edges { node { id content deleted reactions { emoji } } } } } }`, { id });
    expect(tomb.conversation.messages.edges.map((e: any) => e.node)).toContainEqual({ id: m.id, content: null, deleted: true, reactions: [] });
  });

  test("updatePresence: AWAY for a connected user; OFFLINE is a payload error", async () => {
    const ws = track(await Connect.as(s, carol));
    const q = `mutation($st: PresenceStatus!) { updatePresence(status: $st) { status errors { field message } } }`;
    expect((await data(s, carol.token, q, { st: "AWAY" })).updatePresence).toEqual({ status: "AWAY", errors: [] });
    expect((await data(s, carol.token, q, { st: "ONLINE" })).updatePresence).toEqual({ status: "ONLINE", errors: [] });
    expect((await data(s, carol.token, q, { st: "OFFLINE" })).updatePresence).toEqual({ status: null, errors: [{ field: "status", message: expect.any(String) }] });
    await ws.close();
  });
});

describe("errors and limits", () => {
  test("no token: AUTH_REQUIRED with 401; a bad token: 401 INVALID_TOKEN with a Bearer challenge", async () => {
    const none = await gql(s, null, "{ me { id } }");
    expect(none.status).toBe(401);
    expect(codeOf(none)).toBe("AUTH_REQUIRED");
    const bad = await gql(s, "not-a-token", "{ me { id } }");
    expect(bad.status).toBe(401);
    expect(codeOf(bad)).toBe("INVALID_TOKEN");
    expect(bad.headers.get("www-authenticate")).toContain('error="invalid_token"');
    const mutation = await gql(s, null, `mutation { sendMessage(input: { conversationId: "1", content: "x" }) { errors { field } } }`);
    expect(codeOf(mutation)).toBe("AUTH_REQUIRED");
  });

  test("someone else's conversation: conversation(id) is null, sendMessage into it is NOT_FOUND", async () => {
    const id = await direct(s, alice, bob);
    const q = `query($id: ID!) { conversation(id: $id) { id } }`;
    expect((await data(s, dave.token, q, { id })).conversation).toBeNull();
    expect((await data(s, dave.token, q, { id: "999999" })).conversation).toBeNull();
    expect((await data(s, dave.token, q, { id: "abc" })).conversation).toBeNull();
    const r = await gql(s, dave.token, SEND, { input: { conversationId: id, content: "let me in" } });
    expect(codeOf(r)).toBe("NOT_FOUND");
    const unknown = await gql(s, dave.token, SEND, { input: { conversationId: "999999", content: "anyone?" } });
    expect(codeOf(unknown)).toBe("NOT_FOUND");
    // Nothing was written.
    const history = await data(s, alice.token, `query($id: ID!) { conversation(id: $id) { messages { edges { node { content } } } } }`, { id });
    expect(history.conversation.messages.edges.map((e: any) => e.node.content)).not.toContain("let me in");
  });

  test("a too-deep query and a too-costly query are refused with VALIDATION_ERROR before running", async () => {
    let nested = "id";
    for (let i = 0; i < 10; i++) nested = `replyTo { ${nested} }`;
    const deep = await gql(s, alice.token, `{ conversations(first: 1) { edges { node { lastMessage { ${nested} } } } } }`);
    expect(codeOf(deep)).toBe("VALIDATION_ERROR");
    expect(deep.body.errors[0].message).toMatch(/depth/i);
    expect(deep.body.data).toBeUndefined();

    const costly = await gql(s, alice.token, `{ conversations(first: 100) { edges { node { messages(first: 100) { edges { node { reactions { users { id } } } } } } } } }`);
    expect(codeOf(costly)).toBe("VALIDATION_ERROR");
    expect(costly.body.errors[0].message).toMatch(/cost/i);
    expect(costly.body.data).toBeUndefined();

    // Fragments count where they are spread.
    const viaFragments = await gql(
      s,
      alice.token,
      `{ conversations(first: 100) { ...C } } fragment C on ConversationConnection { edges { node { messages(first: 100) { ...M } } } } fragment M on MessageConnection { edges { node { reactions { users { id } } } } }`,
    );
    expect(codeOf(viaFragments)).toBe("VALIDATION_ERROR");
  });

  test("a document over 64 KiB is refused (with Content-Length and chunked)", async () => {
    const query = `{ me { id } } # ${"x".repeat(70 * 1024)}`;
    const r = await fetch(`${s.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${alice.token}` },
      body: JSON.stringify({ query }),
    });
    expect(r.status).toBe(413);
    expect((await r.json()).error.code).toBe("PAYLOAD_TOO_LARGE");

    const bytes = new TextEncoder().encode(JSON.stringify({ query }));
    const chunked = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < bytes.length; i += 8192) c.enqueue(bytes.subarray(i, i + 8192));
        c.close();
      },
    });
    const r2 = await fetch(`${s.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${alice.token}` },
      body: chunked,
    });
    expect(r2.status).toBe(413);

    // Just under the bound still works.
    const fits = await gql(s, alice.token, `{ me { id } } # ${"x".repeat(60 * 1024)}`);
    expect(fits.body.data.me.id).toBe(String(alice.user_id));
  });
});

describe("subscriptions", () => {
  const ADDED = `subscription($c: ID!) { messageAdded(conversationId: $c) { id content conversationId sender { id firstName } } }`;
  const UPDATED = `subscription($c: ID!) { messageUpdated(conversationId: $c) { id content deleted edited reactions { emoji count users { id } } } }`;

  test("graphql-ws with 'Bearer <token>' and with a bare token; SSE: messageAdded", async () => {
    const id = await group(s, alice, [bob, carol], "Live");
    const bearer = trackClient(wsClient(s, `Bearer ${bob.token}`));
    const bare = trackClient(wsClient(s, carol.token));
    const viaWs = await live(s, "message.created", () => subscribeWs(bearer, ADDED, { c: id }));
    const viaBare = await live(s, "message.created", () => subscribeWs(bare, ADDED, { c: id }));
    const viaSse = track(await live(s, "message.created", () => subscribeSse(s, alice.token, ADDED, { c: id })));

    const m = await send(s, alice, id, "to everyone");
    const expected = { id: m.id, content: "to everyone", conversationId: id, sender: { id: String(alice.user_id), firstName: "Alice" } };
    expect(await viaWs.nextData("messageAdded")).toEqual(expected);
    expect(await viaBare.nextData("messageAdded")).toEqual(expected);
    expect(await viaSse.nextData("messageAdded")).toEqual(expected);

    // Closing a subscription releases its listener on the bus (no leak per subscriber).
    const before = busListeners(s, "message.created");
    viaWs.close();
    viaBare.close();
    viaSse.close();
    await eventually(() => (busListeners(s, "message.created") === before - 3 ? true : undefined), 3000, "listeners to be released");
  });

  test("messageUpdated: edit, reaction and delete arrive as the message's current state (ws and SSE)", async () => {
    const id = await direct(s, alice, bob);
    const m = await send(s, alice, id, "original");
    const client = trackClient(wsClient(s, `Bearer ${bob.token}`));
    const ws = await live(s, "message.updated", () => subscribeWs(client, UPDATED, { c: id }));
    const sse = track(await live(s, "message.updated", () => subscribeSse(s, alice.token, UPDATED, { c: id })));

    await data(s, alice.token, `mutation($id: ID!) { editMessage(id: $id, content: "edited") { errors { field } } }`, { id: m.id });
    for (const sub of [ws, sse]) expect(await sub.nextData("messageUpdated")).toEqual({ id: m.id, content: "edited", deleted: false, edited: true, reactions: [] });

    await data(s, bob.token, `mutation($id: ID!) { addReaction(messageId: $id, emoji: "🎉") { errors { field } } }`, { id: m.id });
    for (const sub of [ws, sse])
      expect((await sub.nextData("messageUpdated")).reactions).toEqual([{ emoji: "🎉", count: 1, users: [{ id: String(bob.user_id) }] }]);

    await data(s, alice.token, `mutation($id: ID!) { deleteMessage(id: $id) { success } }`, { id: m.id });
    for (const sub of [ws, sse]) expect(await sub.nextData("messageUpdated")).toEqual({ id: m.id, content: null, deleted: true, edited: false, reactions: [] });
    ws.close();
    sse.close();
  });

  test("presenceChanged: a contact connecting on /v1/connect is ONLINE, leaving is OFFLINE", async () => {
    const a = await s.register({ first_name: "Watcher" });
    const b = await s.register({ first_name: "Comer" });
    await direct(s, a, b);
    const client = trackClient(wsClient(s, `Bearer ${a.token}`));
    const sub = await live(s, "presence.changed", () =>
      subscribeWs(client, `subscription($u: ID!) { presenceChanged(userId: $u) { status lastSeen user { id firstName } } }`, { u: String(b.user_id) }),
    );
    const ws = track(await Connect.as(s, b));
    expect(await sub.nextData("presenceChanged")).toEqual({ status: "ONLINE", lastSeen: null, user: { id: String(b.user_id), firstName: "Comer" } });
    const seen = await data(s, a.token, `query($id: ID!) { user(id: $id) { isOnline } }`, { id: String(b.user_id) });
    expect(seen.user.isOnline).toBe(true);
    await ws.close();
    const off = await sub.nextData("presenceChanged");
    expect(off.status).toBe("OFFLINE");
    expect(off.lastSeen).toMatch(/Z$/);
    sub.close();
  });

  test("isOnline in participant lists: online contacts only, never someone who hides it; lastActiveAt as REST shows it", async () => {
    const viewer = await s.register({ first_name: "Viewer" });
    const shy = await s.register({ first_name: "Shy" });
    const open = await s.register({ first_name: "Open" });
    const id = await group(s, viewer, [shy, open], "Who is on");
    const hide = await s.put(`/api/v1/users/${shy.user_id}`, shy.token, { privacy_settings: { show_last_seen: false, show_online_status: false } });
    expect(hide.status).toBe(200);
    const q = `query($id: ID!) { conversation(id: $id) { participants { id isOnline lastActiveAt statusMessage } members { user { id isOnline } }
      lastMessage { sender { id isOnline } } } }`;
    const onlineIn = (d: any) => Object.fromEntries(d.conversation.participants.map((p: any) => [p.id, p.isOnline]));
    const ids = (u: TestUser) => String(u.user_id);

    expect(onlineIn(await data(s, viewer.token, q, { id }))).toEqual({ [ids(viewer)]: false, [ids(shy)]: false, [ids(open)]: false });
    const sockets = [track(await Connect.as(s, viewer)), track(await Connect.as(s, shy)), track(await Connect.as(s, open))];
    await send(s, shy, id, "I am here, quietly");
    const d = await data(s, viewer.token, q, { id });
    expect(onlineIn(d)).toEqual({ [ids(viewer)]: true, [ids(shy)]: false, [ids(open)]: true });
    expect(d.conversation.members.map((m: any) => m.user.isOnline).sort()).toEqual([false, true, true]);
    expect(d.conversation.lastMessage.sender).toEqual({ id: ids(shy), isOnline: false });
    // Shy sees herself online.
    expect(onlineIn(await data(s, shy.token, q, { id }))[ids(shy)]).toBe(true);

    for (const w of sockets) await w.close(); // last_active_at is set when the last connection closes
    await s.server.core.writer.drained(); // …by a write that rides the next batch
    const after = await data(s, viewer.token, q, { id });
    for (const p of after.conversation.participants) {
      const rest = await s.get(`/api/v1/users/${p.id}`, viewer.token);
      expect({ lastActiveAt: p.lastActiveAt, statusMessage: p.statusMessage }).toEqual({ lastActiveAt: rest.body.last_active_at, statusMessage: rest.body.status_message });
    }
    expect(after.conversation.participants.find((p: any) => p.id === ids(shy)).lastActiveAt).toBeNull();
    expect(after.conversation.participants.find((p: any) => p.id === ids(open)).lastActiveAt).toMatch(/Z$/);
  });

  test("typingIndicator: typing_start and typing_stop on /v1/connect reach a GraphQL subscriber", async () => {
    const id = await direct(s, carol, dave);
    const sub = track(await live(s, "typing", () => subscribeSse(s, carol.token, `subscription($c: ID!) { typingIndicator(conversationId: $c) { conversationId isTyping user { id } } }`, { c: id })));
    const ws = track(await Connect.as(s, dave));
    ws.send({ type: "typing_start", conversation_id: Number(id), request_id: "t1" });
    expect(await sub.nextData("typingIndicator")).toEqual({ conversationId: id, isTyping: true, user: { id: String(dave.user_id) } });
    ws.send({ type: "typing_stop", conversation_id: Number(id), request_id: "t2" });
    expect(await sub.nextData("typingIndicator")).toEqual({ conversationId: id, isTyping: false, user: { id: String(dave.user_id) } });
    await ws.close();
    sub.close();
  });

  test("graphql-ws without or with bad connectionParams is refused with close 4403", async () => {
    for (const auth of [undefined, "", "Bearer nonsense", "nonsense"]) {
      const closed = await new Promise<{ code: number; reason: string }>((resolve, reject) => {
        const c = createClient({
          url: wsUrl(s, "/graphql"),
          connectionParams: auth === undefined ? undefined : { authorization: auth },
          retryAttempts: 0,
          lazy: false,
          onNonLazyError: () => {}, // expected: the close is what the test looks at
          on: { closed: (e) => resolve(e as CloseEvent), connected: () => reject(new Error(`connected with ${auth}`)) },
        });
        track({ close: () => c.dispose() });
      });
      expect(closed.code).toBe(4403);
    }
  });

  test("subscribing to a conversation one is not in is an error (ws and SSE)", async () => {
    const id = await direct(s, alice, bob);
    const client = trackClient(wsClient(s, `Bearer ${dave.token}`));
    const ws = subscribeWs(client, ADDED, { c: id });
    // graphql-ws answers a refused subscription with one result carrying the error, then completes.
    expect((await ws.next()).errors[0].extensions.code).toBe("NOT_FOUND");
    await ws.ended();
    const sse = track(subscribeSse(s, dave.token, ADDED, { c: id }));
    const r = await sse.next();
    expect(r.errors[0].extensions.code).toBe("NOT_FOUND");
    await sse.ended();
    // Presence is only for people one shares a conversation with (CONTRACT §8).
    const loner = await s.register();
    const none = track(subscribeSse(s, loner.token, `subscription($u: ID!) { presenceChanged(userId: $u) { status } }`, { u: String(alice.user_id) }));
    expect((await none.next()).errors[0].extensions.code).toBe("NOT_FOUND");
    await none.ended();
  });

  test("someone removed from a group stops receiving its messageAdded", async () => {
    const id = await group(s, alice, [bob, carol], "Shrinking");
    const cb = trackClient(wsClient(s, bob.token));
    const cc = trackClient(wsClient(s, carol.token));
    const toBob = await live(s, "message.created", () => subscribeWs(cb, ADDED, { c: id }));
    const toCarol = await live(s, "message.created", () => subscribeWs(cc, ADDED, { c: id }));
    await send(s, alice, id, "before");
    expect((await toCarol.nextData("messageAdded")).content).toBe("before");
    expect((await toBob.nextData("messageAdded")).content).toBe("before");

    const removed = await s.post(`/api/v1/conversations/${id}/participants`, alice.token, { action: "remove", user_ids: [carol.user_id] });
    expect(removed.status).toBe(200);
    // Carol's stream ends with her membership; bob's goes on.
    await toCarol.ended();
    expect(toCarol.failure).toBeNull(); // completed, not failed
    await send(s, alice, id, "after");
    expect((await toBob.nextData("messageAdded")).content).toBe("after");
    expect(toCarol.results.map((r) => r.data.messageAdded.content)).toEqual(["before"]);
    // And she cannot subscribe again.
    const again = subscribeWs(cc, ADDED, { c: id });
    expect((await again.next()).errors[0].extensions.code).toBe("NOT_FOUND");
    toBob.close();
  });

  test("a revoked session ends its graphql-ws connection (4403) and its SSE streams", async () => {
    const leaver = await s.register({ first_name: "Leaver" });
    const id = await direct(s, leaver, bob);
    const client = trackClient(wsClient(s, `Bearer ${leaver.token}`));
    const ws = await live(s, "typing", () => subscribeWs(client, `subscription($c: ID!) { typingIndicator(conversationId: $c) { isTyping } }`, { c: id }));
    const sse = track(await live(s, "message.created", () => subscribeSse(s, leaver.token, ADDED, { c: id })));
    expect((await s.post("/api/v1/auth/logout", leaver.token)).status).toBeLessThan(300);
    await ws.ended();
    expect((ws.failure as CloseEvent).code).toBe(4403);
    await sse.ended();
    await send(s, bob, id, "anyone there?");
    expect(sse.results).toEqual([]);
  });

  test("one graphql-ws connection runs at most 100 operations at once", async () => {
    const id = await direct(s, alice, carol);
    const client = trackClient(wsClient(s, `Bearer ${alice.token}`));
    const q = `subscription($c: ID!) { typingIndicator(conversationId: $c) { isTyping } }`;
    const before = busListeners(s, "typing");
    const subs = Array.from({ length: 100 }, () => subscribeWs(client, q, { c: id }));
    await eventually(() => (busListeners(s, "typing") === before + 100 ? true : undefined), 5000, "100 live subscriptions");
    const refused = subscribeWs(client, q, { c: id });
    await refused.ended();
    expect(JSON.stringify(refused.failure)).toContain("RATE_LIMITED");
    expect(subs.every((x) => !x.done)).toBe(true);
    for (const x of subs) x.close();
    await eventually(() => (busListeners(s, "typing") === before ? true : undefined), 3000, "listeners released");
  });
});

describe("across transports", () => {
  test("a sendMessage mutation reaches a /v1/connect client as new_message", async () => {
    const id = await direct(s, bob, carol);
    const ws = track(await Connect.as(s, carol));
    const m = await send(s, bob, id, "from GraphQL");
    const frame = await ws.waitFor((f) => f.type === "new_message" && f.message?.message_id === m.id);
    expect(frame.conversation_id).toBe(Number(id));
    expect(frame.message).toMatchObject({ content: "from GraphQL", sender_id: bob.user_id });
    await ws.close();
  });

  test("a REST send reaches a GraphQL subscription", async () => {
    const id = await direct(s, bob, dave);
    const client = trackClient(wsClient(s, `Bearer ${dave.token}`));
    const sub = await live(s, "message.created", () => subscribeWs(client, `subscription($c: ID!) { messageAdded(conversationId: $c) { id content sender { id } } }`, { c: id }));
    const r = await s.post(`/api/v1/conversations/${id}/messages`, bob.token, { message_type: "text", content: "from REST" });
    expect(r.status).toBe(201);
    expect(await sub.nextData("messageAdded")).toEqual({ id: r.body.message_id, content: "from REST", sender: { id: String(bob.user_id) } });
    sub.close();
  });
});

describe("GraphQL over HTTP compliance", () => {
  test("graphql-http's audit: every MUST passes", async () => {
    const fetchFn = (input: RequestInfo | URL, init?: RequestInit) => {
      const headers = new Headers(init?.headers);
      headers.set("authorization", `Bearer ${alice.token}`);
      return fetch(input, { ...init, headers });
    };
    const results = await auditServer({ url: `${s.url}/graphql`, fetchFn });
    const must = results.filter((r) => r.name.startsWith("MUST"));
    const should = results.filter((r) => r.name.startsWith("SHOULD"));
    const may = results.filter((r) => r.name.startsWith("MAY"));
    const ok = (rs: typeof results) => rs.filter((r) => r.status === "ok").length;
    console.log(`graphql-http audit: MUST ${ok(must)}/${must.length}, SHOULD ${ok(should)}/${should.length}, MAY ${ok(may)}/${may.length}`);
    for (const r of results) if (r.status !== "ok") console.log(`  ${r.status}: ${r.name} — ${(r as { reason?: string }).reason}`);
    expect(must.length).toBeGreaterThan(0);
    expect(must.filter((r) => r.status !== "ok").map((r) => r.name)).toEqual([]);
  });
});

describe("batching", () => {
  /**
   * Count SQL statements bun:sqlite executes while `fn` runs. bun:sqlite's Statement keeps its
   * run/get/all/values/iterate as per-instance functions that call into the native statement,
   * so the count wraps the native statement's prototype (shared by every statement).
   */
  async function countStatements<T>(fn: () => Promise<T>): Promise<{ result: T; count: number; sql: string[] }> {
    const probe = s.server.core.db.prepare("SELECT 1") as unknown as { native: object };
    expect(probe).toBeInstanceOf(Statement);
    const proto = Object.getPrototypeOf(probe.native) as Record<string, (...a: unknown[]) => unknown>;
    const sql: string[] = [];
    const saved = new Map<string, (...a: unknown[]) => unknown>();
    for (const name of ["run", "runCount", "get", "all", "values", "iterate", "raw"]) {
      const original = Object.getOwnPropertyDescriptor(proto, name)?.value;
      if (typeof original !== "function") continue;
      saved.set(name, original);
      proto[name] = function (this: { toString(): string }, ...args: unknown[]) {
        const result = original.apply(this, args);
        // After the call: toString() shows the SQL with the values just bound.
        sql.push(String(this.toString()).replace(/\s+/g, " ").slice(0, 140));
        return result;
      };
    }
    try {
      const result = await fn();
      return { result, count: sql.length, sql };
    } finally {
      for (const [name, original] of saved) proto[name] = original;
    }
  }

  test("the seed's GetConversations costs the same few statements for 5 and for 50 conversations", async () => {
    const hub = await s.register({ first_name: "Hub" });
    const ids: string[] = [];
    const grow = async (to: number) => {
      const from = ids.length;
      ids.push(...(await Promise.all(pool.slice(from, to).map((p) => direct(s, hub, p)))));
      // A last message from the partner in each: lastMessage.sender is not the caller.
      await Promise.all(pool.slice(from, to).map((p, i) => send(s, p, ids[from + i]!, `ping ${from + i}`)));
    };
    // The count is process-wide, and background jobs of the server (the push outbox's timer)
    // may run during a request: the fewest of three runs is the request's own cost.
    const measure = async () => {
      let best: { edges: number; count: number; sql: string[] } | null = null;
      for (let run = 0; run < 3; run++) {
        const { result, count, sql } = await countStatements(() => data(s, hub.token, GET_CONVERSATIONS, { first: 50 }));
        for (const e of result.conversations.edges) {
          expect(e.node.participants.length).toBe(2);
          const partner = e.node.participants.find((p: any) => p.id !== String(hub.user_id));
          expect(partner.isOnline).toBe(pool.slice(0, 3).some((p) => String(p.user_id) === partner.id));
          expect(e.node.lastMessage.sender.firstName).toMatch(/^Pal\d+$/);
          expect(e.node.unreadCount).toBe(1);
        }
        if (!best || count < best.count) best = { edges: result.conversations.edges.length, count, sql };
      }
      return best!;
    };

    await grow(5);
    // Three partners online: their isOnline needs their privacy settings (one batched load).
    const online = await Promise.all(pool.slice(0, 3).map((p) => Connect.as(s, p).then(track)));
    const five = await measure();
    await grow(50);
    const fifty = await measure();
    console.log(`GetConversations SQL statements: ${five.count} for ${five.edges} conversations, ${fifty.count} for ${fifty.edges}`);
    console.log(`  ${fifty.sql.join("\n  ")}`);
    for (const w of online) await w.close();
    expect(five.edges).toBe(5);
    expect(fifty.edges).toBe(50);
    expect(fifty.count).toBe(five.count);
    expect(five.count).toBeLessThanOrEqual(6);
  });
});

describe("rate limits shared with REST", () => {
  let limited: TestServer;
  afterAll(async () => {
    await limited?.stop();
  });

  test("GraphQL requests take from the caller's REST bucket and get 429 past it", async () => {
    limited = await startTestServer({ registration: "open", logLevel: "warn", rateLimit: { requests: 6, windowSeconds: 900, authRequests: 100 } });
    const u = await limited.register(); // counted for the address, not for the user
    const remaining: string[] = [];
    for (let i = 0; i < 3; i++) {
      const rest = await limited.get("/api/v1/users/me", u.token);
      expect(rest.status).toBe(200);
      remaining.push(rest.headers.get("x-ratelimit-remaining")!);
      const g = await gql(limited, u.token, "{ me { id } }");
      expect(g.status).toBe(200);
      expect(g.headers.get("x-ratelimit-limit")).toBe("6");
      remaining.push(g.headers.get("x-ratelimit-remaining")!);
    }
    expect(remaining).toEqual(["5", "4", "3", "2", "1", "0"]);
    const over = await gql(limited, u.token, "{ me { id } }");
    expect(over.status).toBe(429);
    expect(Number(over.headers.get("retry-after"))).toBeGreaterThan(0);
    const overGet = await fetch(`${limited.url}/graphql?query=${encodeURIComponent("{ me { id } }")}`, { headers: { authorization: `Bearer ${u.token}` } });
    expect(overGet.status).toBe(429);
    expect((await limited.get("/api/v1/users/me", u.token)).status).toBe(429);
  });
});

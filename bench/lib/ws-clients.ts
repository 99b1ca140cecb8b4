/**
 * The load side of bench/ws-load.ts: users over REST, authenticated /v1/connect clients, senders
 * that keep a window of send_message frames in flight (or send at a fixed rate), and receivers
 * that check every message arrives exactly once and in order per sender.
 *
 * A message's content is `bench <sender> <seq> <sent-at ms> <filler>`: the receiver reads the
 * sender, its sequence number and the send time from it (same process, same clock), so
 * send→receive latency needs no extra round trip. new_message and message_sent frames are read
 * with indexOf instead of JSON.parse: at 100,000 frames/s the generator's own parsing would
 * otherwise be what is measured.
 */

// ---------------------------------------------------------------- figures

/** Latencies in 10 µs buckets up to 10 s; beyond that in the last bucket. */
export class Histogram {
  private readonly buckets = new Uint32Array(1_000_001);
  count = 0;
  private sum = 0;
  private maxMs = 0;

  record(ms: number) {
    const b = ms <= 0 ? 0 : Math.min(this.buckets.length - 1, Math.round(ms * 100));
    this.buckets[b]!++;
    this.count++;
    this.sum += ms;
    if (ms > this.maxMs) this.maxMs = ms;
  }

  percentile(p: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.ceil((p / 100) * this.count);
    let seen = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      seen += this.buckets[i]!;
      if (seen >= rank) return i / 100;
    }
    return this.maxMs;
  }

  get mean(): number {
    return this.count ? this.sum / this.count : NaN;
  }

  get max(): number {
    return this.maxMs;
  }

  reset() {
    this.buckets.fill(0);
    this.count = 0;
    this.sum = 0;
    this.maxMs = 0;
  }
}

// ---------------------------------------------------------------- REST set-up

export interface BenchUser {
  index: number;
  userId: number;
  token: string;
}

async function post(url: string, path: string, body: unknown, token?: string): Promise<any> {
  for (let attempt = 0; ; attempt++) {
    const r = await fetch(url + path, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    const text = await r.text();
    if (r.status === 200 || r.status === 201) return JSON.parse(text);
    if (r.status === 503 && attempt < 5) {
      await Bun.sleep(200);
      continue;
    }
    throw new Error(`POST ${path}: ${r.status} ${text.slice(0, 300)}`);
  }
}

/** Run `fn` over `items` with at most `limit` at a time. */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i]!, i);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Register `n` users concurrently (argon2 on the server makes this ~25 ms of server CPU each). */
export async function registerUsers(url: string, n: number, concurrency = 16): Promise<BenchUser[]> {
  const tag = Date.now().toString(36) + Math.random().toString(36).slice(2, 5);
  return pool(
    Array.from({ length: n }, (_, i) => i),
    concurrency,
    async (i) => {
      const b = await post(url, "/api/v1/auth/register", {
        email: `w${i}-${tag}@bench.example`,
        username: `w${i}_${tag}`,
        password: "bench-password-1",
        first_name: "Bench",
        last_name: `User ${i}`,
      });
      return { index: i, userId: b.user.user_id as number, token: b.access_token as string };
    },
  );
}

export async function createDirect(url: string, a: BenchUser, b: BenchUser): Promise<number> {
  const c = await post(url, "/api/v1/conversations", { conversation_type: "direct", participant_ids: [b.userId] }, a.token);
  return c.conversation_id as number;
}

export async function createGroup(url: string, owner: BenchUser, others: BenchUser[], title: string): Promise<number> {
  const c = await post(url, "/api/v1/conversations", { conversation_type: "group", participant_ids: others.map((u) => u.userId), title }, owner.token);
  return c.conversation_id as number;
}

// ---------------------------------------------------------------- clients

/** What one receiving connection saw from one sender. */
interface SenderTrack {
  last: number;
  count: number;
  sum: number;
  outOfOrder: number;
}

export interface LoadStats {
  /** new_message frames for another user's message, all time / since the window opened. */
  deliveries: number;
  windowDeliveries: number;
  /** new_message frames of a connection's own user's message (the sender's other devices). */
  echoes: number;
  acks: number;
  windowAcks: number;
  errors: number;
  errorSamples: string[];
  closes: Map<number, number>;
  latency: Histogram;
  ackLatency: Histogram;
  /** Messages sent (all time) and in the measuring window. */
  sent: number;
  windowSent: number;
  /** Latencies and window counts are recorded only while this is true. */
  measuring: boolean;
  /** message_ids of acknowledged sends, when asked for (the crash check). */
  ackedIds: string[] | null;
  /**
   * Prefix of this run's client_message_ids. They must not repeat across runs on one server:
   * the server answers a repeated (conversation, sender, client_message_id) with the original
   * message and writes nothing, which is idempotency, not throughput.
   */
  tag: string;
}

let runs = 0;

export function newStats(): LoadStats {
  return {
    deliveries: 0,
    windowDeliveries: 0,
    echoes: 0,
    acks: 0,
    windowAcks: 0,
    errors: 0,
    errorSamples: [],
    closes: new Map(),
    latency: new Histogram(),
    ackLatency: new Histogram(),
    sent: 0,
    windowSent: 0,
    measuring: false,
    ackedIds: null,
    tag: `${(++runs).toString(36)}${Date.now().toString(36)}`,
  };
}

const FILLER = "hello there, this is a benchmark message of ordinary length";
const CONTENT_MARK = '"content":"bench ';
const CLIENT_ID_MARK = '"client_message_id":"';
const MESSAGE_ID_MARK = '"message_id":"';

/** One authenticated /v1/connect connection; it may also be a sender. */
export class Client {
  ws!: WebSocket;
  /** What this connection received, by sender index. */
  readonly seen = new Map<number, SenderTrack>();
  /** Set when this connection sends: its sender index and state. */
  sender: Sender | null = null;
  open = false;
  /** Sets after auth_success; the auth round trip included. */
  connectMs = 0;

  constructor(
    readonly user: BenchUser,
    readonly conversationId: number | null,
    private readonly stats: LoadStats,
    /** Sender index → user index, to tell deliveries from echoes. */
    private readonly senderUser: Int32Array,
  ) {}

  connect(wsUrl: string, timeoutMs = 30_000): Promise<void> {
    const t0 = performance.now();
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(wsUrl);
      this.ws = ws;
      const timer = setTimeout(() => {
        reject(new Error("connect/auth timed out"));
        ws.close();
      }, timeoutMs);
      ws.onopen = () => ws.send(`{"type":"auth","token":"${this.user.token}"}`);
      ws.onerror = () => {
        clearTimeout(timer);
        reject(new Error("websocket error"));
      };
      ws.onclose = (ev) => {
        clearTimeout(timer);
        this.open = false;
        this.stats.closes.set(ev.code, (this.stats.closes.get(ev.code) ?? 0) + 1);
        reject(new Error(`closed ${ev.code} ${ev.reason}`));
      };
      ws.onmessage = (ev) => {
        const s = ev.data as string;
        if (s.startsWith('{"type":"auth_success"')) {
          clearTimeout(timer);
          this.open = true;
          this.connectMs = performance.now() - t0;
          ws.onmessage = (e) => this.onFrame(e.data as string);
          resolve();
        } else if (s.startsWith('{"type":"auth_error"')) {
          clearTimeout(timer);
          reject(new Error(s));
        }
      };
    });
  }

  private onFrame(s: string) {
    const now = performance.now();
    if (s.startsWith('{"type":"new_message"')) {
      const at = s.indexOf(CONTENT_MARK);
      if (at < 0) return;
      const from = at + CONTENT_MARK.length;
      const a = s.indexOf(" ", from);
      const b = s.indexOf(" ", a + 1);
      const c = s.indexOf(" ", b + 1);
      const senderIndex = Number(s.slice(from, a));
      const seq = Number(s.slice(a + 1, b));
      const sentAt = Number(s.slice(b + 1, c));
      let t = this.seen.get(senderIndex);
      if (!t) this.seen.set(senderIndex, (t = { last: 0, count: 0, sum: 0, outOfOrder: 0 }));
      if (seq <= t.last) t.outOfOrder++;
      t.last = seq;
      t.count++;
      t.sum += seq;
      const st = this.stats;
      if (this.senderUser[senderIndex] === this.user.index) {
        st.echoes++;
      } else {
        st.deliveries++;
        if (st.measuring) {
          st.windowDeliveries++;
          st.latency.record(now - sentAt);
        }
      }
    } else if (s.startsWith('{"type":"message_sent"')) {
      const snd = this.sender;
      if (!snd) return;
      const at = s.indexOf(CLIENT_ID_MARK) + CLIENT_ID_MARK.length;
      const dash = s.indexOf("-", at);
      const seq = Number(s.slice(dash + 1, s.indexOf('"', dash)));
      const st = this.stats;
      st.acks++;
      snd.acked++;
      snd.ackedSum += seq;
      if (st.ackedIds) {
        const m = s.indexOf(MESSAGE_ID_MARK) + MESSAGE_ID_MARK.length;
        st.ackedIds.push(s.slice(m, s.indexOf('"', m)));
      }
      if (st.measuring) {
        st.windowAcks++;
        st.ackLatency.record(now - snd.sentAt[seq]!);
      }
      snd.inFlight--;
      snd.onSettled();
    } else if (s.startsWith('{"type":"error"')) {
      const st = this.stats;
      st.errors++;
      if (st.errorSamples.length < 5) st.errorSamples.push(s.slice(0, 200));
      if (this.sender) {
        this.sender.inFlight--;
        this.sender.failed++;
        this.sender.onSettled();
      }
    }
    // Anything else (presence_changed, pong…) is not part of the measurement.
  }

  close() {
    if (this.ws && this.ws.readyState <= 1) this.ws.close(1000, "bench done");
  }
}

/** A connection's sending side: sequence numbers, send times, the window of frames in flight. */
export class Sender {
  seq = 0;
  inFlight = 0;
  acked = 0;
  ackedSum = 0;
  failed = 0;
  /** performance.now() of each send, by seq. */
  sentAt: number[] = [0];
  /** Window mode: keep this many in flight while `running`. 0: paced from outside. */
  window = 0;
  running = false;

  constructor(
    readonly index: number,
    readonly client: Client,
    private readonly stats: LoadStats,
  ) {
    client.sender = this;
  }

  send() {
    const seq = ++this.seq;
    const now = performance.now();
    this.sentAt.push(now);
    this.inFlight++;
    this.stats.sent++;
    if (this.stats.measuring) this.stats.windowSent++;
    this.client.ws.send(
      `{"type":"send_message","conversation_id":${this.client.conversationId},"message_type":"text","content":"bench ${this.index} ${seq} ${now.toFixed(3)} ${FILLER}","client_message_id":"${this.stats.tag}.${this.index}-${seq}"}`,
    );
  }

  /** Called when a send is acknowledged or refused: refill the window. */
  onSettled() {
    if (this.running && this.window > 0) while (this.inFlight < this.window) this.send();
  }

  start(window: number) {
    this.window = window;
    this.running = true;
    this.onSettled();
  }
}

/** Connect `clients`, `concurrency` handshakes at a time. Returns connections/s (auth included). */
export async function connectAll(wsUrl: string, clients: Client[], concurrency: number): Promise<{ perSecond: number; seconds: number; p50Ms: number; p99Ms: number }> {
  const t0 = performance.now();
  await pool(clients, concurrency, (c) => c.connect(wsUrl));
  const seconds = (performance.now() - t0) / 1000;
  const times = clients.map((c) => c.connectMs).sort((a, b) => a - b);
  const pct = (p: number) => times[Math.min(times.length - 1, Math.ceil((p / 100) * times.length) - 1)] ?? NaN;
  return { perSecond: clients.length / seconds, seconds, p50Ms: pct(50), p99Ms: pct(99) };
}

export interface Verdict {
  ok: boolean;
  /** Expected (receiver, sender) streams and how many were complete and in order. */
  streams: number;
  missing: number;
  duplicatesOrReordered: number;
  extra: number;
  details: string[];
}

/**
 * Every receiver of each sender must have seen exactly the acknowledged messages, each once, in
 * sequence order. `receiversOf(sender)` names the connections that should have them (echoes to
 * the sender's own connection included).
 */
export function verify(senders: Sender[], receiversOf: (s: Sender) => Client[]): Verdict {
  const v: Verdict = { ok: true, streams: 0, missing: 0, duplicatesOrReordered: 0, extra: 0, details: [] };
  for (const s of senders) {
    for (const r of receiversOf(s)) {
      v.streams++;
      const t = r.seen.get(s.index) ?? { last: 0, count: 0, sum: 0, outOfOrder: 0 };
      v.duplicatesOrReordered += t.outOfOrder;
      if (t.count < s.acked) v.missing += s.acked - t.count;
      if (t.count > s.acked) v.extra += t.count - s.acked;
      const bad = t.outOfOrder > 0 || t.count !== s.acked || t.sum !== s.ackedSum;
      if (bad) {
        v.ok = false;
        if (v.details.length < 5)
          v.details.push(`sender ${s.index} → user ${r.user.index}: received ${t.count} (seq sum ${t.sum}), acknowledged ${s.acked} (seq sum ${s.ackedSum}), out of order ${t.outOfOrder}`);
      }
    }
  }
  return v;
}

/** Wait until `done()` or the deadline; true when done. */
export async function waitFor(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const until = performance.now() + timeoutMs;
  while (!done()) {
    if (performance.now() > until) return false;
    await Bun.sleep(10);
  }
  return true;
}

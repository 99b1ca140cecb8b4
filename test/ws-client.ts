/**
 * A small WebSocket test client for /v1/connect: it buffers every frame the server sends, so a
 * test can wait for a frame that arrived before it started waiting, and answers a request by
 * its request_id. Built on the global WebSocket (a real client, over real TCP).
 *
 * @example
 *   const ws = await connectAs(s, alice);               // auth, waits for auth_success
 *   const r = await ws.request({ type: "subscribe", conversation_ids: [1] });
 *   const m = await ws.waitFor((f) => f.type === "new_message");
 *   await ws.expectNone((f) => f.type === "user_typing", 200);
 *   ws.close();
 */
import type { TestServer, TestUser } from "./harness";

export type Frame = Record<string, any> & { type: string };
export type Pred = (f: Frame) => boolean;

export interface Closed {
  code: number;
  reason: string;
}

const DEFAULT_TIMEOUT = 3000;

/** The WebSocket URL of a test server. */
export function wsUrl(s: Pick<TestServer, "url">): string {
  return s.url.replace(/^http/, "ws") + "/v1/connect";
}

export class WsClient {
  /** Every frame received, parsed, in arrival order (non-JSON frames are kept as {type:"?raw"}). */
  readonly frames: Frame[] = [];
  /** Frames already returned by waitFor/request: a later waitFor skips them. */
  private readonly taken = new Set<Frame>();
  private readonly waiters = new Set<() => void>();
  private closedWith: Closed | null = null;
  readonly closed: Promise<Closed>;
  /** Set by connectAs. */
  userId = 0;
  lastEventId = 0;

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => {
      ws.addEventListener("close", (e) => {
        this.closedWith = { code: e.code, reason: e.reason };
        resolve(this.closedWith);
        this.wake();
      });
    });
    ws.addEventListener("message", (e) => {
      let f: Frame;
      try {
        f = JSON.parse(String(e.data));
      } catch {
        f = { type: "?raw", data: String(e.data) };
      }
      this.frames.push(f);
      this.wake();
    });
  }

  /** Open a socket; resolves once it is open (rejects if it closes first). */
  static open(url: string, timeoutMs = DEFAULT_TIMEOUT): Promise<WsClient> {
    const ws = new WebSocket(url);
    const c = new WsClient(ws);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`websocket did not open within ${timeoutMs} ms`)), timeoutMs);
      ws.addEventListener("open", () => {
        clearTimeout(t);
        resolve(c);
      });
      void c.closed.then((x) => {
        clearTimeout(t);
        reject(new Error(`websocket closed before open: ${x.code} ${x.reason}`));
      });
    });
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Send a frame (an object is JSON-encoded, a string goes as is). */
  send(frame: Record<string, unknown> | string) {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /** Send with a fresh request_id and wait for the reply that echoes it. */
  async request(frame: Record<string, unknown>, timeoutMs = DEFAULT_TIMEOUT): Promise<Frame> {
    const requestId = (frame.request_id as string | undefined) ?? crypto.randomUUID();
    this.send({ ...frame, request_id: requestId });
    return this.waitFor((f) => f.request_id === requestId, timeoutMs, `reply to ${String(frame.type)} ${requestId}`);
  }

  /**
   * The first frame not yet taken that matches, received already or within `timeoutMs`. Fails
   * early, naming what arrived, if the socket closes first.
   */
  waitFor(pred: Pred, timeoutMs = DEFAULT_TIMEOUT, what = "a matching frame"): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const f = this.frames.find((x) => !this.taken.has(x) && pred(x));
        if (f) {
          this.taken.add(f);
          done();
          resolve(f);
        } else if (this.closedWith) {
          done();
          reject(new Error(`socket closed (${this.closedWith.code}) while waiting for ${what}; got ${this.describe()}`));
        }
      };
      const t = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${this.describe()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(t);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Wait for `n` untaken frames matching `pred`, in arrival order. */
  async waitForN(n: number, pred: Pred, timeoutMs = DEFAULT_TIMEOUT): Promise<Frame[]> {
    await this.until(() => this.untaken(pred).length >= n, timeoutMs, `${n} matching frames`);
    const out = this.untaken(pred).slice(0, n);
    for (const f of out) this.taken.add(f);
    return out;
  }

  /** Wait until `cond` holds (checked on every frame and on close). */
  until(cond: () => boolean, timeoutMs = DEFAULT_TIMEOUT, what = "condition"): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (cond()) {
          done();
          resolve();
        }
      };
      const t = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${this.describe()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(t);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Frames received (taken or not) that match. */
  all(pred: Pred = () => true): Frame[] {
    return this.frames.filter(pred);
  }

  /** Untaken frames that match. */
  untaken(pred: Pred = () => true): Frame[] {
    return this.frames.filter((f) => !this.taken.has(f) && pred(f));
  }

  /** Assert that no untaken frame matches now nor arrives within `ms`. */
  async expectNone(pred: Pred, ms = 200, what = "frame"): Promise<void> {
    await Bun.sleep(ms);
    const hit = this.untaken(pred);
    if (hit.length) throw new Error(`expected no ${what}, got ${JSON.stringify(hit).slice(0, 500)}`);
  }

  /** Mark everything received so far as taken. */
  drain() {
    for (const f of this.frames) this.taken.add(f);
  }

  /** Resolves with the close code and reason; fails after `timeoutMs`. */
  waitClose(timeoutMs = DEFAULT_TIMEOUT): Promise<Closed> {
    if (this.closedWith) return Promise.resolve(this.closedWith);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`socket still open after ${timeoutMs} ms; got ${this.describe()}`)), timeoutMs);
      void this.closed.then((c) => {
        clearTimeout(t);
        resolve(c);
      });
    });
  }

  /** Close (idempotent) and wait for the close to complete. */
  async close(timeoutMs = 1000): Promise<void> {
    if (this.closedWith) return;
    if (this.ws.readyState === WebSocket.CONNECTING || this.ws.readyState === WebSocket.OPEN) this.ws.close(1000);
    await Promise.race([this.closed, Bun.sleep(timeoutMs)]);
  }

  private wake() {
    for (const w of [...this.waiters]) w();
  }

  private describe(): string {
    const last = this.frames.slice(-8).map((f) => JSON.stringify(f).slice(0, 160));
    return `${this.frames.length} frames${last.length ? `, last: ${last.join(" | ")}` : ""}`;
  }
}

/** Open a socket and authenticate as `user`; resolves after auth_success. */
export async function connectAs(s: Pick<TestServer, "url">, user: Pick<TestUser, "token">, deviceId?: string): Promise<WsClient> {
  const c = await WsClient.open(wsUrl(s));
  const r = await c.request({ type: "auth", token: user.token, ...(deviceId ? { device_id: deviceId } : {}) });
  if (r.type !== "auth_success") {
    await c.close();
    throw new Error(`auth failed: ${JSON.stringify(r)}`);
  }
  c.userId = r.user_id;
  c.lastEventId = r.last_event_id;
  return c;
}

/** Keeps every client a test file opens, so afterAll can close them all. */
export class ClientPool {
  private readonly clients = new Set<WsClient>();

  track<T extends WsClient>(c: T): T {
    this.clients.add(c);
    return c;
  }

  async open(s: Pick<TestServer, "url">): Promise<WsClient> {
    return this.track(await WsClient.open(wsUrl(s)));
  }

  async as(s: Pick<TestServer, "url">, user: Pick<TestUser, "token">, deviceId?: string): Promise<WsClient> {
    return this.track(await connectAs(s, user, deviceId));
  }

  async closeAll() {
    await Promise.all([...this.clients].map((c) => c.close()));
    this.clients.clear();
  }
}

/**
 * A WebSocket client done by hand over TCP, for what the global WebSocket cannot do: stop
 * reading (a slow reader), or look at raw bytes. Client frames are masked as RFC 6455 asks.
 */
export class RawWs {
  /** Every byte received so far (while reading). */
  received = Buffer.alloc(0);
  closed = false;

  private constructor(readonly sock: import("node:net").Socket) {
    sock.on("data", (d: Buffer) => {
      this.received = Buffer.concat([this.received, d]);
    });
    sock.on("close", () => {
      this.closed = true;
    });
    sock.on("error", () => {});
  }

  /** Connect and upgrade; resolves after the 101 response. */
  static async open(port: number, timeoutMs = DEFAULT_TIMEOUT): Promise<RawWs> {
    const { connect } = await import("node:net");
    const sock = connect({ host: "127.0.0.1", port });
    const raw = new RawWs(sock);
    await new Promise<void>((resolve, reject) => {
      sock.once("connect", () => resolve());
      sock.once("error", reject);
    });
    const key = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64");
    sock.write(
      [`GET /v1/connect HTTP/1.1`, `Host: 127.0.0.1:${port}`, "Upgrade: websocket", "Connection: Upgrade", `Sec-WebSocket-Key: ${key}`, "Sec-WebSocket-Version: 13", "", ""].join("\r\n"),
    );
    await raw.until(() => raw.received.includes("\r\n\r\n"), timeoutMs, "the upgrade response");
    const status = raw.received.subarray(0, raw.received.indexOf("\r\n")).toString("latin1");
    if (!status.includes(" 101 ")) throw new Error(`upgrade refused: ${status}`);
    raw.received = raw.received.subarray(raw.received.indexOf("\r\n\r\n") + 4);
    return raw;
  }

  /** Send a masked text frame. */
  sendText(text: string) {
    const payload = Buffer.from(text);
    const n = payload.length;
    const head = n < 126 ? Buffer.from([0x81, 0x80 | n]) : n < 65536 ? Buffer.from([0x81, 0x80 | 126, n >> 8, n & 255]) : null;
    if (!head) throw new Error("frame too large for this helper");
    const key = crypto.getRandomValues(new Uint8Array(4));
    const body = Buffer.alloc(n);
    for (let i = 0; i < n; i++) body[i] = payload[i]! ^ key[i % 4]!;
    this.sock.write(Buffer.concat([head, key, body]));
  }

  /** Stop reading: the kernel buffers fill, then the server's send buffer for this socket. */
  pause() {
    this.sock.pause();
  }

  resume() {
    this.sock.resume();
  }

  /** The close code of the server's close frame, if one was received (scans the unmasked frames). */
  closeCode(): number | null {
    const b = this.received;
    let i = 0;
    for (let guard = 0; guard < 1_000_000 && i + 2 <= b.length; guard++) {
      const opcode = b[i]! & 0x0f;
      let len = b[i + 1]! & 0x7f;
      let at = i + 2;
      if (len === 126) {
        len = b.readUInt16BE(at);
        at += 2;
      } else if (len === 127) {
        len = Number(b.readBigUInt64BE(at));
        at += 8;
      }
      if (at + len > b.length) return null;
      if (opcode === 0x8) return len >= 2 ? b.readUInt16BE(at) : 1005;
      i = at + len;
    }
    return null;
  }

  async until(cond: () => boolean, timeoutMs = DEFAULT_TIMEOUT, what = "condition") {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await Bun.sleep(5);
    }
  }

  destroy() {
    this.sock.destroy();
  }
}

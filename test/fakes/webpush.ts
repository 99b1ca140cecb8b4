/**
 * A local Web Push service (RFC 8030) over HTTPS on 127.0.0.1, with a certificate from the test
 * CA. For every push it checks what a real push service checks, and what only the browser can:
 *   - VAPID (RFC 8292): `Authorization: vapid t=<JWT>, k=<key>`; the JWT is ES256, signed by k,
 *     k is the server's VAPID public key, aud is this endpoint's origin, sub is the configured
 *     subject, exp is in the future and at most 24 h away;
 *   - the body is `Content-Encoding: aes128gcm` (RFC 8291) and decrypts with the subscription's
 *     private key and auth secret (http_ece), giving the JSON payload; TTL is present.
 * A request failing a check is answered 401/400 and listed in `errors`; otherwise the script of
 * its subscription decides: 201 (default), 404/410 (gone), 429 with Retry-After, 5xx, each
 * possibly held until a promise settles (a push in flight).
 *
 * @example
 *   const wp = startFakeWebPush(pki);
 *   wp.expect({ serverKey: vapidPublicKey, subject: "mailto:admin@localhost" });
 *   const sub = wp.subscribe();         // register sub.json as the device_token
 *   wp.script.set(sub.id, 503, 201);    // fail once, then accept
 *   const push = await wp.waitForDelivery(sub);  // push.payload is the decrypted JSON
 */
import { createECDH, randomBytes, randomUUID, type ECDH } from "node:crypto";
import ece from "http_ece";
import { importJWK, jwtVerify } from "jose";
import type { TestPki } from "./push-tls";
import { Script, until } from "./script";

/** A status, or a status with Retry-After, answered only once `after` settles (a slow service). */
export type WebPushAnswer = number | { status: number; retryAfter?: string; after?: Promise<unknown> };

export interface FakeSubscription {
  id: string;
  endpoint: string;
  /** What a browser hands over: the PushSubscription JSON. */
  json: { endpoint: string; expirationTime: null; keys: { p256dh: string; auth: string } };
  ecdh: ECDH;
  auth: string;
}

export interface PushRequest {
  subscription: string;
  /** When it arrived (Date.now()). */
  at: number;
  /** What the fake answered. */
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** The decrypted JSON payload (when verified). */
  payload?: any;
}

export interface FakeWebPush {
  /** https://127.0.0.1:<port> */
  origin: string;
  script: Script<WebPushAnswer>;
  /** Every request to a known subscription, in arrival order. */
  requests: PushRequest[];
  /** Requests that failed a check, with why. Tests assert this stays empty. */
  errors: string[];
  /** What VAPID must carry: the server's public key and subject. */
  expect(o: { serverKey?: string; subject?: string }): void;
  subscribe(): FakeSubscription;
  /** An endpoint of this service but with an http:// origin (must be refused). */
  plainEndpoint(): string;
  of(sub: FakeSubscription | string): PushRequest[];
  delivered(sub: FakeSubscription | string): PushRequest[];
  /** The next accepted (2xx) push to `sub` after the first `skip` ones. */
  waitForDelivery(sub: FakeSubscription, o?: { timeoutMs?: number; skip?: number }): Promise<PushRequest>;
  /** Decrypt a request recorded with `verify: false` (the bench does it after the run). */
  open(req: PushRequest): any;
  stop(): void;
}

export function startFakeWebPush(pki: Pick<TestPki, "key" | "cert">, o: { verify?: boolean } = {}): FakeWebPush {
  const verify = o.verify ?? true;
  const subs = new Map<string, FakeSubscription>();
  const script = new Script<WebPushAnswer>(201);
  const requests: PushRequest[] = [];
  const errors: string[] = [];
  let expected: { serverKey?: string; subject?: string } = {};
  let origin = "";

  const decrypt = (sub: FakeSubscription, body: Buffer) => JSON.parse(ece.decrypt(body, { version: "aes128gcm", privateKey: sub.ecdh, authSecret: sub.auth }).toString("utf8"));

  /** The checks of the module comment; returns the reason a check failed, or null. */
  async function check(sub: FakeSubscription, h: Record<string, string>, body: Buffer, rec: PushRequest): Promise<{ status: number; why: string } | null> {
    const m = /^vapid\s+t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/i.exec(h.authorization ?? "");
    if (!m) return { status: 401, why: `no VAPID authorization: ${h.authorization}` };
    const [, jwt, k] = m as unknown as [string, string, string];
    if (expected.serverKey && k !== expected.serverKey) return { status: 401, why: `VAPID k is not the server's key: ${k}` };
    const raw = Buffer.from(k, "base64url");
    if (raw.length !== 65 || raw[0] !== 4) return { status: 401, why: "VAPID k is not an uncompressed P-256 point" };
    try {
      const key = await importJWK({ kty: "EC", crv: "P-256", x: raw.subarray(1, 33).toString("base64url"), y: raw.subarray(33).toString("base64url") }, "ES256");
      const { payload } = await jwtVerify(jwt, key, { algorithms: ["ES256"], audience: origin, ...(expected.subject ? { subject: expected.subject } : {}) });
      const now = Date.now() / 1000;
      if (typeof payload.exp !== "number" || payload.exp <= now || payload.exp > now + 24 * 3600 + 5) return { status: 401, why: `VAPID exp out of range: ${payload.exp}` };
    } catch (e) {
      return { status: 401, why: `VAPID JWT refused: ${(e as Error).message}` };
    }
    if (h["content-encoding"] !== "aes128gcm") return { status: 400, why: `content-encoding ${h["content-encoding"]}` };
    if (!/^\d+$/.test(h.ttl ?? "")) return { status: 400, why: `TTL header missing or bad: ${h.ttl}` };
    try {
      rec.payload = decrypt(sub, body);
    } catch (e) {
      return { status: 400, why: `body does not decrypt as aes128gcm with the subscription keys: ${(e as Error).message}` };
    }
    return null;
  }

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls: { key: pki.key, cert: pki.cert },
    async fetch(req) {
      const at = Date.now();
      const id = /^\/push\/([\w-]+)$/.exec(new URL(req.url).pathname)?.[1];
      const sub = id ? subs.get(id) : undefined;
      if (!sub || req.method !== "POST") return new Response("no such subscription", { status: 404 });
      const headers: Record<string, string> = {};
      req.headers.forEach((v, k) => (headers[k.toLowerCase()] = v));
      const body = Buffer.from(await req.arrayBuffer());
      const rec: PushRequest = { subscription: sub.id, at, status: 0, headers, body };
      requests.push(rec);
      const refused = verify ? await check(sub, headers, body, rec) : null;
      if (refused) {
        errors.push(`${sub.id}: ${refused.why}`);
        rec.status = refused.status;
        return new Response(refused.why, { status: refused.status });
      }
      const a = script.next(sub.id);
      const { status, retryAfter, after } = typeof a === "number" ? { status: a, retryAfter: undefined, after: undefined } : a;
      await after;
      rec.status = status;
      if (status === 201) return new Response(null, { status, headers: { location: `${origin}/message/${randomUUID()}` } });
      return new Response(status === 410 || status === 404 ? "push subscription has unsubscribed or expired" : "try later", {
        status,
        headers: retryAfter ? { "retry-after": retryAfter } : {},
      });
    },
  });
  origin = `https://127.0.0.1:${server.port}`;

  const idOf = (s: FakeSubscription | string) => (typeof s === "string" ? s : s.id);
  const fake: FakeWebPush = {
    origin,
    script,
    requests,
    errors,
    expect: (e) => void (expected = e),
    subscribe() {
      const ecdh = createECDH("prime256v1");
      ecdh.generateKeys();
      const id = randomUUID();
      const auth = randomBytes(16).toString("base64url");
      const endpoint = `${origin}/push/${id}`;
      const sub = { id, endpoint, ecdh, auth, json: { endpoint, expirationTime: null, keys: { p256dh: ecdh.getPublicKey().toString("base64url"), auth } } };
      subs.set(id, sub);
      return sub;
    },
    plainEndpoint: () => `http://127.0.0.1:${server.port}/push/${randomUUID()}`,
    of: (s) => requests.filter((r) => r.subscription === idOf(s)),
    delivered: (s) => requests.filter((r) => r.subscription === idOf(s) && r.status >= 200 && r.status < 300),
    waitForDelivery: (s, w = {}) => until(() => fake.delivered(s)[w.skip ?? 0], w.timeoutMs ?? 5000, `a Web Push delivery to ${s.id}`),
    open: (r) => decrypt(subs.get(r.subscription)!, r.body),
    stop: () => void server.stop(true),
  };
  return fake;
}

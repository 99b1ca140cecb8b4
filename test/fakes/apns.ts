/**
 * A local APNs (Apple Push Notification service) provider API: HTTP/2 over TLS only (ALPN h2,
 * as api.push.apple.com), certificate from the test CA. `POST /3/device/<token>` is checked as
 * Apple does: `authorization: bearer <provider token>` — an ES256 JWT whose header kid is our
 * key id and whose iss is our team id, verified with the key's public half, issued within the
 * last hour; `apns-topic` our bundle id; `apns-push-type` alert; `apns-collapse-id` at most 64
 * bytes; a JSON body with `aps`. Failures get Apple's answers (403 InvalidProviderToken, 400
 * MissingTopic/BadCollapseId/…) and are listed in `errors`. Otherwise the token's script
 * decides: 200 (default), 410 Unregistered, 400 BadDeviceToken, 429 TooManyRequests, 500/503.
 *
 * @example
 *   const apns = await startFakeApns(pki, dir);
 *   startTestServer({ push: { ...push, apns: apns.config } });
 *   apns.script.set(token, 410);
 */
import { createSecureServer, type Http2SecureServer, type Http2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import { generateKeyPairSync, randomUUID, type KeyObject } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { decodeProtectedHeader, jwtVerify } from "jose";
import type { TestPki } from "./push-tls";
import { Script, until } from "./script";

export type ApnsAnswer = 200 | 410 | "BadDeviceToken" | 429 | 500 | 503;

export interface ApnsRequest {
  token: string;
  at: number;
  status: number;
  headers: Record<string, string>;
  body: any;
  /** The provider token's JWT, as sent. */
  jwt: string;
}

export interface FakeApns {
  /** What to put in Config.push.apns. */
  config: { url: string; keyFile: string; keyId: string; teamId: string; topic: string };
  script: Script<ApnsAnswer>;
  requests: ApnsRequest[];
  errors: string[];
  of(token: string): ApnsRequest[];
  delivered(token: string): ApnsRequest[];
  waitForDelivery(token: string, o?: { timeoutMs?: number; skip?: number }): Promise<ApnsRequest>;
  stop(): Promise<void>;
}

const KEY_ID = "ABC123DEFG";
const TEAM_ID = "DEF123GHIJ";
const TOPIC = "test.confab.app";

export async function startFakeApns(pki: Pick<TestPki, "key" | "cert">, dir: string): Promise<FakeApns> {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const keyFile = join(dir, `AuthKey_${KEY_ID}.p8`);
  writeFileSync(keyFile, privateKey.export({ type: "pkcs8", format: "pem" }).toString(), { mode: 0o600 });
  const script = new Script<ApnsAnswer>(200);
  const requests: ApnsRequest[] = [];
  const errors: string[] = [];

  const server: Http2SecureServer = createSecureServer({ key: pki.key, cert: pki.cert, allowHTTP1: false });
  // Closing the server waits for open sessions: stop() ends them (the client keeps one open).
  const sessions = new Set<Http2Session>();
  server.on("session", (session: Http2Session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });
  server.on("stream", (stream: ServerHttp2Stream, raw: IncomingHttpHeaders) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(Buffer.from(c)));
    stream.on("end", () => {
      void handle(stream, raw, Buffer.concat(chunks)).catch(() => {});
    });
  });

  function answer(stream: ServerHttp2Stream, status: number, reason?: string, extra: Record<string, string> = {}) {
    stream.respond({ ":status": status, "apns-id": randomUUID(), ...(reason ? { "content-type": "application/json" } : {}), ...extra });
    stream.end(reason ? JSON.stringify({ reason, ...(status === 410 ? { timestamp: Date.now() } : {}) }) : undefined);
  }

  async function handle(stream: ServerHttp2Stream, raw: IncomingHttpHeaders, body: Buffer) {
    const at = Date.now();
    const h: Record<string, string> = {};
    for (const [k, v] of Object.entries(raw)) h[k.toLowerCase()] = Array.isArray(v) ? v.join(",") : String(v);
    const token = /^\/3\/device\/([^/?]+)$/.exec(h[":path"] ?? "")?.[1];
    if (h[":method"] !== "POST" || !token) return answer(stream, 405, "MethodNotAllowed");
    const jwt = (h.authorization ?? "").replace(/^bearer\s+/i, "");
    let parsed: any = null;
    try {
      parsed = JSON.parse(body.toString("utf8"));
    } catch {}
    const rec: ApnsRequest = { token, at, status: 0, headers: h, body: parsed, jwt };
    requests.push(rec);
    const refuse = (status: number, reason: string, why: string) => {
      errors.push(`${token}: ${why}`);
      rec.status = status;
      answer(stream, status, reason);
    };
    try {
      if (decodeProtectedHeader(jwt).kid !== KEY_ID) return refuse(403, "InvalidProviderToken", `kid is not ${KEY_ID}`);
      const { payload } = await jwtVerify(jwt, publicKey as KeyObject, { algorithms: ["ES256"], issuer: TEAM_ID });
      if (typeof payload.iat !== "number" || payload.iat < Date.now() / 1000 - 3600) return refuse(403, "ExpiredProviderToken", `iat ${payload.iat} is over an hour old`);
    } catch (e) {
      return refuse(403, "InvalidProviderToken", `provider token refused: ${(e as Error).message}`);
    }
    if (h["apns-topic"] !== TOPIC) return refuse(400, h["apns-topic"] ? "TopicDisallowed" : "MissingTopic", `apns-topic ${h["apns-topic"]}`);
    if (h["apns-push-type"] !== "alert") return refuse(400, "InvalidPushType", `apns-push-type ${h["apns-push-type"]}`);
    const collapse = h["apns-collapse-id"];
    if (!collapse || Buffer.byteLength(collapse) > 64) return refuse(400, "BadCollapseId", `apns-collapse-id ${collapse}`);
    if (!parsed || typeof parsed.aps !== "object") return refuse(400, "PayloadEmpty", "the body is not JSON with aps");

    const a = script.next(token);
    rec.status = a === "BadDeviceToken" ? 400 : a;
    if (a === 200) return answer(stream, 200);
    if (a === 410) return answer(stream, 410, "Unregistered");
    if (a === "BadDeviceToken") return answer(stream, 400, "BadDeviceToken");
    if (a === 429) return answer(stream, 429, "TooManyRequests");
    return answer(stream, a, a === 500 ? "InternalServerError" : "ServiceUnavailable");
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as { port: number }).port;
  const ok = (r: ApnsRequest) => r.status === 200;
  const fake: FakeApns = {
    config: { url: `https://127.0.0.1:${port}`, keyFile, keyId: KEY_ID, teamId: TEAM_ID, topic: TOPIC },
    script,
    requests,
    errors,
    of: (t) => requests.filter((r) => r.token === t),
    delivered: (t) => requests.filter((r) => r.token === t && ok(r)),
    waitForDelivery: (t, o = {}) => until(() => fake.delivered(t)[o.skip ?? 0], o.timeoutMs ?? 5000, `an APNs delivery to ${t}`),
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const session of sessions) session.destroy();
      }),
  };
  return fake;
}

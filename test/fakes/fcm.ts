/**
 * A local Firebase Cloud Messaging HTTP v1 API over HTTPS (certificate from the test CA), with
 * the Google OAuth2 token endpoint beside it:
 *   POST /token  grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer, assertion=<JWT>:
 *     the assertion must be RS256, signed by the service account's key, iss = client_email,
 *     aud = this token URL, scope including firebase.messaging, at most an hour long →
 *     {access_token, expires_in}
 *   POST /v1/projects/<project_id>/messages:send with `Authorization: Bearer <access token>`
 *     issued above; message.token, message.data with string values only (as FCM requires).
 * Failures get FCM's answers (401 UNAUTHENTICATED, 400 INVALID_ARGUMENT) and are listed in
 * `errors`. Otherwise the token's script decides: 200 (default), "UNREGISTERED" (404),
 * 429 with Retry-After, 500/503.
 *
 * @example
 *   const fcm = startFakeFcm(pki, dir);
 *   startTestServer({ push: { ...push, fcm: fcm.config } });
 */
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { jwtVerify } from "jose";
import type { TestPki } from "./push-tls";
import { Script, until } from "./script";

export type FcmAnswer = 200 | "UNREGISTERED" | { status: 429; retryAfter?: string } | 500 | 503;

export interface FcmRequest {
  token: string;
  at: number;
  status: number;
  body: any;
}

export interface FakeFcm {
  /** What to put in Config.push.fcm. */
  config: { url: string; tokenUrl: string; serviceAccountFile: string };
  projectId: string;
  script: Script<FcmAnswer>;
  requests: FcmRequest[];
  /** Token exchanges that succeeded (the access token should be cached between sends). */
  tokenExchanges: number;
  errors: string[];
  of(token: string): FcmRequest[];
  delivered(token: string): FcmRequest[];
  waitForDelivery(token: string, o?: { timeoutMs?: number; skip?: number }): Promise<FcmRequest>;
  stop(): void;
}

const PROJECT = "confab-test";
const CLIENT_EMAIL = "push@confab-test.iam.gserviceaccount.com";

export function startFakeFcm(pki: Pick<TestPki, "key" | "cert">, dir: string): FakeFcm {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const script = new Script<FcmAnswer>(200);
  const requests: FcmRequest[] = [];
  const errors: string[] = [];
  const issued = new Map<string, number>(); // access token → expiry (ms)
  let origin = "";

  const fcmError = (status: number, code: string, message: string, errorCode?: string, headers: Record<string, string> = {}) =>
    Response.json(
      { error: { code: status, message, status: code, ...(errorCode ? { details: [{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", errorCode }] } : {}) } },
      { status, headers },
    );

  async function exchange(req: Request): Promise<Response> {
    const form = new URLSearchParams(await req.text());
    try {
      if (form.get("grant_type") !== "urn:ietf:params:oauth:grant-type:jwt-bearer") throw new Error(`grant_type ${form.get("grant_type")}`);
      const { payload } = await jwtVerify(form.get("assertion") ?? "", publicKey, { algorithms: ["RS256"], issuer: CLIENT_EMAIL, audience: `${origin}/token` });
      if (!String(payload.scope ?? "").split(" ").includes("https://www.googleapis.com/auth/firebase.messaging")) throw new Error(`scope ${payload.scope}`);
      if (typeof payload.exp !== "number" || typeof payload.iat !== "number" || payload.exp - payload.iat > 3600) throw new Error("lifetime over an hour");
    } catch (e) {
      errors.push(`token exchange: ${(e as Error).message}`);
      return Response.json({ error: "invalid_grant", error_description: (e as Error).message }, { status: 400 });
    }
    const token = `ya29.${randomUUID()}`;
    issued.set(token, Date.now() + 3600_000);
    fake.tokenExchanges++;
    return Response.json({ access_token: token, expires_in: 3599, token_type: "Bearer" });
  }

  async function send(req: Request, project: string): Promise<Response> {
    const at = Date.now();
    const bearer = (req.headers.get("authorization") ?? "").replace(/^Bearer\s+/i, "");
    let body: any = null;
    try {
      body = await req.json();
    } catch {}
    const token = String(body?.message?.token ?? "");
    const rec: FcmRequest = { token, at, status: 0, body };
    requests.push(rec);
    const refuse = (status: number, code: string, why: string) => {
      errors.push(`${token}: ${why}`);
      rec.status = status;
      return fcmError(status, code, why);
    };
    if (!((issued.get(bearer) ?? 0) > Date.now())) return refuse(401, "UNAUTHENTICATED", "access token unknown or expired");
    if (project !== PROJECT) return refuse(403, "PERMISSION_DENIED", `project ${project}`);
    if (!token) return refuse(400, "INVALID_ARGUMENT", "message.token missing");
    const data = body.message.data ?? {};
    const notString = Object.entries(data).filter(([, v]) => typeof v !== "string");
    if (notString.length) return refuse(400, "INVALID_ARGUMENT", `data values must be strings: ${notString.map(([k]) => k).join(", ")}`);

    const a = script.next(token);
    if (a === 200) {
      rec.status = 200;
      return Response.json({ name: `projects/${PROJECT}/messages/${randomUUID()}` });
    }
    if (a === "UNREGISTERED") {
      rec.status = 404;
      return fcmError(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED");
    }
    if (typeof a === "object") {
      rec.status = 429;
      return fcmError(429, "RESOURCE_EXHAUSTED", "Quota exceeded", "QUOTA_EXCEEDED", a.retryAfter ? { "retry-after": a.retryAfter } : {});
    }
    rec.status = a;
    return fcmError(a, a === 500 ? "INTERNAL" : "UNAVAILABLE", "try again", a === 500 ? "INTERNAL" : "UNAVAILABLE");
  }

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls: { key: pki.key, cert: pki.cert },
    fetch(req) {
      const path = new URL(req.url).pathname;
      if (req.method === "POST" && path === "/token") return exchange(req);
      const m = /^\/v1\/projects\/([^/]+)\/messages:send$/.exec(path);
      if (req.method === "POST" && m) return send(req, decodeURIComponent(m[1]!));
      return new Response("not found", { status: 404 });
    },
  });
  origin = `https://127.0.0.1:${server.port}`;

  const serviceAccountFile = join(dir, "fcm-service-account.json");
  writeFileSync(
    serviceAccountFile,
    JSON.stringify({
      type: "service_account",
      project_id: PROJECT,
      private_key_id: randomUUID().replace(/-/g, ""),
      private_key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
      client_email: CLIENT_EMAIL,
      token_uri: `${origin}/token`,
    }),
    { mode: 0o600 },
  );

  const fake: FakeFcm = {
    config: { url: origin, tokenUrl: `${origin}/token`, serviceAccountFile },
    projectId: PROJECT,
    script,
    requests,
    tokenExchanges: 0,
    errors,
    of: (t) => requests.filter((r) => r.token === t),
    delivered: (t) => requests.filter((r) => r.token === t && r.status === 200),
    waitForDelivery: (t, o = {}) => until(() => fake.delivered(t)[o.skip ?? 0], o.timeoutMs ?? 5000, `an FCM delivery to ${t}`),
    stop: () => void server.stop(true),
  };
  return fake;
}

/**
 * Apple Push Notification service over HTTP/2 with token-based auth: an ES256 provider token
 * (kid = key id, iss = team id), reused for 50 minutes — Apple rejects tokens older than an
 * hour and throttles ones refreshed more often than every 20 minutes.
 */
import { connect, type ClientHttp2Session } from "node:http2";
import { readFileSync } from "node:fs";
import { SignJWT, importPKCS8, type CryptoKey } from "jose";
import { classify, type PushMessage, type PushProvider, type SendResult } from "./provider";

const TOKEN_LIFETIME_MS = 50 * 60 * 1000;
/** Reasons meaning the device token will never work again. */
const DEAD_REASONS = new Set(["BadDeviceToken", "Unregistered", "DeviceTokenNotForTopic"]);

export interface ApnsSettings {
  url: string;
  keyFile: string | null;
  keyId: string | null;
  teamId: string | null;
  topic: string | null;
}

export class ApnsProvider implements PushProvider {
  readonly platform = "ios" as const;
  readonly enabled: boolean;
  private key: Promise<CryptoKey> | null = null;
  private token: { value: string; madeAt: number } | null = null;
  private session: ClientHttp2Session | null = null;

  constructor(
    private readonly s: ApnsSettings,
    private readonly ca: string[] | undefined,
  ) {
    this.enabled = !!(s.keyFile && s.keyId && s.teamId && s.topic);
  }

  async send(token: string, m: PushMessage): Promise<SendResult> {
    if (!/^[0-9a-fA-F]{1,200}$/.test(token)) return { kind: "dead", status: 0, reason: "BadDeviceToken" };
    const body = JSON.stringify({
      aps: { alert: { title: m.payload.title, body: m.payload.body }, sound: "default", "thread-id": m.collapseKey },
      ...m.payload,
    });
    const res = await this.request(token, body, m);
    let reason = "";
    try {
      reason = res.body ? (JSON.parse(res.body).reason ?? "") : "";
    } catch {}
    if (res.status === 410 || DEAD_REASONS.has(reason)) return { kind: "dead", status: res.status, reason: reason || "Unregistered" };
    if (res.status === 403 && reason === "ExpiredProviderToken") {
      this.token = null; // make a fresh one for the retry
      return { kind: "retry", status: 403, reason };
    }
    return classify(res.status, reason || res.body.slice(0, 200), res.retryAfter);
  }

  close() {
    this.session?.close();
    this.session = null;
  }

  private async providerToken(): Promise<string> {
    if (this.token && Date.now() - this.token.madeAt < TOKEN_LIFETIME_MS) return this.token.value;
    this.key ??= importPKCS8(readFileSync(this.s.keyFile!, "utf8"), "ES256");
    const value = await new SignJWT({})
      .setProtectedHeader({ alg: "ES256", kid: this.s.keyId! })
      .setIssuer(this.s.teamId!)
      .setIssuedAt()
      .sign(await this.key);
    this.token = { value, madeAt: Date.now() };
    return value;
  }

  /** One long-lived HTTP/2 connection, as Apple asks; reopened when it drops. */
  private connection(): ClientHttp2Session {
    if (!this.session || this.session.closed || this.session.destroyed) {
      this.session = connect(this.s.url, this.ca ? { ca: this.ca } : {});
      this.session.on("error", () => this.session?.destroy());
      this.session.on("goaway", () => this.session?.close());
    }
    return this.session;
  }

  private async request(token: string, body: string, m: PushMessage): Promise<{ status: number; body: string; retryAfter?: string }> {
    const jwt = await this.providerToken();
    return new Promise((resolve, reject) => {
      const req = this.connection().request({
        ":method": "POST",
        ":path": `/3/device/${token}`,
        authorization: `bearer ${jwt}`,
        "apns-topic": this.s.topic!,
        "apns-push-type": "alert",
        "apns-priority": "10",
        "apns-collapse-id": m.collapseKey,
        "apns-expiration": String(Math.floor(Date.now() / 1000) + m.ttlSeconds),
        "content-type": "application/json",
      });
      let status = 0;
      let retryAfter: string | undefined;
      const chunks: Buffer[] = [];
      req.setTimeout(15_000, () => req.close());
      req.on("response", (h) => {
        status = Number(h[":status"]);
        retryAfter = h["retry-after"] as string | undefined;
      });
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => (status ? resolve({ status, body: Buffer.concat(chunks).toString("utf8"), retryAfter }) : reject(new Error("APNs: no response"))));
      req.on("error", reject);
      req.end(body);
    });
  }
}


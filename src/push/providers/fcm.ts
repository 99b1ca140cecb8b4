/**
 * Firebase Cloud Messaging HTTP v1: a service-account JWT (RS256) is exchanged for an OAuth2
 * access token, cached until shortly before it expires; messages carry the payload in `data`
 * (string values, as FCM requires) and a notification title/body.
 */
import { readFileSync } from "node:fs";
import { SignJWT, importPKCS8, type CryptoKey } from "jose";
import { classify, type PushMessage, type PushProvider, type SendResult } from "./provider";

const SCOPE = "https://www.googleapis.com/auth/firebase.messaging";

interface ServiceAccount {
  project_id: string;
  client_email: string;
  private_key: string;
  token_uri?: string;
}

export interface FcmSettings {
  url: string;
  tokenUrl: string | null;
  serviceAccountFile: string | null;
}

export class FcmProvider implements PushProvider {
  readonly platform = "android" as const;
  readonly enabled: boolean;
  private account: ServiceAccount | null = null;
  private key: Promise<CryptoKey> | null = null;
  private access: { token: string; expiresAt: number } | null = null;

  constructor(
    private readonly s: FcmSettings,
    private readonly ca: string[] | undefined,
  ) {
    this.enabled = !!s.serviceAccountFile;
  }

  async send(token: string, m: PushMessage): Promise<SendResult> {
    const account = this.serviceAccount();
    const data = Object.fromEntries(Object.entries(m.payload).map(([k, v]) => [k, String(v)]));
    const res = await fetch(`${this.s.url}/v1/projects/${encodeURIComponent(account.project_id)}/messages:send`, {
      method: "POST",
      headers: { authorization: `Bearer ${await this.accessToken()}`, "content-type": "application/json" },
      body: JSON.stringify({
        message: {
          token,
          data,
          notification: { title: m.payload.title, body: m.payload.body },
          android: { collapse_key: m.collapseKey, priority: "high", ttl: `${m.ttlSeconds}s` },
        },
      }),
      signal: AbortSignal.timeout(15_000),
      ...(this.ca ? { tls: { ca: this.ca } } : {}),
    });
    const text = await res.text().catch(() => "");
    if (res.status === 401) this.access = null; // the next attempt gets a fresh token
    const code = errorCode(text);
    if (code === "UNREGISTERED" || res.status === 404) return { kind: "dead", status: res.status, reason: code ?? "NOT_FOUND" };
    if (res.status === 401) return { kind: "retry", status: 401, reason: "access token refused" };
    return classify(res.status, code ?? text.slice(0, 200), res.headers.get("retry-after"));
  }

  close() {}

  private serviceAccount(): ServiceAccount {
    this.account ??= JSON.parse(readFileSync(this.s.serviceAccountFile!, "utf8")) as ServiceAccount;
    return this.account;
  }

  private async accessToken(): Promise<string> {
    if (this.access && Date.now() < this.access.expiresAt) return this.access.token;
    const account = this.serviceAccount();
    const tokenUrl = this.s.tokenUrl ?? account.token_uri ?? "https://oauth2.googleapis.com/token";
    this.key ??= importPKCS8(account.private_key, "RS256");
    const assertion = await new SignJWT({ scope: SCOPE })
      .setProtectedHeader({ alg: "RS256", typ: "JWT" })
      .setIssuer(account.client_email)
      .setSubject(account.client_email)
      .setAudience(tokenUrl)
      .setIssuedAt()
      .setExpirationTime("1h")
      .sign(await this.key);
    const res = await fetch(tokenUrl, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion }),
      signal: AbortSignal.timeout(15_000),
      ...(this.ca ? { tls: { ca: this.ca } } : {}),
    });
    const body = (await res.json().catch(() => null)) as { access_token?: string; expires_in?: number } | null;
    if (!res.ok || !body?.access_token) throw new Error(`FCM token exchange failed with HTTP ${res.status}`);
    // Renew a minute early so a token never expires between check and use.
    this.access = { token: body.access_token, expiresAt: Date.now() + ((body.expires_in ?? 3600) - 60) * 1000 };
    return body.access_token;
  }
}

/** FCM's errorCode from error.details (UNREGISTERED, QUOTA_EXCEEDED, …), or the status name. */
function errorCode(text: string): string | undefined {
  try {
    const e = JSON.parse(text)?.error;
    return e?.details?.find((d: any) => d?.errorCode)?.errorCode ?? e?.status;
  } catch {
    return undefined;
  }
}

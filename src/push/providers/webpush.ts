/**
 * Web Push (RFC 8030) with VAPID (RFC 8292) and aes128gcm (RFC 8291). The `web-push` library
 * builds the encrypted request; we send it ourselves so the SSRF guard and the push CA apply.
 */
import webpush from "web-push";
import type { VapidKeys } from "../../lib/secrets";
import { checkPushEndpoint, UnresolvedEndpointError } from "./ssrf";
import { classify, type PushMessage, type PushProvider, type SendResult } from "./provider";

export interface WebSubscription {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

/** The browser's PushSubscription, as an object or as its JSON string (CONTRACT §11). */
export function parseSubscription(token: unknown): WebSubscription | null {
  let s: any = token;
  if (typeof token === "string") {
    try {
      s = JSON.parse(token);
    } catch {
      return null;
    }
  }
  if (typeof s?.endpoint !== "string" || typeof s?.keys?.p256dh !== "string" || typeof s?.keys?.auth !== "string") return null;
  if (s.endpoint.length > 2048 || s.keys.p256dh.length > 256 || s.keys.auth.length > 64) return null;
  return { endpoint: s.endpoint, keys: { p256dh: s.keys.p256dh, auth: s.keys.auth } };
}

export class WebPushProvider implements PushProvider {
  readonly platform = "web" as const;
  readonly enabled = true; // VAPID keys always exist: they are made at first start

  constructor(
    private readonly vapid: VapidKeys,
    private readonly subject: string,
    private readonly allowPrivate: boolean,
    private readonly ca: string[] | undefined,
  ) {}

  /**
   * The VAPID Authorization for a push service origin, signed once and reused for an hour (the
   * JWT is valid 12 h, within RFC 8292's 24 h): signing costs more than encrypting the push,
   * and a push service sees the same few origins' tokens over and over.
   */
  private readonly vapidByOrigin = new Map<string, { authorization: string; reuseUntil: number }>();

  private vapidAuthorization(endpoint: URL): string {
    const now = Date.now();
    const hit = this.vapidByOrigin.get(endpoint.origin);
    if (hit && hit.reuseUntil > now) return hit.authorization;
    const exp = Math.floor(now / 1000) + 12 * 3600;
    const { Authorization } = webpush.getVapidHeaders(endpoint.origin, this.subject, this.vapid.publicKey, this.vapid.privateKey, "aes128gcm", exp);
    if (this.vapidByOrigin.size >= 1000) this.vapidByOrigin.clear(); // origins come from clients: bounded
    this.vapidByOrigin.set(endpoint.origin, { authorization: Authorization, reuseUntil: now + 3600_000 });
    return Authorization;
  }

  async send(token: string, m: PushMessage): Promise<SendResult> {
    const sub = parseSubscription(token);
    if (!sub) return { kind: "dead", status: 0, reason: "not a push subscription" };
    let url: URL;
    try {
      url = await checkPushEndpoint(sub.endpoint, this.allowPrivate);
    } catch (e) {
      // A DNS failure may pass: retry. A private address or a non-https URL never becomes valid.
      if (e instanceof UnresolvedEndpointError) return { kind: "retry", status: 0, reason: e.message };
      return { kind: "dead", status: 0, reason: (e as Error).message };
    }
    const req = webpush.generateRequestDetails(sub, JSON.stringify(m.payload), {
      headers: { Authorization: this.vapidAuthorization(url) },
      TTL: m.ttlSeconds,
      // Topic: a newer push replaces an undelivered one for the same conversation (RFC 8030 §5.4).
      topic: m.collapseKey,
      urgency: "high",
      contentEncoding: "aes128gcm",
    });
    const res = await fetch(req.endpoint, {
      method: req.method,
      headers: req.headers as Record<string, string>,
      body: req.body ? new Uint8Array(req.body) : undefined,
      signal: AbortSignal.timeout(15_000),
      redirect: "manual",
      ...(this.ca ? { tls: { ca: this.ca } } : {}),
    });
    const text = await res.text().catch(() => "");
    // 404/410: the subscription expired or was revoked (RFC 8030 §7.3).
    if (res.status === 404 || res.status === 410) return { kind: "dead", status: res.status, reason: text.slice(0, 200) || "gone" };
    return classify(res.status, text.slice(0, 200), res.headers.get("retry-after"));
  }

  close() {}
}

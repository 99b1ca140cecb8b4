/** One interface for every push service (Web Push, APNs, FCM): the outbox knows only this. */
import type { Platform } from "../store";

/** The notification content (CONTRACT §11): at least these fields, in every provider's data. */
export interface NotificationPayload {
  type: "new_message" | "test";
  conversation_id: number;
  message_id: string;
  sender_id: number;
  sender_name: string;
  title: string;
  body: string;
}

export interface PushMessage {
  payload: NotificationPayload;
  /** Newer pushes with the same key replace older undelivered ones on the service/device. */
  collapseKey: string;
  /** How long the service should keep trying to reach an offline device. */
  ttlSeconds: number;
}

/**
 * ok: accepted; dead: the token will never work again (remove the device); retry: a passing
 * failure (with the service's Retry-After when it gave one); failed: a permanent refusal of
 * this push (retrying will not help, but the device may be fine).
 */
export type SendResult =
  | { kind: "ok"; status: number }
  | { kind: "dead"; status: number; reason: string }
  | { kind: "retry"; status: number; reason: string; retryAfterSeconds?: number }
  | { kind: "failed"; status: number; reason: string };

export interface PushProvider {
  readonly platform: Platform;
  /** False when the provider has no credentials configured: its devices are kept but not sent to. */
  readonly enabled: boolean;
  send(token: string, message: PushMessage): Promise<SendResult>;
  close(): void;
}

/** Retry-After as seconds (it may also be an HTTP date). */
export function retryAfterSeconds(value: string | null | undefined): number | undefined {
  if (!value) return undefined;
  const n = Number(value);
  if (Number.isFinite(n) && n >= 0) return n;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

/** The usual mapping of an HTTP status to a result, for providers that follow it. */
export function classify(status: number, reason: string, retryAfter?: string | null): SendResult {
  if (status >= 200 && status < 300) return { kind: "ok", status };
  if (status === 429 || status >= 500) return { kind: "retry", status, reason, retryAfterSeconds: retryAfterSeconds(retryAfter) };
  return { kind: "failed", status, reason };
}

/**
 * Client frames of /v1/connect (the seed's WebSocket API, CONTRACT §8), validated into typed
 * values. A frame that fails becomes an AppError, which the gateway sends as an `error` frame.
 */
import { AppError, invalidField } from "../lib/errors";
import type { MessageType } from "../messages/store";

export type ClientFrame =
  | { type: "auth"; token: string; device_id: string | null }
  | { type: "resume"; last_event_id: number }
  | { type: "subscribe"; conversation_ids: number[] }
  | { type: "unsubscribe"; conversation_ids: number[] }
  | {
      type: "send_message";
      conversation_id: number;
      message_type: MessageType;
      content: string | null;
      client_message_id: string | null;
      reply_to_message_id: string | null;
      media_attachments: { file_id: string }[];
    }
  | { type: "typing_start"; conversation_id: number }
  | { type: "typing_stop"; conversation_id: number }
  | { type: "presence_update"; status: "online" | "away" }
  | { type: "message_delivered"; conversation_id: number; message_id: string }
  | { type: "message_read"; conversation_id: number; message_id: string }
  | { type: "ping" };

export type FrameType = ClientFrame["type"];

const MESSAGE_TYPES = ["text", "image", "video", "audio", "file"];
const MAX_IDS = 1000;

/** The request_id a reply must echo: any short string the client chose. */
export function requestIdOf(raw: unknown): string | undefined {
  const id = (raw as { request_id?: unknown } | null)?.request_id;
  return typeof id === "string" && id.length <= 128 ? id : undefined;
}

/**
 * The frame's JSON value. Elysia hands over parsed JSON, or the raw string when it did not
 * parse; it only tries text starting with `{`, `[`, `"` or `/`, so a valid object frame with
 * leading whitespace (a pretty-printing client) arrives as a string: parse it here.
 */
export function decodeFrame(message: unknown): unknown {
  if (typeof message !== "string") return message;
  try {
    return JSON.parse(message);
  } catch {
    throw new AppError("INVALID_JSON", "The frame is not valid JSON");
  }
}

/** Validate a decoded frame (see decodeFrame). */
export function parseFrame(message: unknown): ClientFrame {
  if (typeof message !== "object" || message === null || Array.isArray(message)) throw invalidField("type", "A frame is a JSON object with a type");
  const f = message as Record<string, unknown>;
  switch (f.type) {
    case "auth":
      return { type: "auth", token: str(f, "token", 4096), device_id: optStr(f, "device_id", 128) };
    case "resume":
      return { type: "resume", last_event_id: int(f, "last_event_id", 0) };
    case "subscribe":
    case "unsubscribe":
      return { type: f.type, conversation_ids: ids(f, "conversation_ids") };
    case "send_message":
      return {
        type: "send_message",
        conversation_id: int(f, "conversation_id", 1),
        message_type: oneOf(f, "message_type", MESSAGE_TYPES) as MessageType,
        content: optStr(f, "content", Number.MAX_SAFE_INTEGER),
        client_message_id: optStr(f, "client_message_id", 128),
        reply_to_message_id: optStr(f, "reply_to_message_id", 64),
        media_attachments: attachments(f),
      };
    case "typing_start":
    case "typing_stop":
      return { type: f.type, conversation_id: int(f, "conversation_id", 1) };
    case "presence_update":
      return { type: "presence_update", status: oneOf(f, "status", ["online", "away"]) as "online" | "away" };
    case "message_delivered":
    case "message_read":
      return { type: f.type, conversation_id: int(f, "conversation_id", 1), message_id: str(f, "message_id", 64) };
    case "ping":
      return { type: "ping" };
    default:
      throw invalidField("type", `Unknown frame type ${JSON.stringify(String(f.type ?? "")).slice(0, 40)}`);
  }
}

function str(f: Record<string, unknown>, k: string, max: number): string {
  const v = f[k];
  if (typeof v !== "string" || v.length === 0) throw invalidField(k, "Required string");
  if (v.length > max) throw invalidField(k, `At most ${max} characters`);
  return v;
}

function optStr(f: Record<string, unknown>, k: string, max: number): string | null {
  return f[k] === undefined || f[k] === null ? null : typeof f[k] === "string" && f[k] === "" ? "" : str(f, k, max);
}

function int(f: Record<string, unknown>, k: string, min: number): number {
  const v = f[k];
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) throw invalidField(k, `An integer ≥ ${min}`);
  return v;
}

function ids(f: Record<string, unknown>, k: string): number[] {
  const v = f[k];
  if (!Array.isArray(v) || v.length > MAX_IDS || !v.every((x) => Number.isSafeInteger(x) && x > 0))
    throw invalidField(k, `An array of at most ${MAX_IDS} conversation ids`);
  return [...new Set(v as number[])];
}

function oneOf(f: Record<string, unknown>, k: string, allowed: string[]): string {
  const v = f[k];
  if (typeof v !== "string" || !allowed.includes(v)) throw invalidField(k, `One of ${allowed.join(", ")}`);
  return v;
}

function attachments(f: Record<string, unknown>): { file_id: string }[] {
  const v = f.media_attachments;
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.length > 10 || !v.every((a) => typeof a?.file_id === "string" && a.file_id.length <= 64))
    throw invalidField("media_attachments", "At most 10 objects with a file_id");
  return v.map((a) => ({ file_id: a.file_id }));
}

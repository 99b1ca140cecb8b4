/**
 * Opaque page cursors (CONTRACT §2): base64url of a small JSON object. Clients treat them as
 * strings; a cursor that does not decode to the expected shape is a 400 naming `cursor`.
 */
import { invalidField } from "./errors";

export function encodeCursor<T extends object>(value: T): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

export function decodeCursor<T extends object>(raw: string, valid: (v: T) => boolean, field = "cursor"): T {
  let value: unknown;
  try {
    if (!/^[A-Za-z0-9_-]{1,512}$/.test(raw)) throw new Error("not base64url");
    value = JSON.parse(Buffer.from(raw, "base64url").toString("utf8"));
  } catch {
    throw invalidField(field, "Not a valid cursor: pass back a next_cursor from an earlier page");
  }
  if (typeof value !== "object" || value === null || !valid(value as T)) throw invalidField(field, "Not a valid cursor: pass back a next_cursor from an earlier page");
  return value as T;
}

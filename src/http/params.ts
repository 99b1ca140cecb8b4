/**
 * Paging and id parameters, parsed the same way on every route (CONTRACT §2): `limit` defaults
 * to 50, values above 100 are treated as 100, anything not a positive integer is a 400.
 */
import { invalidField } from "../lib/errors";

export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 100;

export function parseLimit(raw: string | undefined, fallback = DEFAULT_LIMIT): number {
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw invalidField("limit", "limit must be a positive integer");
  return Math.min(Number(raw), MAX_LIMIT);
}

export function parseOffset(raw: string | undefined): number {
  if (raw === undefined || raw === "") return 0;
  if (!/^\d+$/.test(raw) || Number(raw) > 1_000_000) throw invalidField("offset", "offset must be an integer from 0 to 1000000");
  return Number(raw);
}

/** A positive integer id from the path (user_id, conversation_id). */
export function parseId(raw: string, field: string): number {
  if (!/^[1-9]\d{0,15}$/.test(raw)) throw invalidField(field, `${field} must be a positive integer`);
  return Number(raw);
}

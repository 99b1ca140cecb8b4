/** Times are stored as integer milliseconds (UTC) and rendered as ISO-8601 with `Z` (CONTRACT §2). */
export function iso(ms: number): string;
export function iso(ms: number | null): string | null;
export function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/**
 * Notification preferences (the seed's document) and the rules that read them: muted
 * conversations, kinds turned off, quiet hours in the user's own timezone, preview privacy.
 */
import { validationError, type FieldError } from "../lib/errors";

export type Preview = "full" | "sender" | "none";

export interface QuietHours {
  enabled: boolean;
  start_time: string; // "HH:MM", 24-hour
  end_time: string;
  timezone: string; // IANA, e.g. America/New_York
}

export interface Preferences {
  global_notifications: boolean;
  message_notifications: boolean;
  group_notifications: boolean;
  quiet_hours: QuietHours;
  conversation_preferences: Record<string, { notifications_enabled: boolean }>;
  /** How much a notification may show; the server's CONFAB_PUSH_PREVIEW is the upper bound. */
  preview: Preview;
}

export const DEFAULT_PREFERENCES: Preferences = {
  global_notifications: true,
  message_notifications: true,
  group_notifications: true,
  quiet_hours: { enabled: false, start_time: "22:00", end_time: "08:00", timezone: "UTC" },
  conversation_preferences: {},
  preview: "full",
};

const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;
/** Bounds a stored document: one entry per conversation the user could mute. */
const MAX_CONVERSATION_PREFERENCES = 10_000;

export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Check a whole document (PUT replaces it); every problem is reported at once. */
export function checkPreferences(p: Preferences): Preferences {
  const problems: FieldError[] = [];
  const q = p.quiet_hours;
  if (!HHMM.test(q.start_time)) problems.push({ field: "quiet_hours.start_time", message: "A time of day as HH:MM (00:00–23:59)" });
  if (!HHMM.test(q.end_time)) problems.push({ field: "quiet_hours.end_time", message: "A time of day as HH:MM (00:00–23:59)" });
  if (!isTimeZone(q.timezone)) problems.push({ field: "quiet_hours.timezone", message: "An IANA time zone such as Europe/Berlin" });
  const keys = Object.keys(p.conversation_preferences);
  if (keys.length > MAX_CONVERSATION_PREFERENCES) problems.push({ field: "conversation_preferences", message: `At most ${MAX_CONVERSATION_PREFERENCES} entries` });
  for (const k of keys) if (!/^[1-9]\d{0,15}$/.test(k)) problems.push({ field: `conversation_preferences.${k}`, message: "Keys are conversation ids" });
  if (problems.length) throw validationError(problems);
  return p;
}

/** Minutes since midnight at `now` in `timeZone`. */
function minutesIn(timeZone: string, now: Date): number {
  const parts = new Intl.DateTimeFormat("en-GB", { timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).formatToParts(now);
  const get = (t: string) => Number(parts.find((x) => x.type === t)?.value ?? 0);
  return get("hour") * 60 + get("minute");
}

const toMinutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** Whether `now` falls in the quiet hours, which may span midnight (22:00–08:00). */
export function inQuietHours(q: QuietHours, now: Date): boolean {
  if (!q.enabled) return false;
  const t = minutesIn(q.timezone, now);
  const start = toMinutes(q.start_time);
  const end = toMinutes(q.end_time);
  if (start === end) return false;
  return start < end ? t >= start && t < end : t >= start || t < end;
}

/** Whether this user wants a push about a message in this conversation right now. */
export function wantsPush(p: Preferences, conversationId: number, group: boolean, now: Date): boolean {
  if (!p.global_notifications) return false;
  if (group ? !p.group_notifications : !p.message_notifications) return false;
  if (p.conversation_preferences[String(conversationId)]?.notifications_enabled === false) return false;
  return !inQuietHours(p.quiet_hours, now);
}

const PRIVACY: Record<Preview, number> = { full: 0, sender: 1, none: 2 };

/** The more private of the server's and the user's preview settings. */
export function effectivePreview(server: Preview, user: Preview): Preview {
  return PRIVACY[user] > PRIVACY[server] ? user : server;
}

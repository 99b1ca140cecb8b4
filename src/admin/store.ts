/** The operator's read-only queries: counts, day buckets, conversation overviews (never content). */
import { statSync } from "node:fs";
import type { Db } from "../db/open";
import type { UserRow } from "../users/model";

export interface ConversationOverviewRow {
  id: number;
  type: "direct" | "group";
  title: string | null;
  created_by: number | null;
  created_at: number;
  updated_at: number;
  participant_count: number;
  message_count: number;
  participant_ids: string; // JSON array
}

export interface DayCount {
  day: string; // YYYY-MM-DD (UTC)
  messages: number;
}

export class AdminStore {
  private readonly usersQ;
  private readonly countQ;
  private readonly conversationsQ;
  private readonly totalsQ;
  private readonly perDayQ;

  constructor(private readonly db: Db) {
    // Newest accounts first, keyset by id; `q` filters on a prefix of email, username or names.
    const match = `($q IS NULL OR email LIKE $p ESCAPE '\\' OR username LIKE $p ESCAPE '\\' OR first_name LIKE $p ESCAPE '\\' OR last_name LIKE $p ESCAPE '\\')`;
    this.usersQ = db.query<UserRow, any>(`SELECT * FROM users WHERE id < $before AND ${match} ORDER BY id DESC LIMIT $limit`);
    this.countQ = db.query<{ n: number }, any>(`SELECT count(*) AS n FROM users WHERE ${match}`);
    this.conversationsQ = db.query<ConversationOverviewRow, [number, number]>(
      `SELECT c.id, c.type, c.title, c.created_by, c.created_at, c.updated_at,
              (SELECT count(*) FROM participants p WHERE p.conversation_id = c.id) AS participant_count,
              (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) AS message_count,
              (SELECT json_group_array(user_id) FROM participants p WHERE p.conversation_id = c.id) AS participant_ids
       FROM conversations c WHERE c.id > ? ORDER BY c.id LIMIT ?`,
    );
    this.totalsQ = db.query<{ users: number; disabled: number; admins: number; conversations: number; messages: number; sessions: number; devices: number }, [number]>(
      `SELECT (SELECT count(*) FROM users) AS users,
              (SELECT count(*) FROM users WHERE disabled = 1) AS disabled,
              (SELECT count(*) FROM users WHERE role = 'admin') AS admins,
              (SELECT count(*) FROM conversations) AS conversations,
              (SELECT count(*) FROM messages) AS messages,
              (SELECT count(*) FROM sessions WHERE revoked_at IS NULL AND expires_at > ?) AS sessions,
              (SELECT count(*) FROM devices) AS devices`,
    );
    // Messages per UTC day: message ids are UUIDv7, which begin with their creation time, so a
    // time window is a range of the id index — no index on created_at needed for this.
    this.perDayQ = db.query<DayCount, [string]>(
      `SELECT strftime('%Y-%m-%d', created_at / 1000, 'unixepoch') AS day, count(*) AS messages
       FROM messages WHERE id >= ? GROUP BY day ORDER BY day`,
    );
  }

  selectUsers(q: string | null, before: number, limit: number): { rows: UserRow[]; total: number } {
    const p = q === null ? null : q.replace(/[\\%_]/g, (c) => "\\" + c) + "%";
    return { rows: this.usersQ.all({ q, p, before, limit }), total: this.countQ.get({ q, p })!.n };
  }

  selectConversations(after: number, limit: number): ConversationOverviewRow[] {
    return this.conversationsQ.all(after, limit);
  }

  totals(now: number) {
    return this.totalsQ.get(now)!;
  }

  messagesPerDay(since: number): DayCount[] {
    const hex = since.toString(16).padStart(12, "0");
    return this.perDayQ.all(`${hex.slice(0, 8)}-${hex.slice(8, 12)}-0000-0000-000000000000`);
  }

  /**
   * Bytes on disk: the database file and its WAL, which holds every page written since the last
   * checkpoint (up to journal_size_limit) — what a disk fills up with, and what a backup reads.
   */
  databaseBytes(): number {
    return fileBytes(this.db.filename) + fileBytes(`${this.db.filename}-wal`);
  }
}

function fileBytes(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0; // no such file right now (no WAL yet, or an in-memory database)
  }
}

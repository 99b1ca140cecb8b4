/** The event journal's SQL (see migrations/0003_events.sql). */
import type { Db } from "../db/open";

export interface JournalRow {
  id: number;
  type: string;
  conversation_id: number | null;
  payload: string;
}

export class JournalStore {
  private readonly insertQ;
  private readonly recipientQ;
  private readonly afterQ;
  private readonly maxQ;
  private readonly prunedQ;
  private readonly firstKeptQ;
  private readonly pruneQ;
  private readonly markPrunedQ;

  constructor(db: Db) {
    this.insertQ = db.query<{ id: number }, [string, number | null, string, number]>(
      "INSERT INTO events (type, conversation_id, payload, created_at) VALUES (?, ?, ?, ?) RETURNING id",
    );
    this.recipientQ = db.query("INSERT OR IGNORE INTO event_recipients (user_id, event_id) VALUES (?, ?)");
    // Everything after `after` that the user may see: events of conversations they are in now,
    // and events addressed to them. A primary-key range, filtered.
    this.afterQ = db.query<JournalRow, [number, number, number, number]>(
      `SELECT id, type, conversation_id, payload FROM events
       WHERE id > ?1 AND id <= ?2
         AND (conversation_id IN (SELECT conversation_id FROM participants WHERE user_id = ?3)
              OR id IN (SELECT event_id FROM event_recipients WHERE user_id = ?3 AND event_id > ?1))
       ORDER BY id LIMIT ?4`,
    );
    this.maxQ = db.query<{ id: number | null }, []>("SELECT max(id) AS id FROM events");
    this.prunedQ = db.query<{ through: number }, []>("SELECT through FROM events_pruned WHERE id = 1");
    // The first event young enough to keep, walking ids from the oldest: ids grow with time, so
    // this reads only the rows about to be pruned.
    this.firstKeptQ = db.query<{ id: number }, [number]>("SELECT id FROM events WHERE created_at >= ? ORDER BY id LIMIT 1");
    this.pruneQ = db.query("DELETE FROM events WHERE id <= ?");
    this.markPrunedQ = db.query("UPDATE events_pruned SET through = max(through, ?) WHERE id = 1");
  }

  insertEvent(type: string, conversationId: number | null, payload: string, now: number): number {
    return this.insertQ.get(type, conversationId, payload, now)!.id;
  }

  insertRecipient(userId: number, eventId: number) {
    this.recipientQ.run(userId, eventId);
  }

  selectVisibleAfter(userId: number, after: number, upTo: number, limit: number): JournalRow[] {
    return this.afterQ.all(after, upTo, userId, limit);
  }

  selectMaxId(): number {
    return this.maxQ.get()?.id ?? 0;
  }

  selectPrunedThrough(): number {
    return this.prunedQ.get()?.through ?? 0;
  }

  /**
   * Delete events older than `before` (and any earlier id: ids grow with time), remembering the
   * highest id deleted. Returns how many were deleted.
   */
  deleteOlderThan(before: number): number {
    const firstKept = this.firstKeptQ.get(before)?.id;
    const last = firstKept !== undefined ? firstKept - 1 : this.selectMaxId();
    if (last <= this.selectPrunedThrough()) return 0;
    this.markPrunedQ.run(last);
    return this.pruneQ.run(last).changes;
  }
}

/** Sessions, refresh tokens and linked external identities. */
import type { Db } from "../db/open";
import type { Role } from "../users/model";

export interface SessionRow {
  id: string;
  user_id: number;
  device_id: string | null;
  device_type: string | null;
  platform: string | null;
  created_at: number;
  last_used_at: number | null;
  expires_at: number;
  revoked_at: number | null;
}

/** What every authenticated request needs to know, read in one indexed lookup. */
export interface LiveSession {
  user_id: number;
  role: Role;
  disabled: 0 | 1;
  revoked_at: number | null;
}

export interface RefreshTokenRow {
  session_id: string;
  used_at: number | null;
}

export interface Device {
  device_id?: string | null;
  device_type?: string | null;
  platform?: string | null;
}

export class AuthStore {
  private readonly insertSessionQ;
  private readonly liveSessionQ;
  private readonly sessionByIdQ;
  private readonly sessionsOfUserQ;
  private readonly revokeQ;
  private readonly revokeAllQ;
  private readonly touchQ;
  private readonly insertTokenQ;
  private readonly tokenQ;
  private readonly useTokenQ;
  private readonly pruneQ;
  private readonly identityQ;
  private readonly insertIdentityQ;

  constructor(db: Db) {
    this.insertSessionQ = db.query(
      `INSERT INTO sessions (id, user_id, device_id, device_type, platform, created_at, last_used_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    // Runs on every authenticated request. Two primary-key subqueries rather than a JOIN: same
    // answer, but ~3.5 µs a call instead of ~9.5 µs with bun:sqlite (SQLite 3.54) here. A
    // session whose user row is gone counts as disabled.
    this.liveSessionQ = db.query<LiveSession, [string]>(
      `SELECT s.user_id, s.revoked_at,
              (SELECT role FROM users WHERE id = s.user_id) AS role,
              coalesce((SELECT disabled FROM users WHERE id = s.user_id), 1) AS disabled
       FROM sessions s WHERE s.id = ?`,
    );
    this.sessionByIdQ = db.query<SessionRow, [string]>("SELECT * FROM sessions WHERE id = ?");
    this.sessionsOfUserQ = db.query<SessionRow, [number, number]>(
      `SELECT * FROM sessions WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? ORDER BY created_at`,
    );
    this.revokeQ = db.query("UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL");
    this.revokeAllQ = db.query<{ id: string }, [number, number]>(
      "UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL RETURNING id",
    );
    this.touchQ = db.query("UPDATE sessions SET last_used_at = ? WHERE id = ?");
    this.insertTokenQ = db.query("INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES (?, ?, ?)");
    this.tokenQ = db.query<RefreshTokenRow, [Uint8Array]>("SELECT session_id, used_at FROM refresh_tokens WHERE token_hash = ?");
    this.useTokenQ = db.query("UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL");
    this.pruneQ = db.query(
      "DELETE FROM sessions WHERE expires_at < ? OR (revoked_at IS NOT NULL AND revoked_at < ?)",
    );
    this.identityQ = db.query<{ user_id: number }, [string, string]>(
      "SELECT user_id FROM identities WHERE provider = ? AND subject = ?",
    );
    this.insertIdentityQ = db.query("INSERT INTO identities (provider, subject, user_id, created_at) VALUES (?, ?, ?, ?)");
  }

  insertSession(id: string, userId: number, d: Device, expiresAt: number, now: number) {
    this.insertSessionQ.run(id, userId, d.device_id ?? null, d.device_type ?? null, d.platform ?? null, now, now, expiresAt);
  }

  selectLiveSession(id: string): LiveSession | null {
    return this.liveSessionQ.get(id);
  }

  selectSession(id: string): SessionRow | null {
    return this.sessionByIdQ.get(id);
  }

  selectActiveSessionsOfUser(userId: number, now: number): SessionRow[] {
    return this.sessionsOfUserQ.all(userId, now);
  }

  /** Returns whether a live session was revoked now. */
  revokeSession(id: string, now: number): boolean {
    return this.revokeQ.run(now, id).changes > 0;
  }

  /** Revoke every live session of a user; returns their ids. */
  revokeSessionsOfUser(userId: number, now: number): string[] {
    return this.revokeAllQ.all(now, userId).map((r) => r.id);
  }

  touchSession(id: string, now: number) {
    this.touchQ.run(now, id);
  }

  insertRefreshToken(hash: Uint8Array, sessionId: string, now: number) {
    this.insertTokenQ.run(hash, sessionId, now);
  }

  selectRefreshToken(hash: Uint8Array): RefreshTokenRow | null {
    return this.tokenQ.get(hash);
  }

  /** Mark a token used; false when it already was (a concurrent refresh won the race). */
  useRefreshToken(hash: Uint8Array, now: number): boolean {
    return this.useTokenQ.run(now, hash).changes > 0;
  }

  /** Forget sessions that ended more than `graceMs` ago, with their tokens (cascade). */
  pruneSessions(now: number, graceMs: number) {
    this.pruneQ.run(now - graceMs, now - graceMs);
  }

  selectIdentity(provider: string, subject: string): number | null {
    return this.identityQ.get(provider, subject)?.user_id ?? null;
  }

  insertIdentity(provider: string, subject: string, userId: number, now: number) {
    this.insertIdentityQ.run(provider, subject, userId, now);
  }
}

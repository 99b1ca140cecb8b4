/** The users table: every statement prepared once per handle (ARCHITECTURE rule 3). */
import type { Db } from "../db/open";
import type { Role, UserRow } from "./model";

export interface NewUser {
  email: string;
  username: string;
  firstName: string;
  lastName: string;
  passwordHash: string | null;
  role: Role;
}

export interface ProfilePatch {
  first_name?: string;
  last_name?: string;
  status_message?: string | null;
  show_last_seen?: boolean;
  show_online_status?: boolean;
}

/** Escape LIKE wildcards so a search for "a_b" means the three characters a, _, b. */
function likePrefix(s: string): string {
  return s.replace(/[\\%_]/g, (c) => "\\" + c) + "%";
}

export class UserStore {
  private readonly insert;
  private readonly byId;
  private readonly byIds;
  private readonly byEmail;
  private readonly byUsername;
  private readonly update;
  private readonly setPasswordHash;
  private readonly setDisabledFlag;
  private readonly setRoleValue;
  private readonly setPicture;
  private readonly touch;
  private readonly deleteQ;
  private readonly page;
  private readonly count;
  private readonly search;
  private readonly searchCount;

  constructor(db: Db) {
    this.insert = db.query<{ id: number }, [string, string, string, string, string | null, Role, number, number]>(
      `INSERT INTO users (email, username, first_name, last_name, password_hash, role, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
    );
    this.byId = db.query<UserRow, [number]>("SELECT * FROM users WHERE id = ?");
    this.byIds = db.query<UserRow, [string]>("SELECT * FROM users WHERE id IN (SELECT value FROM json_each(?))");
    this.byEmail = db.query<UserRow, [string]>("SELECT * FROM users WHERE email = ?");
    this.byUsername = db.query<UserRow, [string]>("SELECT * FROM users WHERE username = ?");
    this.update = db.query(
      `UPDATE users SET
         first_name = coalesce($first_name, first_name),
         last_name = coalesce($last_name, last_name),
         status_message = CASE WHEN $set_status THEN $status_message ELSE status_message END,
         show_last_seen = coalesce($show_last_seen, show_last_seen),
         show_online_status = coalesce($show_online_status, show_online_status),
         updated_at = $now
       WHERE id = $id`,
    );
    this.setPasswordHash = db.query("UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?");
    this.setDisabledFlag = db.query("UPDATE users SET disabled = ?, updated_at = ? WHERE id = ?");
    this.setRoleValue = db.query("UPDATE users SET role = ?, updated_at = ? WHERE id = ?");
    this.setPicture = db.query("UPDATE users SET profile_picture = ?, updated_at = ? WHERE id = ?");
    this.deleteQ = db.query("DELETE FROM users WHERE id = ?");
    this.touch = db.query("UPDATE users SET last_active_at = ? WHERE id = ?");
    this.page = db.query<UserRow, [number, number]>("SELECT * FROM users WHERE id > ? ORDER BY id LIMIT ?");
    this.count = db.query<{ n: number }, []>("SELECT count(*) AS n FROM users");
    // Prefix match on username, first or last name; the three indexes each serve one branch.
    const matches = `SELECT id FROM users WHERE username LIKE $p ESCAPE '\\' AND disabled = 0
      UNION SELECT id FROM users WHERE first_name LIKE $p ESCAPE '\\' AND disabled = 0
      UNION SELECT id FROM users WHERE last_name LIKE $p ESCAPE '\\' AND disabled = 0`;
    this.search = db.query<UserRow & { shared: number }, any>(
      `SELECT u.*, (SELECT count(*) FROM participants mine JOIN participants theirs
                      ON theirs.conversation_id = mine.conversation_id AND theirs.user_id = u.id
                    WHERE mine.user_id = $viewer) AS shared
       FROM users u WHERE u.id IN (${matches})
       ORDER BY u.username LIMIT $limit OFFSET $offset`,
    );
    this.searchCount = db.query<{ n: number }, any>(`SELECT count(*) AS n FROM (${matches})`);
  }

  insertUser(u: NewUser, now = Date.now()): number {
    return this.insert.get(u.email, u.username, u.firstName, u.lastName, u.passwordHash, u.role, now, now)!.id;
  }

  selectUserById(id: number): UserRow | null {
    return this.byId.get(id);
  }

  selectUsersByIds(ids: readonly number[]): UserRow[] {
    return ids.length ? this.byIds.all(JSON.stringify(ids)) : [];
  }

  selectUserByEmail(email: string): UserRow | null {
    return this.byEmail.get(email);
  }

  selectUserByUsername(username: string): UserRow | null {
    return this.byUsername.get(username);
  }

  updateProfile(id: number, p: ProfilePatch, now = Date.now()) {
    this.update.run({
      id,
      now,
      first_name: p.first_name ?? null,
      last_name: p.last_name ?? null,
      set_status: p.status_message !== undefined ? 1 : 0,
      status_message: p.status_message ?? null,
      show_last_seen: p.show_last_seen === undefined ? null : Number(p.show_last_seen),
      show_online_status: p.show_online_status === undefined ? null : Number(p.show_online_status),
    });
  }

  updatePasswordHash(id: number, hash: string, now = Date.now()) {
    this.setPasswordHash.run(hash, now, id);
  }

  updateDisabled(id: number, disabled: boolean, now = Date.now()) {
    this.setDisabledFlag.run(disabled ? 1 : 0, now, id);
  }

  updateRole(id: number, role: Role, now = Date.now()) {
    this.setRoleValue.run(role, now, id);
  }

  /** `fileId`: the media file of the new picture; null clears it. */
  updateProfilePicture(id: number, fileId: string | null, now = Date.now()) {
    this.setPicture.run(fileId, now, id);
  }

  /** Sessions, devices, memberships and reactions go with the row (ON DELETE CASCADE). */
  deleteUser(id: number): boolean {
    return this.deleteQ.run(id).changes > 0;
  }

  updateLastActive(id: number, at: number) {
    this.touch.run(at, id);
  }

  /** Keyset page by id, for operators. */
  selectUsersAfter(afterId: number, limit: number): UserRow[] {
    return this.page.all(afterId, limit);
  }

  countUsers(): number {
    return this.count.get()!.n;
  }

  /** Active users whose username, first or last name starts with `prefix` (case-insensitive). */
  searchUsers(viewerId: number, prefix: string, limit: number, offset: number): { rows: (UserRow & { shared: number })[]; total: number } {
    const p = likePrefix(prefix);
    return {
      rows: this.search.all({ p, viewer: viewerId, limit, offset }),
      total: this.searchCount.get({ p })!.n,
    };
  }
}

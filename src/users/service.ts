/** The rules about accounts and profiles (CONTRACT §5, §6). Transport-agnostic; throws AppError. */
import { AppError, forbidden, notFound, validationError, type FieldError } from "../lib/errors";
import { writeTransaction, type Db } from "../db/open";
import type { AfterCommit, BatchedWriter } from "../db/batched-writer";
import type { EventBus } from "../events";
import { hashPassword, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from "../auth/passwords";
import type { AuthStore } from "../auth/store";
import { toAccount, toProfile, toSummary, type PictureUrl, type Role, type UserAccount, type UserProfile, type UserRow, type UserSummary } from "./model";
import type { ProfilePatch, UserStore } from "./store";

export const USERNAME_RE = /^[a-z0-9_.]{3,32}$/;
// Deliberately plain: one @, no spaces, a dot in the domain. Deliverability is the mail server's job.
export const EMAIL_RE = /^[^\s@]{1,64}@[^\s@]+\.[^\s@]+$/;
export const MAX_EMAIL_LENGTH = 254;
export const MAX_NAME_LENGTH = 64;
export const MAX_STATUS_LENGTH = 140;

export interface NewAccount {
  email: string;
  username: string;
  first_name: string;
  last_name: string;
  /** null: an account that signs in only through an external provider. */
  password: string | null;
  role?: Role;
}

export interface UserSearchResult {
  users: (UserSummary & { mutual_friends_count: number })[];
  total_count: number;
  has_more: boolean;
}

export class UserService {
  constructor(
    private readonly db: Db,
    private readonly users: UserStore,
    private readonly sessions: AuthStore,
    private readonly bus: EventBus,
    readonly pictureUrl: PictureUrl,
    /** Bookkeeping writes join the next group commit instead of paying an fsync of their own. */
    private readonly writer: BatchedWriter,
  ) {}

  /** Create an account (register, admin, CLI, first external login). 409 CONFLICT when taken. */
  async createUser(a: NewAccount): Promise<UserRow> {
    const problems = checkNewAccount(a);
    if (problems.length) throw validationError(problems);
    const passwordHash = a.password === null ? null : await hashPassword(a.password);
    return writeTransaction(this.db, () => {
      if (this.users.selectUserByEmail(a.email)) throw conflict("email", "This email is already registered");
      if (this.users.selectUserByUsername(a.username)) throw conflict("username", "This username is taken");
      const id = this.users.insertUser({
        email: a.email,
        username: a.username,
        firstName: a.first_name,
        lastName: a.last_name,
        passwordHash,
        role: a.role ?? "user",
      });
      return this.users.selectUserById(id)!;
    });
  }

  /** The row, or 404. */
  requireUser(id: number): UserRow {
    const row = this.users.selectUserById(id);
    if (!row) throw notFound("User");
    return row;
  }

  findById(id: number): UserRow | null {
    return this.users.selectUserById(id);
  }

  /** Profiles of many users as `viewerId` may see them, in one query (GraphQL's loader). */
  getProfiles(viewerId: number, ids: readonly number[]): Map<number, UserProfile> {
    return new Map(this.users.selectUsersByIds(ids).map((r) => [r.id, toProfile(r, viewerId, this.pictureUrl)]));
  }

  getProfile(viewerId: number, id: number): UserProfile {
    return toProfile(this.requireUser(id), viewerId, this.pictureUrl);
  }

  summary(row: UserRow): UserSummary {
    return toSummary(row, this.pictureUrl);
  }

  account(row: UserRow): UserAccount {
    return toAccount(row, this.pictureUrl);
  }

  /** Only the user themself or an admin may change a profile. */
  updateProfile(actor: { userId: number; role: Role }, id: number, patch: ProfilePatch): UserProfile {
    if (actor.userId !== id && actor.role !== "admin") throw forbidden("You may only change your own profile");
    this.requireUser(id);
    const problems = checkProfilePatch(patch);
    if (problems.length) throw validationError(problems);
    this.users.updateProfile(id, patch);
    this.bus.publish("user.updated", { userId: id });
    return this.getProfile(actor.userId, id);
  }

  /**
   * Point the profile picture at a stored media file (null: none), inside the caller's
   * transaction. Returns the file it replaced, which the caller releases. Announcing the change
   * is the caller's, after its commit.
   */
  replaceProfilePicture(id: number, fileId: string | null): string | null {
    const previous = this.requireUser(id).profile_picture;
    this.users.updateProfilePicture(id, fileId);
    return previous;
  }

  /** Tell listeners a profile changed (after a commit made elsewhere). */
  announceUpdated(id: number) {
    this.bus.publish("user.updated", { userId: id });
  }

  search(viewerId: number, q: string, limit: number, offset: number): UserSearchResult {
    const prefix = q.trim().toLowerCase();
    if (!prefix) throw validationError([{ field: "q", message: "Search text is required" }]);
    if (prefix.length > 64) throw validationError([{ field: "q", message: "Search text is at most 64 characters" }]);
    const { rows, total } = this.users.searchUsers(viewerId, prefix, limit, offset);
    return {
      users: rows.map((r) => ({ ...toSummary(r, this.pictureUrl), mutual_friends_count: r.shared })),
      total_count: total,
      has_more: offset + rows.length < total,
    };
  }

  /** Find a user by id, email or username (how the CLI names users). */
  findByRef(ref: string): UserRow | null {
    if (/^\d+$/.test(ref)) return this.users.selectUserById(Number(ref));
    if (ref.includes("@")) return this.users.selectUserByEmail(ref);
    return this.users.selectUserByUsername(ref.toLowerCase());
  }

  findByEmail(email: string): UserRow | null {
    return this.users.selectUserByEmail(email);
  }

  /** Record activity; not awaited by callers: it rides the next batch, and losing one is harmless. */
  touchLastActive(id: number, at: number) {
    this.writer.run(() => this.users.updateLastActive(id, at)).catch(() => {});
  }

  async setPassword(id: number, password: string) {
    const problem = checkPassword(password);
    if (problem) throw validationError([problem]);
    this.requireUser(id);
    this.users.updatePasswordHash(id, await hashPassword(password));
  }

  /** Disabling ends every session at once; enabling does not bring them back. */
  setDisabled(id: number, disabled: boolean) {
    this.requireUser(id);
    const revoked = writeTransaction(this.db, () => {
      this.users.updateDisabled(id, disabled);
      return disabled ? this.sessions.revokeSessionsOfUser(id, Date.now()) : [];
    });
    if (disabled) this.bus.publish("user.disabled", { userId: id });
    for (const sessionId of revoked) this.bus.publish("session.revoked", { userId: id, sessionId });
  }

  /**
   * Delete an account. Its sessions, devices and memberships go with it; its messages stay in
   * their conversations as from a deleted account (sender null) so history and replies stay
   * readable. Runs inside the caller's write; its connections are closed after the commit.
   */
  deleteUser(id: number, after: AfterCommit) {
    this.requireUser(id);
    this.users.deleteUser(id);
    after(() => this.bus.publish("user.disabled", { userId: id }));
  }

  setRole(id: number, role: Role) {
    this.requireUser(id);
    this.users.updateRole(id, role);
    this.bus.publish("user.updated", { userId: id });
  }

  listUsers(afterId: number, limit: number): UserRow[] {
    return this.users.selectUsersAfter(afterId, limit);
  }
}

function conflict(field: string, message: string): AppError {
  return new AppError("CONFLICT", message, [{ field, message }]);
}

export function checkPassword(password: unknown, field = "password"): FieldError | null {
  if (typeof password !== "string") return { field, message: "Password is required" };
  if (password.length < MIN_PASSWORD_LENGTH) return { field, message: `Password must be at least ${MIN_PASSWORD_LENGTH} characters` };
  if (password.length > MAX_PASSWORD_LENGTH) return { field, message: `Password must be at most ${MAX_PASSWORD_LENGTH} characters` };
  return null;
}

function checkName(field: string, v: unknown): FieldError | null {
  if (typeof v !== "string" || !v.trim()) return { field, message: "Must be a non-empty string" };
  if (v.length > MAX_NAME_LENGTH) return { field, message: `Must be at most ${MAX_NAME_LENGTH} characters` };
  return null;
}

/** Every problem of a new account at once, so a form can show them all. */
export function checkNewAccount(a: NewAccount): FieldError[] {
  const out: (FieldError | null)[] = [
    typeof a.email !== "string" || a.email.length > MAX_EMAIL_LENGTH || !EMAIL_RE.test(a.email)
      ? { field: "email", message: "Must be a valid email address" }
      : null,
    typeof a.username !== "string" || !USERNAME_RE.test(a.username)
      ? { field: "username", message: "3 to 32 characters: lowercase letters, digits, _ and ." }
      : null,
    checkName("first_name", a.first_name),
    checkName("last_name", a.last_name),
    a.password === null ? null : checkPassword(a.password),
  ];
  return out.filter((x): x is FieldError => x !== null);
}

function checkProfilePatch(p: ProfilePatch): FieldError[] {
  const out: (FieldError | null)[] = [
    p.first_name !== undefined ? checkName("first_name", p.first_name) : null,
    p.last_name !== undefined ? checkName("last_name", p.last_name) : null,
    typeof p.status_message === "string" && p.status_message.length > MAX_STATUS_LENGTH
      ? { field: "status_message", message: `Must be at most ${MAX_STATUS_LENGTH} characters` }
      : null,
  ];
  return out.filter((x): x is FieldError => x !== null);
}

/**
 * Accounts and sessions (CONTRACT §5): register, login (password or external provider), refresh
 * with rotation and reuse detection, logout, session list and revoke, and the check every
 * authenticated request goes through.
 */
import { AppError, notFound } from "../lib/errors";
import { writeTransaction, type Db } from "../db/open";
import type { BatchedWriter } from "../db/batched-writer";
import type { EventBus } from "../events";
import { iso } from "../lib/time";
import type { RateLimiter } from "../lib/rate-limiter";
import type { UserService } from "../users/service";
import type { Role, UserRow, UserSummary } from "../users/model";
import { verifyPassword } from "./passwords";
import { hashRefreshToken, newRefreshToken, type TokenSigner } from "./tokens";
import type { AuthStore, Device } from "./store";
import type { ExternalProfile, IdentityProvider } from "./providers/provider";

export interface AuthResult {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  user: UserSummary;
}

/** Who is calling: the result of authenticating an access token. */
export interface Identity {
  userId: number;
  sessionId: string;
  role: Role;
}

export interface SessionView {
  session_id: string;
  device_id: string | null;
  device_type: string | null;
  platform: string | null;
  created_at: string;
  last_used_at: string | null;
  current: boolean;
}

export interface AuthSettings {
  registration: "open" | "closed";
  refreshTtlSeconds: number;
}

/** Writes of last_used_at are throttled: once a minute per session is plenty for a session list. */
const TOUCH_EVERY_MS = 60_000;

export class AuthService {
  private readonly lastTouch = new Map<string, number>();

  constructor(
    private readonly db: Db,
    private readonly store: AuthStore,
    private readonly users: UserService,
    private readonly signer: TokenSigner,
    private readonly bus: EventBus,
    private readonly settings: AuthSettings,
    /** Brute-force protection per account (per IP is the transport's job). */
    private readonly accountLimiter: RateLimiter,
    private readonly providers: ReadonlyMap<string, IdentityProvider>,
    private readonly writer: BatchedWriter,
  ) {}

  async register(input: { email: string; username: string; password: string; first_name: string; last_name: string }, device: Device) {
    if (this.settings.registration !== "open") throw new AppError("FORBIDDEN", "Registration is closed on this server; ask an administrator for an account");
    // Name each field: spreading the input would let a transport that forgets to strip extra
    // keys pass `role: "admin"` through (mass assignment).
    const { email, username, password, first_name, last_name } = input;
    const user = await this.users.createUser({ email, username, password, first_name, last_name, role: "user" });
    return this.startSession(user, device);
  }

  async login(email: string, password: string, device: Device): Promise<AuthResult> {
    this.accountLimiter.enforce(`login:${email.toLowerCase()}`);
    const user = this.users.findByEmail(email);
    const ok = await verifyPassword(password, user?.password_hash ?? null);
    // Same answer whether the email exists or not: no account enumeration.
    if (!user || !ok) throw new AppError("INVALID_CREDENTIALS", "Email or password is wrong");
    if (user.disabled) throw new AppError("ACCOUNT_DISABLED", "This account is disabled");
    return this.startSession(user, device);
  }

  /** Log in with a provider credential, creating the account on first use when registration is open. */
  async loginWithProvider(providerId: string, credential: string, device: Device): Promise<AuthResult & { is_new_user: boolean }> {
    const provider = this.providers.get(providerId);
    if (!provider) throw new AppError("NOT_FOUND", "This sign-in method is not configured on this server");
    const profile = await provider.verify(credential);
    const linked = this.store.selectIdentity(provider.id, profile.subject);
    const isNew = linked === null;
    const user = isNew ? await this.createFromProfile(provider.id, profile) : this.users.requireUser(linked);
    if (user.disabled) throw new AppError("ACCOUNT_DISABLED", "This account is disabled");
    return { ...(await this.startSession(user, device)), is_new_user: isNew };
  }

  async refresh(refreshToken: string): Promise<AuthResult> {
    const hash = hashRefreshToken(refreshToken);
    const row = this.store.selectRefreshToken(hash);
    const invalid = new AppError("INVALID_TOKEN", "The refresh token is not valid");
    if (!row) throw invalid;
    this.accountLimiter.enforce(`refresh:${row.session_id}`);
    const now = Date.now();
    // A token used before means two parties hold it: one of them stole it. End the session.
    if (row.used_at !== null || !this.store.useRefreshToken(hash, now)) {
      this.revoke(row.session_id, now);
      throw invalid;
    }
    const session = this.store.selectSession(row.session_id);
    const live = session && this.store.selectLiveSession(session.id);
    if (!session || !live || live.revoked_at !== null || live.disabled || session.expires_at <= now) throw invalid;
    const next = newRefreshToken();
    this.store.insertRefreshToken(next.hash, session.id, now);
    this.store.touchSession(session.id, now);
    const user = this.users.requireUser(session.user_id);
    return this.tokens(user, session.id, next.token);
  }

  logout(identity: Identity) {
    this.revoke(identity.sessionId, Date.now());
  }

  listSessions(identity: Identity): SessionView[] {
    return this.sessionsOf(identity.userId, identity.sessionId);
  }

  /** A user's live sessions; `currentId` marks the caller's own (none for an operator). */
  sessionsOf(userId: number, currentId: string | null = null): SessionView[] {
    return this.store.selectActiveSessionsOfUser(userId, Date.now()).map((s) => ({
      session_id: s.id,
      device_id: s.device_id,
      device_type: s.device_type,
      platform: s.platform,
      created_at: iso(s.created_at),
      last_used_at: iso(s.last_used_at),
      current: s.id === currentId,
    }));
  }

  /** An operator ends any session. 404 when there is no live one by that id. */
  revokeAnySession(sessionId: string) {
    const s = this.store.selectSession(sessionId);
    if (!s || s.revoked_at !== null) throw notFound("Session");
    this.revoke(sessionId, Date.now());
  }

  /** End every session of a user (a password reset): their tokens stop working at once. */
  revokeAllSessions(userId: number) {
    for (const sessionId of this.store.revokeSessionsOfUser(userId, Date.now())) this.bus.publish("session.revoked", { userId, sessionId });
  }

  /** Revoke one of the caller's sessions (an admin may name anyone's). 404 if not theirs. */
  revokeSession(identity: Identity, sessionId: string) {
    const s = this.store.selectSession(sessionId);
    if (!s || s.revoked_at !== null || (s.user_id !== identity.userId && identity.role !== "admin")) throw notFound("Session");
    this.revoke(sessionId, Date.now());
  }

  /**
   * The check behind every authenticated request, on every transport: a valid signature and a
   * session that is still live, of a user who is still enabled. One indexed lookup.
   */
  async authenticate(token: string): Promise<Identity> {
    const claims = this.signer.verifyAccess(token);
    const live = this.store.selectLiveSession(claims.sessionId);
    if (!live || live.revoked_at !== null || live.disabled || live.user_id !== claims.userId)
      throw new AppError("INVALID_TOKEN", "The session of this token has ended");
    this.touch(claims.sessionId, claims.userId);
    return { userId: live.user_id, sessionId: claims.sessionId, role: live.role };
  }

  /** Forget sessions that ended over a day ago (called periodically). */
  prune() {
    this.store.pruneSessions(Date.now(), 24 * 3600 * 1000);
    this.lastTouch.clear();
  }

  private async startSession(user: UserRow, device: Device): Promise<AuthResult> {
    const now = Date.now();
    const sessionId = Bun.randomUUIDv7();
    const refresh = newRefreshToken();
    writeTransaction(this.db, () => {
      this.store.insertSession(sessionId, user.id, device, now + this.settings.refreshTtlSeconds * 1000, now);
      this.store.insertRefreshToken(refresh.hash, sessionId, now);
    });
    return this.tokens(user, sessionId, refresh.token);
  }

  private async tokens(user: UserRow, sessionId: string, refreshToken: string): Promise<AuthResult> {
    const access = await this.signer.signAccess({ userId: user.id, sessionId, role: user.role });
    return { access_token: access, refresh_token: refreshToken, expires_in: this.signer.accessTtlSeconds, user: this.users.summary(user) };
  }

  private revoke(sessionId: string, now: number) {
    const s = this.store.selectSession(sessionId);
    if (s && this.store.revokeSession(sessionId, now)) this.bus.publish("session.revoked", { userId: s.user_id, sessionId });
  }

  private touch(sessionId: string, userId: number) {
    const now = Date.now();
    const last = this.lastTouch.get(sessionId) ?? 0;
    if (now - last < TOUCH_EVERY_MS) return;
    this.lastTouch.set(sessionId, now);
    // Joins the next group commit rather than two fsyncs of its own on the request's path.
    this.writer.run(() => this.store.touchSession(sessionId, now)).catch(() => {});
    this.users.touchLastActive(userId, now);
  }

  private async createFromProfile(providerId: string, p: ExternalProfile): Promise<UserRow> {
    if (this.settings.registration !== "open") throw new AppError("FORBIDDEN", "Registration is closed on this server; ask an administrator for an account");
    // Never link by email automatically: whoever controls the provider account would take over ours.
    const email = p.email ?? `${providerId.replace(/[^a-z0-9]/g, "-")}-${p.subject}@users.noreply.invalid`;
    const base = (p.firstName + p.lastName).toLowerCase().replace(/[^a-z0-9_.]/g, "").slice(0, 20) || "user";
    const user = await this.users.createUser({
      email,
      username: `${base.padEnd(3, "_")}_${crypto.randomUUID().slice(0, 8)}`,
      first_name: p.firstName,
      last_name: p.lastName,
      password: null,
    });
    this.store.insertIdentity(providerId, p.subject, user.id, Date.now());
    return user;
  }
}

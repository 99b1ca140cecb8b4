/**
 * Presence (CONTRACT §8): online while any connection of a user is open, away when the client
 * says so, offline with last_seen when the last connection closes. Announced on the user's
 * presence topic, which everyone sharing a conversation with them follows. A user who hides
 * their online status is never announced; one who hides last seen is announced without it.
 * Lossy by design: no event_id, never replayed.
 */
import type { UserService } from "../users/service";
import type { EventBus } from "../events";
import { iso } from "../lib/time";
import { topics } from "./topics";

export type PresenceStatus = "online" | "away" | "offline";

export type Publish = (topic: string, data: string) => void;

export class Presence {
  private readonly status = new Map<number, "online" | "away">();
  /** For connected users: whether others were last told their real status (false: hidden). */
  private readonly shown = new Map<number, boolean>();

  constructor(
    readonly enabled: boolean,
    private readonly users: UserService,
    private readonly publish: Publish,
    /** GraphQL's presenceChanged follows the bus. */
    private readonly bus: EventBus,
  ) {}

  /** The raw status, before privacy: callers apply the user's settings. */
  statusOf(userId: number): PresenceStatus {
    return this.status.get(userId) ?? "offline";
  }

  /** A connection of `userId` authenticated. */
  connected(userId: number) {
    if (this.status.has(userId)) return;
    this.status.set(userId, "online");
    this.announce(userId, "online", null);
  }

  /** A connection closed; `remaining` of the user's connections are still open. */
  disconnected(userId: number, remaining: number) {
    if (remaining > 0 || !this.status.delete(userId)) return;
    const now = Date.now();
    this.users.touchLastActive(userId, now);
    this.announce(userId, "offline", now);
    this.shown.delete(userId);
  }

  /**
   * The user's profile changed. Hiding the online status while connected is announced as
   * "offline" at once: a hidden user's later disconnect is not announced, so watchers who saw
   * them online would otherwise see them online forever. Showing it again announces the status.
   */
  privacyChanged(userId: number) {
    const status = this.status.get(userId);
    if (!this.enabled || !status) return;
    const visible = !!this.users.findById(userId)?.show_online_status;
    if (this.shown.get(userId) === visible) return;
    if (visible) this.announce(userId, status, null);
    else this.broadcast(userId, "offline", null);
    this.shown.set(userId, visible);
  }

  set(userId: number, status: "online" | "away") {
    if (!this.status.has(userId) || this.status.get(userId) === status) return;
    this.status.set(userId, status);
    this.announce(userId, status, null);
  }

  /** The status as others may see it. */
  visibleStatus(userId: number): PresenceStatus {
    const s = this.status.get(userId);
    if (!s) return "offline";
    return this.users.requireUser(userId).show_online_status ? s : "offline";
  }

  private announce(userId: number, status: PresenceStatus, lastSeen: number | null) {
    if (!this.enabled) return;
    const user = this.users.findById(userId);
    this.shown.set(userId, !!user?.show_online_status);
    if (!user || !user.show_online_status) return;
    this.broadcast(userId, status, lastSeen !== null && user.show_last_seen ? iso(lastSeen) : null);
  }

  private broadcast(userId: number, status: PresenceStatus, seen: string | null) {
    this.publish(topics.presence(userId), JSON.stringify({ type: "presence_changed", user_id: userId, status, last_seen: seen }));
    this.bus.publish("presence.changed", { userId, status, lastSeen: seen });
  }
}

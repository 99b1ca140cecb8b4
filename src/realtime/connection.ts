/** One WebSocket connection's state, and the registry of all of them by user. */
import type { ServerWebSocket } from "bun";

export interface Connection {
  id: number;
  socket: ServerWebSocket<unknown>;
  /** Null until the auth frame succeeded. */
  userId: number | null;
  sessionId: string | null;
  deviceId: string | null;
  authTimer: ReturnType<typeof setTimeout> | null;
  /** Set while the auth frame is being checked: frames pipelined behind it wait for it. */
  authenticating: Promise<void> | null;
  /** The journal's last event id when this connection's subscriptions were made: every later
   * event of its conversations reached it live; earlier ones need a `resume`. */
  liveFrom: number;
  /** Conversations this connection is unsubscribed from now: only events addressed to its user
   * (see addresseesOf) reach it live from them. */
  unsubscribed: Set<number>;
  /** Per conversation, the journal's last event id when this connection first unsubscribed from
   * it: later events of it may have missed the connection, so `resume` replays them. Kept after
   * a resubscribe (the events in between were missed); a replayed duplicate is harmless, a gap
   * is not. */
  missedFrom: Map<number, number>;
  /** Frame rate limiting (token bucket) and how many frames in a row were refused. */
  tokens: number;
  tokensAt: number;
  refusedInARow: number;
}

export class ConnectionRegistry {
  private nextId = 1;
  private readonly all = new Map<number, Connection>();
  private readonly byUser = new Map<number, Set<Connection>>();

  open(socket: ServerWebSocket<unknown>, burst: number): Connection {
    const c: Connection = {
      id: this.nextId++,
      socket,
      userId: null,
      sessionId: null,
      deviceId: null,
      authTimer: null,
      authenticating: null,
      liveFrom: 0,
      unsubscribed: new Set(),
      missedFrom: new Map(),
      tokens: burst,
      tokensAt: performance.now(),
      refusedInARow: 0,
    };
    this.all.set(c.id, c);
    return c;
  }

  get(id: number): Connection | undefined {
    return this.all.get(id);
  }

  /** Mark a connection authenticated as `userId`. */
  bind(c: Connection, userId: number, sessionId: string, deviceId: string | null) {
    c.userId = userId;
    c.sessionId = sessionId;
    c.deviceId = deviceId;
    let set = this.byUser.get(userId);
    if (!set) this.byUser.set(userId, (set = new Set()));
    set.add(c);
  }

  /** Forget a closed connection; returns how many of its user's connections remain. */
  close(c: Connection): number {
    this.all.delete(c.id);
    if (c.authTimer) clearTimeout(c.authTimer);
    if (c.userId === null) return 0;
    const set = this.byUser.get(c.userId);
    set?.delete(c);
    if (set && set.size === 0) this.byUser.delete(c.userId);
    return set?.size ?? 0;
  }

  /** The open, authenticated connections of a user (a handful: not a fanout loop). */
  ofUser(userId: number): ReadonlySet<Connection> {
    return this.byUser.get(userId) ?? new Set();
  }

  isConnected(userId: number): boolean {
    return this.byUser.has(userId);
  }

  get size(): number {
    return this.all.size;
  }

  get users(): number {
    return this.byUser.size;
  }

  connections(): IterableIterator<Connection> {
    return this.all.values();
  }
}

/**
 * What administrators may do (CONTRACT §12): manage accounts, sessions and devices, see
 * conversations as counts and members (never content), and read server statistics.
 * Authorization (admin role) is the transport's guard; every rule below is about the data.
 */
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { forbidden } from "../lib/errors";
import { decodeCursor, encodeCursor } from "../lib/cursor";
import { iso } from "../lib/time";
import type { Core } from "../app";

/** The services the admin API drives. */
export type AdminDeps = Pick<Core, "users" | "auth" | "push" | "messages" | "writer" | "outbox"> & { dataDir: string };
import type { Role, UserAccount } from "../users/model";
import type { NewAccount } from "../users/service";
import type { AdminStore } from "./store";

export interface Live {
  /** Open WebSocket connections and the users they belong to. */
  connections(): { connections: number; users: number };
}

const DAY_MS = 24 * 3600 * 1000;
/** Walking a huge media tree on every stats call would be slow: stop counting past this many files. */
const MAX_FILES_COUNTED = 100_000;

export class AdminService {
  constructor(
    private readonly store: AdminStore,
    private readonly core: AdminDeps,
    private live: Live = { connections: () => ({ connections: 0, users: 0 }) },
  ) {}

  /** The server plugs in its live connection counts; the CLI has none. */
  setLive(live: Live) {
    this.live = live;
  }

  /** Newest accounts first (what an operator usually looks for), keyset-paged. */
  listUsers(q: string | null, limit: number, cursor: string | undefined) {
    const before = cursor === undefined ? Number.MAX_SAFE_INTEGER : decodeCursor<{ i: number }>(cursor, (c) => Number.isInteger(c.i)).i;
    const { rows, total } = this.store.selectUsers(q && q.trim() ? q.trim() : null, before, limit + 1);
    const page = rows.slice(0, limit);
    return {
      users: page.map((r) => this.core.users.account(r)),
      total_count: total,
      has_more: rows.length > limit,
      next_cursor: rows.length > limit ? encodeCursor({ i: page[page.length - 1]!.id }) : null,
    };
  }

  async createUser(a: NewAccount): Promise<UserAccount> {
    return this.core.users.account(await this.core.users.createUser(a));
  }

  getUser(id: number) {
    const account = this.core.users.account(this.core.users.requireUser(id));
    return { ...account, sessions: this.core.auth.sessionsOf(id), devices: this.core.push.listDevices(id) };
  }

  setDisabled(actorId: number, id: number, disabled: boolean) {
    if (actorId === id && disabled) throw forbidden("You cannot disable your own account");
    this.core.users.setDisabled(id, disabled);
    return this.core.users.account(this.core.users.requireUser(id));
  }

  async resetPassword(id: number, password: string) {
    await this.core.users.setPassword(id, password);
    // A reset is usually because the password leaked: end every session with it.
    this.core.auth.revokeAllSessions(id);
  }

  setRole(actorId: number, id: number, role: Role) {
    if (actorId === id && role !== "admin") throw forbidden("You cannot demote yourself; ask another administrator");
    this.core.users.setRole(id, role);
    return this.core.users.account(this.core.users.requireUser(id));
  }

  /** Delete an account; with `eraseMessages` its messages become tombstones first. */
  async deleteUser(actorId: number, id: number, eraseMessages: boolean) {
    if (actorId === id) throw forbidden("You cannot delete your own account");
    this.core.users.requireUser(id);
    return this.core.writer.run((after) => {
      const erased = eraseMessages ? this.core.messages.eraseAllBy(id) : 0;
      this.core.users.deleteUser(id, after);
      return { success: true, erased_messages: erased };
    });
  }

  revokeSession(sessionId: string) {
    this.core.auth.revokeAnySession(sessionId);
  }

  async revokeDevice(userId: number, deviceId: string) {
    this.core.users.requireUser(userId);
    await this.core.push.deleteDevice(userId, deviceId);
  }

  /** Conversations by id with their size; titles and members, never message content. */
  listConversations(limit: number, cursor: string | undefined) {
    const after = cursor === undefined ? 0 : decodeCursor<{ i: number }>(cursor, (c) => Number.isInteger(c.i)).i;
    const rows = this.store.selectConversations(after, limit + 1);
    const page = rows.slice(0, limit);
    return {
      conversations: page.map((c) => ({
        conversation_id: c.id,
        conversation_type: c.type,
        title: c.title,
        created_by: c.created_by,
        created_at: iso(c.created_at),
        updated_at: iso(c.updated_at),
        participant_count: c.participant_count,
        participant_ids: JSON.parse(c.participant_ids) as number[],
        message_count: c.message_count,
      })),
      has_more: rows.length > limit,
      next_cursor: rows.length > limit ? encodeCursor({ i: page[page.length - 1]!.id }) : null,
    };
  }

  stats(now = Date.now()) {
    const totals = this.store.totals(now);
    const startOfToday = now - (now % DAY_MS);
    const perDay = this.store.messagesPerDay(startOfToday - 29 * DAY_MS);
    const queue = this.core.outbox.depth();
    return {
      users: { total: totals.users, disabled: totals.disabled, admins: totals.admins },
      conversations: totals.conversations,
      messages: { total: totals.messages, today: perDay.find((d) => d.day === iso(startOfToday).slice(0, 10))?.messages ?? 0 },
      messages_per_day: perDay,
      sessions: totals.sessions,
      devices: totals.devices,
      live: this.live.connections(),
      storage: { database_bytes: this.store.databaseBytes(), media_bytes: directoryBytes(join(this.core.dataDir, "media")) },
      push: { queued: queue.pending, failed: queue.failed, since_start: this.core.outbox.stats },
    };
  }
}

function directoryBytes(dir: string): number {
  let total = 0;
  let files = 0;
  const walk = (d: string) => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (++files > MAX_FILES_COUNTED) return;
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) total += statSync(p).size;
    }
  };
  walk(dir);
  return total;
}

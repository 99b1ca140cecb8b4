/**
 * Durable domain events (CONTRACT §8, ARCHITECTURE rule 2). Inside a write transaction a service
 * calls `emit`: the event is appended to the journal in that same transaction, and published on
 * the bus with its event_id once the transaction has committed. A crash can therefore lose
 * neither the change without its event nor the event without its change.
 *
 * @example
 *   await writer.run((after) => {
 *     const row = store.insertMessage(...);
 *     journal.emit(after, "message.created", { message, participantIds }, { conversationId });
 *   });
 */
import type { AfterCommit } from "../db/batched-writer";
import type { DomainEvents, EventBus, EventName } from "../events";
import type { JournalRow, JournalStore } from "./store";

/** Who may see an event: a conversation's participants, and/or named users. */
export interface EventScope {
  conversationId?: number;
  userIds?: number[];
}

export interface JournalEvent<K extends EventName = EventName> {
  id: number;
  name: K;
  payload: DomainEvents[K];
}

/** Domain events recorded in the journal (typing and presence are lossy and are not). */
export const DURABLE_EVENTS = [
  "conversation.created",
  "conversation.updated",
  "participants.changed",
  "message.created",
  "message.updated",
  "message.deleted",
  "reaction.changed",
  "receipt.updated",
] as const satisfies readonly EventName[];

export type ReplayResult = { kind: "events"; events: JournalEvent[]; lastEventId: number } | { kind: "resync" };

/** Replay larger than this is not worth streaming: the client reloads over REST instead. */
export const MAX_REPLAY_EVENTS = 10_000;

/** Work that must commit or roll back with the event itself (the push outbox's jobs). */
export type InTransactionHandler<K extends EventName> = (payload: DomainEvents[K]) => void;

/** Rewrites a stored payload as it is replayed (media links are minted afresh). */
export type ReplayTransform<K extends EventName> = (payload: DomainEvents[K]) => DomainEvents[K];

export class Journal {
  private readonly inTransaction = new Map<EventName, InTransactionHandler<any>[]>();
  private readonly onReplayOf = new Map<EventName, ReplayTransform<any>>();
  /**
   * The highest event id published on the bus. Not the highest recorded: the writer publishes a
   * batch only once its commit is synced, so for a moment recorded events are not yet live, and
   * a connection that took the recorded maximum as its live position would get them twice.
   */
  private published: number;

  constructor(
    private readonly store: JournalStore,
    private readonly bus: EventBus,
    /** How long events are kept (ms). */
    readonly retentionMs: number,
  ) {
    this.published = store.selectMaxId();
  }

  /** Record inside the current transaction; publish after commit. */
  emit<K extends EventName>(after: AfterCommit, name: K, payload: DomainEvents[K], scope: EventScope) {
    // participantIds is the audience at publish time; replay recomputes it from membership.
    const { participantIds: _audience, ...stored } = payload as DomainEvents[K] & { participantIds?: number[] };
    const id = this.store.insertEvent(name, scope.conversationId ?? null, JSON.stringify(stored), Date.now());
    for (const u of scope.userIds ?? []) this.store.insertRecipient(u, id);
    for (const handler of this.inTransaction.get(name) ?? []) handler(payload);
    after(() => {
      this.published = id;
      this.bus.publish(name, payload, { eventId: id });
    });
  }

  /**
   * Run `handler` inside the transaction that records each `name` event: what it writes is
   * committed with the change, or not at all. It must be synchronous and quick.
   */
  onRecord<K extends EventName>(name: K, handler: InTransactionHandler<K>) {
    this.inTransaction.set(name, [...(this.inTransaction.get(name) ?? []), handler]);
  }

  /**
   * Pass each replayed `name` event through `transform`: a payload can hold what must not be
   * replayed as stored, such as signed links that expired while the event waited.
   */
  onReplay<K extends EventName>(name: K, transform: ReplayTransform<K>) {
    this.onReplayOf.set(name, transform);
  }

  /**
   * The live position: every event up to it has been published, every later one will be. What a
   * connection gets live starts after it; what `resume` replays ends at it.
   */
  lastEventId(): number {
    return this.published;
  }

  /**
   * Events after `after` up to `upTo` that `userId` may see, oldest first; `resync` when some of
   * them were pruned already, when `after` is in the future (a restored backup), or when there
   * are too many to replay.
   */
  replay(userId: number, after: number, upTo: number): ReplayResult {
    if (after < this.store.selectPrunedThrough() || after > upTo) return { kind: "resync" };
    const rows = this.store.selectVisibleAfter(userId, after, upTo, MAX_REPLAY_EVENTS + 1);
    if (rows.length > MAX_REPLAY_EVENTS) return { kind: "resync" };
    const events = rows.map(toEvent).map((e) => {
      const transform = this.onReplayOf.get(e.name);
      return transform ? { ...e, payload: transform(e.payload) } : e;
    });
    return { kind: "events", events, lastEventId: upTo };
  }

  /** Forget events past the retention window. */
  prune(now = Date.now()): number {
    return this.store.deleteOlderThan(now - this.retentionMs);
  }
}

function toEvent(r: JournalRow): JournalEvent {
  return { id: r.id, name: r.type as EventName, payload: JSON.parse(r.payload) };
}

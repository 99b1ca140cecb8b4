/**
 * The real-time layer's state, made once per server by the composition root: connections,
 * presence, typing and the fanout from domain events. The Bun server is attached after
 * listen(), since topics live on it.
 */
import type { Server } from "bun";
import type { Config } from "../config";
import type { EventBus } from "../events";
import type { Logger } from "../lib/log";
import type { UserService } from "../users/service";
import { ConnectionRegistry } from "./connection";
import { startFanout } from "./fanout";
import { Presence } from "./presence";
import { Typing } from "./typing";

/** Close code of the server going away (CONTRACT §1). */
export const CLOSE_GOING_AWAY = 1001;
/** Close code for a reader too slow to keep up: it should reconnect and resume. */
export const CLOSE_TRY_AGAIN_LATER = 1013;

export class Realtime {
  readonly registry = new ConnectionRegistry();
  readonly presence: Presence;
  readonly typing: Typing;
  private server: Server<unknown> | null = null;
  private readonly stopFanout: () => void;
  private readonly sweeper: ReturnType<typeof setInterval>;

  constructor(
    readonly config: Config,
    bus: EventBus,
    users: UserService,
    private readonly log: Logger,
  ) {
    const publish = (topic: string, data: string) => {
      this.server?.publish(topic, data);
    };
    const on = config.presence === "on";
    this.presence = new Presence(on, users, publish, bus);
    this.typing = new Typing(on, publish, config.ws.typingTtlMs, bus);
    const stopFanout = startFanout(bus, this.registry, publish);
    const stopPrivacy = bus.subscribe("user.updated", ({ userId }) => this.presence.privacyChanged(userId));
    this.stopFanout = () => {
      stopFanout();
      stopPrivacy();
    };
    // Slow readers: a connection whose unsent bytes pass the bound is told to come back later
    // (it will resume from its last event_id). Bun's own hard limit, twice this, is the backstop.
    this.sweeper = setInterval(() => this.closeSlowReaders(), 500);
    this.sweeper.unref();
  }

  attach(server: Server<unknown>) {
    this.server = server;
  }

  /** Whether the user has a live WebSocket connection (push notifications skip them). */
  isConnected(userId: number): boolean {
    return this.registry.isConnected(userId);
  }

  /** Graceful shutdown: every socket is closed with 1001. */
  shutdown() {
    clearInterval(this.sweeper);
    this.stopFanout();
    this.typing.clear();
    for (const c of [...this.registry.connections()]) c.socket.close(CLOSE_GOING_AWAY, "server shutting down");
  }

  private closeSlowReaders() {
    const limit = this.config.ws.sendBufferBytes;
    for (const c of this.registry.connections()) {
      if (c.socket.getBufferedAmount() > limit) {
        this.log.warn("closing slow websocket reader", { user_id: c.userId, buffered: c.socket.getBufferedAmount() });
        c.socket.close(CLOSE_TRY_AGAIN_LATER, "send buffer full");
      }
    }
  }
}

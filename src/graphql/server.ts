/**
 * /graphql on the same port (CONTRACT §9): GraphQL over HTTP (GET and POST) and subscriptions
 * over Server-Sent Events through graphql-yoga 5, and over WebSocket with the
 * graphql-transport-ws protocol through graphql-ws, on the same path.
 *
 * Yoga is mounted directly rather than through @elysiajs/graphql-yoga: that plugin bundles
 * yoga 3.9 (TOOLCHAIN.md), and we want yoga 5's spec compliance and SSE.
 */
import { Elysia } from "elysia";
import type { Server, ServerWebSocket } from "bun";
import { createSchema, createYoga, type Plugin } from "graphql-yoga";
import { GraphQLError, execute, subscribe, validate, specifiedRules } from "graphql";
import { makeServer, handleProtocols } from "graphql-ws";
import typeDefs from "./schema.graphql" with { type: "text" };
import type { Identity } from "../auth/service";
import { AppError } from "../lib/errors";
import { readBounded } from "../http/envelope";
import type { Logger } from "../lib/log";
import { resolvers } from "./resolvers";
import { createLoaders, type GraphQLContext, type Loaders, type Services } from "./context";
import { complexityRule, MAX_DOCUMENT_BYTES, MAX_OPERATIONS_PER_SOCKET } from "./limits";

export interface GraphQLOptions extends Services {
  /** The caller of an HTTP request, as the auth guard found it. */
  identityOf: (request: Request) => { identity: Identity | null; authError: AppError | null };
  log: Logger;
  dev: boolean;
  /** Counts authenticated graphql-ws connections per user (push skips connected users, CONTRACT §11). */
  connections?: ConnectedUsers;
}

/** Open authenticated connections per user: who is "connected right now" on graphql-ws. */
export class ConnectedUsers {
  private readonly count = new Map<number, number>();
  add(userId: number) {
    this.count.set(userId, (this.count.get(userId) ?? 0) + 1);
  }
  remove(userId: number) {
    const n = (this.count.get(userId) ?? 0) - 1;
    if (n > 0) this.count.set(userId, n);
    else this.count.delete(userId);
  }
  isConnected(userId: number): boolean {
    return this.count.has(userId);
  }
}

/** The challenge a client sees when its token was refused: drop it and refresh. */
function invalidTokenChallenge(e: AppError): string {
  return `Bearer realm="confab", error="invalid_token", error_description="${e.message.replace(/"/g, "'")}"`;
}

/** What the HTTP route hands to yoga for each request. */
type HttpContext = { identity: Identity | null; authError: AppError | null };

/** Loaders for a caller; anonymous operations fail in requireIdentity before using them. */
function loadersFor(s: Services, identity: Identity | null): Loaders {
  return createLoaders(s, identity?.userId ?? 0);
}

export function graphql(o: GraphQLOptions) {
  const schema = createSchema<GraphQLContext & HttpContext>({ typeDefs, resolvers });
  const services: Services = { core: o.core, realtime: o.realtime };

  const limits: Plugin = {
    onValidate({ addValidationRule }) {
      addValidationRule(complexityRule);
    },
  };

  const yoga = createYoga<HttpContext, GraphQLContext>({
    schema,
    graphqlEndpoint: "/graphql",
    graphiql: o.dev, // GraphiQL only in development mode
    landingPage: false,
    plugins: [limits],
    logging: false,
    context: ({ identity, authError }) => {
      // A presented token that failed: 401 with the same RFC 6750 challenge as REST (CONTRACT §3).
      if (authError) throw new GraphQLError(authError.message, { extensions: { code: authError.code, http: { status: 401, headers: { "WWW-Authenticate": invalidTokenChallenge(authError) } } } });
      return { ...services, identity, loaders: loadersFor(services, identity) };
    },
  });

  /** One open graphql-ws socket: who it authenticated as, and how to end it. */
  type WsExtra = { identity?: Identity; close: (code: number, reason: string) => void; counted?: boolean; closed?: boolean };
  const sockets = new Set<WsExtra>();
  // A revoked session or a disabled account ends its graphql-ws connections at once, as it does
  // on /v1/connect (CONTRACT §5): the token was checked once, at connection_init. 4403 is
  // graphql-ws's "Forbidden", what a refused connection_init gets too.
  const closeWhere = (match: (i: Identity) => boolean) => {
    for (const x of sockets) if (x.identity && match(x.identity)) x.close(4403, "Forbidden");
  };
  o.core.bus.subscribe("session.revoked", (p) => closeWhere((i) => i.sessionId === p.sessionId));
  o.core.bus.subscribe("user.disabled", (p) => closeWhere((i) => i.userId === p.userId));

  const wsServer = makeServer<{ authorization?: string }, WsExtra>({
    schema,
    execute,
    subscribe,
    validate: (s, doc) => validate(s, doc, [...specifiedRules, complexityRule]),
    // Bounded (ARCHITECTURE rule 6): each subscription holds bus listeners and a buffer.
    onSubscribe: (ctx) => {
      if (Object.keys(ctx.subscriptions).length > MAX_OPERATIONS_PER_SOCKET)
        return [new GraphQLError(`At most ${MAX_OPERATIONS_PER_SOCKET} operations at once on one connection`, { extensions: { code: "RATE_LIMITED" } })];
    },
    // connectionParams.authorization: "Bearer <token>" (a bare token is accepted too).
    onConnect: async (ctx) => {
      const raw = String(ctx.connectionParams?.authorization ?? "").replace(/^Bearer\s+/i, "");
      if (!raw) return false;
      try {
        ctx.extra.identity = await o.core.auth.authenticate(raw);
        // The socket may have closed while the token was checked: count only live ones.
        if (ctx.extra.closed) return false;
        o.connections?.add(ctx.extra.identity.userId);
        ctx.extra.counted = true;
        return true;
      } catch {
        return false;
      }
    },
    context: (ctx): GraphQLContext => ({ ...services, identity: ctx.extra.identity ?? null, loaders: loadersFor(services, ctx.extra.identity ?? null) }),
  });

  type WsData = { onMessage?: (data: string) => Promise<void>; closed?: (code?: number, reason?: string) => Promise<void>; extra?: WsExtra };

  /** Hand a WebSocket upgrade of GET /graphql to graphql-ws. */
  function upgrade(request: Request, server: Server<unknown>): boolean {
    const protocol = handleProtocols(request.headers.get("sec-websocket-protocol") ?? "");
    if (!protocol) return false;
    const data: WsData & Record<string, unknown> = {
      open(ws: ServerWebSocket<unknown>) {
        const extra: WsExtra = { identity: undefined, close: (code, reason) => ws.close(code, reason) };
        data.extra = extra;
        sockets.add(extra);
        data.closed = wsServer.opened(
          {
            protocol,
            send: (d) => void ws.send(d),
            close: (code, reason) => ws.close(code, reason),
            onMessage: (cb) => (data.onMessage = cb),
          },
          extra,
        );
      },
      message(_ws: ServerWebSocket<unknown>, message: string | Buffer) {
        data.onMessage?.(String(message)).catch((e) => o.log.warn("graphql-ws message failed", { error: String(e) }));
      },
      close(_ws: ServerWebSocket<unknown>, code: number, reason: string) {
        if (data.extra) {
          sockets.delete(data.extra);
          data.extra.closed = true;
          if (data.extra.counted && data.extra.identity) o.connections?.remove(data.extra.identity.userId);
          data.extra.counted = false;
        }
        void data.closed?.(code, reason);
      },
    };
    return server.upgrade(request, { headers: { "Sec-WebSocket-Protocol": protocol }, data });
  }

  const tooLarge = () => new AppError("PAYLOAD_TOO_LARGE", `GraphQL documents are limited to ${MAX_DOCUMENT_BYTES} bytes`);

  return new Elysia({ name: "graphql", detail: { hide: true } })
    .get("/graphql", ({ request, server }) => {
      if (request.headers.get("upgrade")?.toLowerCase() === "websocket") {
        if (server && upgrade(request, server)) return undefined;
        throw new AppError("VALIDATION_ERROR", "WebSocket connections to /graphql must use the graphql-transport-ws subprotocol");
      }
      if (request.url.length > MAX_DOCUMENT_BYTES) throw tooLarge();
      return yoga.fetch(request, o.identityOf(request));
    })
    .post(
      "/graphql",
      async ({ request }) => {
        const length = request.headers.get("content-length");
        if (length !== null && Number(length) > MAX_DOCUMENT_BYTES) throw tooLarge();
        // A chunked body is read within the bound here, then handed to yoga as a plain request.
        const bounded = length !== null ? request : new Request(request, { body: await readBounded(request, MAX_DOCUMENT_BYTES) });
        return yoga.fetch(bounded, o.identityOf(request));
      },
      { parse: "none" },
    );
}

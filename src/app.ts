/**
 * The composition root (ARCHITECTURE): config → database → stores → services → transports.
 * Nothing here is global, so a test can boot several servers in one process and the CLI can
 * build just the services it needs on the same data dir.
 */
import { join } from "node:path";
import { Elysia } from "elysia";
import type { Config } from "./config";
import { DATABASE_FILE, openDatabase, type Db } from "./db/open";
import { removePidFile, writePidFile } from "./ops/pidfile";
import { startCheckpointer } from "./db/checkpointer";
import { runMigrations } from "./db/migrate";
import { migrations } from "../migrations";
import { InProcessBus, type EventBus } from "./events";
import { Logger } from "./lib/log";
import { ensureDataDir, loadOrCreateSecrets, type Secrets } from "./lib/secrets";
import { RateLimiter } from "./lib/rate-limiter";
import { UserStore } from "./users/store";
import { UserService } from "./users/service";
import { AuthStore } from "./auth/store";
import { AuthService } from "./auth/service";
import { TokenSigner } from "./auth/tokens";
import type { IdentityProvider } from "./auth/providers/provider";
import { FacebookProvider } from "./auth/providers/facebook";
import { OidcProvider } from "./auth/providers/oidc";
import { envelope } from "./http/envelope";
import { apiDocs } from "./http/api-docs";
import { authGuard } from "./http/auth-guard";
import { createMetrics, observability } from "./http/observability";
import { healthRoutes } from "./http/health";
import type { RequestContexts } from "./http/request-context";
import { authRoutes } from "./auth/routes";
import { userRoutes } from "./users/routes";
import { BatchedWriter } from "./db/batched-writer";
import { ConversationStore } from "./conversations/store";
import { ConversationService } from "./conversations/service";
import { conversationRoutes } from "./conversations/routes";
import { MessageStore } from "./messages/store";
import { MessageService } from "./messages/service";
import { messageRoutes } from "./messages/routes";
import { JournalStore } from "./journal/store";
import { Realtime } from "./realtime/realtime";
import { gateway } from "./realtime/gateway";
import { ConnectedUsers, graphql } from "./graphql/server";
import { PushStore, type Platform } from "./push/store";
import { PushService } from "./push/service";
import { PushOutbox } from "./push/outbox";
import { pushRoutes } from "./push/routes";
import type { PushProvider } from "./push/providers/provider";
import { WebPushProvider } from "./push/providers/webpush";
import { ApnsProvider } from "./push/providers/apns";
import { FcmProvider } from "./push/providers/fcm";
import { pushCertificates } from "./push/providers/tls";
import { AdminStore } from "./admin/store";
import { AdminService } from "./admin/service";
import { adminRoutes } from "./admin/routes";
// Bun bundles the admin page's scripts and styles at build time and embeds them in the executable.
import adminPage from "../admin-ui/index.html";
import { maskedConfig } from "./config";
import { Journal } from "./journal/journal";
import { buildMedia, mediaSigner, pictureUrlWith, type Media } from "./media/media";
import { MEDIA_RAW_BODY_PATHS, mediaRoutes } from "./media/routes";

export { DATABASE_FILE };

/** Storage and services without any transport: what both `serve` and the CLI need. */
export interface Core {
  config: Config;
  log: Logger;
  db: Db;
  bus: EventBus;
  secrets: Secrets;
  /** Group commit for every write that is announced on the bus. */
  writer: BatchedWriter;
  users: UserService;
  auth: AuthService;
  conversations: ConversationService;
  messages: MessageService;
  journal: Journal;
  push: PushService;
  outbox: PushOutbox;
  admin: AdminService;
  media: Media;
  close(): void;
}

/** Open the data dir: create it, its secrets and the database, and apply pending migrations. */
export async function openCore(config: Config, log = new Logger(config.logLevel)): Promise<Core> {
  ensureDataDir(config.dataDir);
  const secrets = await loadOrCreateSecrets(config.dataDir);
  const db = openDatabase(join(config.dataDir, DATABASE_FILE));
  const applied = runMigrations(db, migrations);
  if (applied.length) log.info("migrations applied", { migrations: applied });

  const bus = new InProcessBus((name, error) => log.error("event handler failed", { event: name, error }));
  const writer = new BatchedWriter(db, {
    // Group commit delay: under a steady stream, sends gather for up to 5 ms per commit instead
    // of committing a handful at a time (see BatchedWriter). An idle server commits at once.
    commitGapMs: 5,
    onAfterCommitError: (error) => log.error("after-commit handler failed", { error }),
  });
  const authStore = new AuthStore(db);
  const userStore = new UserStore(db);
  // Profiles carry signed picture links, so the media signer comes first.
  const signer = mediaSigner(config, secrets.jwtSecret);
  const pictureUrl = pictureUrlWith(signer);
  const users = new UserService(db, userStore, authStore, bus, pictureUrl, writer);
  const auth = new AuthService(
    db,
    authStore,
    users,
    new TokenSigner(secrets.jwtSecret, config.accessTokenTtl),
    bus,
    { registration: config.registration, refreshTtlSeconds: config.refreshTokenTtl },
    new RateLimiter(config.rateLimit.authRequests, config.rateLimit.windowSeconds),
    identityProviders(config, log),
    writer,
  );
  const conversationStore = new ConversationStore(db);
  writer.onRollback(() => conversationStore.forgetMembers());
  // Deleting an account removes its memberships by cascade, outside the store's own methods.
  bus.subscribe("user.disabled", () => conversationStore.forgetMembers());
  const messageStore = new MessageStore(db);
  const journal = new Journal(new JournalStore(db), bus, config.eventRetentionSeconds * 1000);
  const conversations = new ConversationService(conversationStore, messageStore, userStore, writer, journal, pictureUrl);
  const media = buildMedia({ config, db, signer, conversations, users, writer, log });
  // A replayed new_message must carry links that work now, not the ones minted days ago.
  journal.onReplay("message.created", (p) => ({ ...p, message: media.attachments.remint(p.message) }));
  journal.onReplay("message.updated", (p) => ({ ...p, message: media.attachments.remint(p.message) }));
  const messages = new MessageService(messageStore, conversationStore, conversations, writer, journal, media.attachments);
  const providers = pushProviders(config, secrets, log);
  const pushStore = new PushStore(db);
  const enabled = new Set([...providers.values()].filter((p) => p.enabled).map((p) => p.platform));
  const push = new PushService(pushStore, users, conversations, writer, config.push, enabled);
  // Push jobs commit with the message itself: a crash cannot keep the one without the other.
  journal.onRecord("message.created", (p) => push.enqueueForMessage(p.message, p.participantIds));
  const outbox = new PushOutbox(pushStore, writer, providers, log.tag("push"));
  const admin = new AdminService(new AdminStore(db), { users, auth, push, messages, writer, outbox, dataDir: config.dataDir });
  const close = () => {
    writer.close();
    db.close();
  };
  return { config, log, db, bus, secrets, writer, users, auth, conversations, messages, journal, push, outbox, admin, media, close };
}

function pushProviders(config: Config, secrets: Secrets, log: Logger): Map<Platform, PushProvider> {
  const ca = pushCertificates(config.push.caFile);
  const p = config.push;
  const providers = new Map<Platform, PushProvider>([
    ["web", new WebPushProvider(secrets.vapid, p.vapidSubject, p.allowPrivateEndpoints, ca)],
    ["ios", new ApnsProvider(p.apns, ca)],
    ["android", new FcmProvider(p.fcm, ca)],
  ]);
  for (const provider of providers.values()) {
    if (!provider.enabled) log.info("push provider not configured: its devices are kept but not sent to", { platform: provider.platform });
  }
  return providers;
}

function identityProviders(config: Config, log: Logger): Map<string, IdentityProvider> {
  const providers = new Map<string, IdentityProvider>();
  const fb = config.facebook;
  if (fb.appId && fb.appSecret) {
    providers.set("facebook", new FacebookProvider({ graphUrl: fb.graphUrl, appId: fb.appId, appSecret: fb.appSecret }, log.tag("facebook")));
  }
  for (const [name, p] of Object.entries(config.oidc)) providers.set(`oidc:${name}`, new OidcProvider(name, p));
  return providers;
}

/** Paths whose bodies may be as large as an upload (media streams them itself). */
const UPLOAD_PATHS = MEDIA_RAW_BODY_PATHS;

/** Build the HTTP app on top of the core. */
export function buildHttpApp(core: Core, state: { shuttingDown: boolean }) {
  const { config, log } = core;
  const contexts: RequestContexts = new WeakMap();
  const metrics = createMetrics();
  const limiter = new RateLimiter(config.rateLimit.requests, config.rateLimit.windowSeconds);
  const authLimiter = new RateLimiter(config.rateLimit.authRequests, config.rateLimit.windowSeconds);
  const guard = authGuard({ contexts, auth: core.auth, limiter, authLimiter });
  const realtime = new Realtime(config, core.bus, core.users, log.tag("realtime"));
  const graphqlConnections = new ConnectedUsers();

  const app = new Elysia({
    // Validate the body as sent, not an object rebuilt from the schema's keys: otherwise a body
    // of `5` or `{"privacy_settings":"off"}` passes as "nothing to change" instead of a 400.
    normalize: "typebox",
    // Responses are checked against their schema, not run through TypeBox's Encode: our response
    // schemas hold no transform with an effect (t.Integer's Encode is the identity; t.Date and
    // t.ObjectString would need this back), and Encode walks each response dynamically, ~1.5 µs
    // of a ~40 µs authenticated GET (bench/http-users.ts).
    encodeSchema: false,
    // The bundled admin page and its chunks are served by Bun itself, outside the API's hooks.
    serve: { routes: { "/admin": adminPage, "/admin/": adminPage } },
    websocket: {
      maxPayloadLength: config.ws.maxFrameBytes, // larger frames close the socket with 1009
      // Hard backstop at twice the bound Realtime enforces with a clean 1013 close.
      backpressureLimit: config.ws.sendBufferBytes * 2,
      closeOnBackpressureLimit: true,
      idleTimeout: 60, // seconds without traffic; Bun pings idle peers and drops dead ones
      sendPings: true,
      perMessageDeflate: false, // chat frames are small: compression costs more CPU than it saves
    },
  })
    .use(
      envelope({
        contexts,
        log,
        maxBodyBytes: config.maxBodyBytes,
        maxUploadBytes: config.maxUploadBytes,
        uploadPaths: UPLOAD_PATHS,
        rawBodyPaths: ["/graphql", ...UPLOAD_PATHS],
        clientIp: (_req, socketIp) => socketIp ?? "unknown",
      }),
    )
    .use(observability({ contexts, log, metrics }))
    .use(
      apiDocs({
        info: { title: "confab", version: "1", description: "Self-hosted messaging server: REST API" },
        components: { securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } } },
        security: [{ bearer: [] }],
        exclude: ["/metrics", "/healthz", "/readyz"],
      }),
    )
    .use(guard)
    .use(healthRoutes({ db: core.db, metrics, isShuttingDown: () => state.shuttingDown }))
    .use(authRoutes(core.auth, guard))
    .use(userRoutes(core.users, guard))
    .use(conversationRoutes(core.conversations, guard))
    .use(messageRoutes(core.messages, guard))
    .use(pushRoutes(core.push, core.secrets.vapid.publicKey, guard))
    .use(adminRoutes(core.admin, () => maskedConfig(config), guard))

    .use(mediaRoutes(core.media.service, guard))
    .use(gateway({ realtime, auth: core.auth, conversations: core.conversations, messages: core.messages, journal: core.journal, log: log.tag("realtime") }))
    .use(
      graphql({
        connections: graphqlConnections,
        core,
        realtime,
        log: log.tag("graphql"),
        dev: config.dev,
        identityOf: (request) => {
          const m = contexts.get(request);
          return { identity: m?.identity ?? null, authError: m?.authError ?? null };
        },
      }),
    );

  // Forget idle clients' buckets and ended sessions now and then, so memory and tables stay bounded.
  const housekeeping = setInterval(() => {
    limiter.sweep();
    authLimiter.sweep();
    core.auth.prune();
    core.journal.prune();
  }, 60_000);
  housekeeping.unref();

  return { app, metrics, realtime, graphqlConnections, stopHousekeeping: () => clearInterval(housekeeping) };
}

export interface RunningServer {
  core: Core;
  realtime: Realtime;
  port: number;
  url: string;
  stop(): Promise<void>;
}

/** Open the data dir, build everything and listen. */
export async function startServer(config: Config, log = new Logger(config.logLevel)): Promise<RunningServer> {
  const core = await openCore(config, log);
  const state = { shuttingDown: false };
  const { app, realtime, graphqlConnections, stopHousekeeping } = buildHttpApp(core, state);
  app.listen({
    hostname: config.host,
    port: config.port,
    // Bun's own limit is a backstop far above ours: within it, our hooks answer with the envelope.
    maxRequestBodySize: Math.max(config.maxUploadBytes, config.maxBodyBytes) * 2 + 1_048_576,
    // Refuse to start on a port another process already serves (Bun would share it silently).
    reusePort: false,
    // Production serving of the bundled admin page: no dev-server reloading scripts.
    development: false,
  });
  realtime.attach(app.server!);
  writePidFile(config.dataDir);
  // Checkpoints move to a worker thread: commits on the event loop no longer pay for them.
  core.db.exec("PRAGMA wal_autocheckpoint = 0");
  const checkpointer = startCheckpointer(join(config.dataDir, DATABASE_FILE), (error) => log.warn("checkpoint failed", { error }));
  // Connected right now (CONTRACT §11): on /v1/connect or on a graphql-ws connection.
  core.push.setConnectionProbe((userId) => realtime.isConnected(userId) || graphqlConnections.isConnected(userId));
  core.admin.setLive({ connections: () => ({ connections: realtime.registry.size, users: realtime.registry.users }) });
  const stopWaking = core.bus.subscribe("message.created", () => core.outbox.wake());
  core.outbox.start();
  const stopIndexing = core.messages.startIndexing();
  const port = app.server!.port!;
  // CONTRACT §1: without --public-url, links point at http://localhost:<the port we got>.
  if (!config.publicUrl) core.media.signer.setBase(`http://localhost:${port}`);
  const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;
  log.info("listening", { host: config.host, port, url, data_dir: config.dataDir, registration: config.registration });
  return {
    core,
    realtime,
    port,
    url,
    async stop() {
      state.shuttingDown = true;
      stopHousekeeping();
      realtime.shutdown();
      stopWaking();
      stopIndexing();
      core.outbox.stop();
      await app.stop();
      await core.writer.drained();
      removePidFile(config.dataDir);
      await checkpointer.stop();
      core.close(); // the last connection to close checkpoints what is left
    },
  };
}

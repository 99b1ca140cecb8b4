/**
 * One typed settings object. Precedence, strongest first (CONTRACT §1):
 * command-line flags > CONFAB_* environment variables > <data-dir>/confab.toml (or --config) > defaults.
 * Tests build a Config with `defaultConfig()` plus overrides and never read the environment.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { LOG_LEVELS, type LogLevel } from "./lib/log";

export interface OidcProviderConfig {
  /** Issuer URL; its /.well-known/openid-configuration names the JWKS. */
  issuer: string;
  /** Our client id at that provider: the `aud` every id_token must carry. */
  clientId: string;
}

export interface Config {
  host: string;
  port: number;
  dataDir: string;
  /** Where clients reach us; signed media URLs are built on it. Null: http://localhost:<bound port>. */
  publicUrl: string | null;
  registration: "open" | "closed";
  logLevel: LogLevel;
  /** Largest media upload (bytes). */
  maxUploadBytes: number;
  /** How long a signed media URL works (seconds); responses mint fresh ones. */
  mediaUrlTtl: number;
  /** Largest JSON request body (bytes): a message is 10,000 characters, so 1 MiB is generous. */
  maxBodyBytes: number;
  /** Access token lifetime (seconds): `expires_in` of login. */
  accessTokenTtl: number;
  /** Refresh token lifetime (seconds). */
  refreshTokenTtl: number;
  rateLimit: {
    /** Requests per window per client on /api/v1. */
    requests: number;
    windowSeconds: number;
    /** Login/register/refresh attempts per window, per IP and per account. */
    authRequests: number;
  };
  facebook: { graphUrl: string; appId: string | null; appSecret: string | null };
  oidc: Record<string, OidcProviderConfig>;
  /** How long the event journal keeps events for `resume` (seconds). */
  eventRetentionSeconds: number;
  /** Presence and typing: the costliest real-time features at scale, so they can be turned off. */
  presence: "on" | "off";
  ws: {
    /** Largest client frame; bigger ones close the socket with 1009. */
    maxFrameBytes: number;
    /** Sustained client frames per second per connection (bursts of twice this). */
    framesPerSecond: number;
    /** Bytes queued for one slow reader before it is disconnected with 1013. */
    sendBufferBytes: number;
    maxConnections: number;
    maxConnectionsPerUser: number;
    /** How long a new connection may take to send its auth frame before it is closed with 4001 (ms). */
    authDeadlineMs: number;
    /** A typing indicator expires this long after the last typing_start (ms). */
    typingTtlMs: number;
  };
  push: PushConfig;
  /** Development mode: verbose errors in logs, GraphiQL. Never on by default. */
  dev: boolean;
}

export interface PushConfig {
  /** `mailto:` or `https:` contact sent to Web Push services in the VAPID token. */
  vapidSubject: string;
  /** Extra CA certificates (PEM file) trusted for every push connection. */
  caFile: string | null;
  /** Let Web Push endpoints be loopback/private addresses (tests, LAN push services). https stays required. */
  allowPrivateEndpoints: boolean;
  /** What a notification may show, server-wide; a user may only choose something more private. */
  preview: "full" | "sender" | "none";
  apns: { url: string; keyFile: string | null; keyId: string | null; teamId: string | null; topic: string | null };
  fcm: { url: string; tokenUrl: string | null; serviceAccountFile: string | null };
}

/** The defaults, each with the reason for its value. */
export function defaultConfig(overrides: Partial<Config> = {}): Config {
  return {
    host: "0.0.0.0",
    port: 8080,
    dataDir: "./data",
    publicUrl: null,
    // Closed: a fresh server on the internet must not let strangers sign up.
    registration: "closed",
    logLevel: "info",
    maxUploadBytes: 26_214_400, // 25 MiB: a phone photo or a short video
    // An hour: long enough to scroll and play a video, short enough that a leaked link dies soon.
    mediaUrlTtl: 3600,
    maxBodyBytes: 1_048_576,
    accessTokenTtl: 3600,
    refreshTokenTtl: 30 * 24 * 3600,
    rateLimit: { requests: 1000, windowSeconds: 900, authRequests: 20 },
    facebook: { graphUrl: "https://graph.facebook.com", appId: null, appSecret: null },
    oidc: {},
    eventRetentionSeconds: 7 * 24 * 3600,
    presence: "on",
    ws: {
      maxFrameBytes: 65_536,
      framesPerSecond: 50,
      sendBufferBytes: 1_048_576,
      // ~10 KB each when idle: 50,000 sockets fit in well under a gigabyte.
      maxConnections: 50_000,
      maxConnectionsPerUser: 20,
      authDeadlineMs: 10_000, // CONTRACT §8: the first frame must be auth within 10 s
      typingTtlMs: 10_000, // CONTRACT §8: typing expires after 10 s without typing_start
    },
    push: {
      vapidSubject: "mailto:admin@localhost",
      caFile: null,
      allowPrivateEndpoints: false,
      preview: "full",
      apns: { url: "https://api.push.apple.com", keyFile: null, keyId: null, teamId: null, topic: null },
      fcm: { url: "https://fcm.googleapis.com", tokenUrl: null, serviceAccountFile: null },
    },
    dev: false,
    ...overrides,
  };
}

/** Flags as commander hands them over (all optional strings/numbers). */
export interface ConfigFlags {
  port?: string | number;
  host?: string;
  dataDir?: string;
  publicUrl?: string;
  registration?: string;
  logLevel?: string;
  maxUploadBytes?: string | number;
  presence?: string;
  config?: string;
  dev?: boolean;
}

type Env = Record<string, string | undefined>;

/** Build the Config from flags, environment and config file. Throws ConfigError on bad values. */
export function loadConfig(flags: ConfigFlags = {}, env: Env = process.env): Config {
  const dataDir = resolve(flags.dataDir ?? env.CONFAB_DATA_DIR ?? "./data");
  const file = readConfigFile(flags.config ?? env.CONFAB_CONFIG ?? join(dataDir, "confab.toml"), flags.config !== undefined);
  const pick = (flag: unknown, envName: string, fileKey: string) => flag ?? env[envName] ?? file[fileKey];

  const port = int("port", pick(flags.port, "CONFAB_PORT", "port"), 8080, 0, 65535);
  const base = defaultConfig({ port });
  const logLevel = oneOf("log-level", pick(flags.logLevel, "CONFAB_LOG_LEVEL", "log_level"), LOG_LEVELS, base.logLevel);
  const fileRate = (file.rate_limit ?? {}) as Record<string, unknown>;
  const fileFb = (file.facebook ?? {}) as Record<string, unknown>;
  const fileWs = (file.websocket ?? {}) as Record<string, unknown>;

  return {
    ...base,
    host: str(pick(flags.host, "CONFAB_HOST", "host")) ?? base.host,
    dataDir,
    publicUrl: str(pick(flags.publicUrl, "CONFAB_PUBLIC_URL", "public_url"))?.replace(/\/+$/, "") ?? null,
    registration: oneOf("registration", pick(flags.registration, "CONFAB_REGISTRATION", "registration"), ["open", "closed"] as const, base.registration),
    logLevel,
    maxUploadBytes: int("max-upload-bytes", pick(flags.maxUploadBytes, "CONFAB_MAX_UPLOAD_BYTES", "max_upload_bytes"), base.maxUploadBytes, 1),
    maxBodyBytes: int("max-body-bytes", env.CONFAB_MAX_BODY_BYTES ?? file.max_body_bytes, base.maxBodyBytes, 1024),
    mediaUrlTtl: int("media-url-ttl", env.CONFAB_MEDIA_URL_TTL ?? file.media_url_ttl, base.mediaUrlTtl, 10, 7 * 24 * 3600),
    accessTokenTtl: int("access-token-ttl", env.CONFAB_ACCESS_TOKEN_TTL ?? file.access_token_ttl, base.accessTokenTtl, 60),
    refreshTokenTtl: int("refresh-token-ttl", env.CONFAB_REFRESH_TOKEN_TTL ?? file.refresh_token_ttl, base.refreshTokenTtl, 300),
    rateLimit: {
      requests: int("rate-limit", env.CONFAB_RATE_LIMIT ?? fileRate.requests, base.rateLimit.requests, 1),
      windowSeconds: int("rate-limit-window", env.CONFAB_RATE_LIMIT_WINDOW ?? fileRate.window_seconds, base.rateLimit.windowSeconds, 1),
      authRequests: int("auth-rate-limit", env.CONFAB_AUTH_RATE_LIMIT ?? fileRate.auth_requests, base.rateLimit.authRequests, 1),
    },
    facebook: {
      graphUrl: (str(env.CONFAB_FACEBOOK_GRAPH_URL ?? fileFb.graph_url) ?? base.facebook.graphUrl).replace(/\/+$/, ""),
      appId: str(env.CONFAB_FACEBOOK_APP_ID ?? fileFb.app_id) ?? null,
      appSecret: str(env.CONFAB_FACEBOOK_APP_SECRET ?? fileFb.app_secret) ?? null,
    },
    oidc: parseOidc(file.oidc),
    eventRetentionSeconds: int("event-retention", env.CONFAB_EVENT_RETENTION ?? file.event_retention_seconds, base.eventRetentionSeconds, 60),
    presence: oneOf("presence", pick(flags.presence, "CONFAB_PRESENCE", "presence"), ["on", "off"] as const, base.presence),
    ws: {
      maxFrameBytes: int("ws-max-frame-bytes", env.CONFAB_WS_MAX_FRAME_BYTES ?? fileWs.max_frame_bytes, base.ws.maxFrameBytes, 1024),
      framesPerSecond: int("ws-frames-per-second", env.CONFAB_WS_FRAMES_PER_SECOND ?? fileWs.frames_per_second, base.ws.framesPerSecond, 1),
      sendBufferBytes: int("ws-send-buffer-bytes", env.CONFAB_WS_SEND_BUFFER_BYTES ?? fileWs.send_buffer_bytes, base.ws.sendBufferBytes, 65_536),
      maxConnections: int("ws-max-connections", env.CONFAB_WS_MAX_CONNECTIONS ?? fileWs.max_connections, base.ws.maxConnections, 1),
      maxConnectionsPerUser: int("ws-max-connections-per-user", env.CONFAB_WS_MAX_CONNECTIONS_PER_USER ?? fileWs.max_connections_per_user, base.ws.maxConnectionsPerUser, 1),
      // The contract fixes both at 10 s; only the config file may change them (tests shorten them).
      authDeadlineMs: int("ws-auth-deadline-ms", fileWs.auth_deadline_ms, base.ws.authDeadlineMs, 100),
      typingTtlMs: int("ws-typing-ttl-ms", fileWs.typing_ttl_ms, base.ws.typingTtlMs, 100),
    },
    push: loadPush(env, (file.push ?? {}) as Record<string, any>, base.push),
    dev: flags.dev ?? bool(env.CONFAB_DEV) ?? false,
  };
}

/** The settings as an operator may see them: secrets replaced by a mask (`confab config show`). */
export function maskedConfig(c: Config): Config {
  const mask = (v: string | null) => (v ? "********" : null);
  return { ...c, facebook: { ...c.facebook, appSecret: mask(c.facebook.appSecret) } };
}

/** A setting with a value we cannot use: the CLI prints it and exits 2. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

function readConfigFile(path: string, required: boolean): Record<string, any> {
  if (!existsSync(path)) {
    if (required) throw new ConfigError(`config file not found: ${path}`);
    return {};
  }
  try {
    return Bun.TOML.parse(readFileSync(path, "utf8")) as Record<string, any>;
  } catch (e) {
    throw new ConfigError(`cannot parse ${path}: ${(e as Error).message}`);
  }
}

function parseOidc(raw: unknown): Record<string, OidcProviderConfig> {
  if (raw === undefined) return {};
  if (typeof raw !== "object" || raw === null) throw new ConfigError("[oidc] must be a table of providers");
  const out: Record<string, OidcProviderConfig> = {};
  for (const [name, p] of Object.entries(raw as Record<string, any>)) {
    if (!/^[a-z0-9_-]{1,32}$/.test(name)) throw new ConfigError(`oidc provider name "${name}" must match [a-z0-9_-]{1,32}`);
    if (typeof p?.issuer !== "string" || typeof p?.client_id !== "string")
      throw new ConfigError(`[oidc.${name}] needs issuer and client_id`);
    out[name] = { issuer: p.issuer.replace(/\/+$/, ""), clientId: p.client_id };
  }
  return out;
}

function loadPush(env: Env, f: Record<string, any>, base: PushConfig): PushConfig {
  const apns = (f.apns ?? {}) as Record<string, unknown>;
  const fcm = (f.fcm ?? {}) as Record<string, unknown>;
  const url = (v: unknown, fallback: string) => (str(v) ?? fallback).replace(/\/+$/, "");
  return {
    vapidSubject: str(env.CONFAB_VAPID_SUBJECT ?? f.vapid_subject) ?? base.vapidSubject,
    caFile: str(env.CONFAB_PUSH_CA_FILE ?? f.ca_file) ?? null,
    allowPrivateEndpoints: bool(env.CONFAB_PUSH_ALLOW_PRIVATE_ENDPOINTS) ?? f.allow_private_endpoints === true,
    preview: oneOf("push-preview", env.CONFAB_PUSH_PREVIEW ?? f.preview, ["full", "sender", "none"] as const, base.preview),
    apns: {
      url: url(env.CONFAB_APNS_URL ?? apns.url, base.apns.url),
      keyFile: str(env.CONFAB_APNS_KEY_FILE ?? apns.key_file) ?? null,
      keyId: str(env.CONFAB_APNS_KEY_ID ?? apns.key_id) ?? null,
      teamId: str(env.CONFAB_APNS_TEAM_ID ?? apns.team_id) ?? null,
      topic: str(env.CONFAB_APNS_TOPIC ?? apns.topic) ?? null,
    },
    fcm: {
      url: url(env.CONFAB_FCM_URL ?? fcm.url, base.fcm.url),
      tokenUrl: str(env.CONFAB_FCM_TOKEN_URL ?? fcm.token_url) ?? null,
      serviceAccountFile: str(env.CONFAB_FCM_SERVICE_ACCOUNT_FILE ?? fcm.service_account_file) ?? null,
    },
  };
}

function str(v: unknown): string | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  return String(v);
}

function bool(v: string | undefined): boolean | undefined {
  if (v === undefined || v === "") return undefined;
  return ["1", "true", "yes", "on"].includes(v.toLowerCase());
}

function int(name: string, v: unknown, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined || v === null || v === "") return fallback;
  const n = typeof v === "number" ? v : Number(String(v).trim());
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${name} must be an integer between ${min} and ${max}, got "${v}"`);
  return n;
}

function oneOf<T extends string>(name: string, v: unknown, allowed: readonly T[], fallback: T): T {
  if (v === undefined || v === null || v === "") return fallback;
  if (!allowed.includes(v as T)) throw new ConfigError(`${name} must be one of ${allowed.join(", ")}, got "${v}"`);
  return v as T;
}

/**
 * Boots the real server in-process on 127.0.0.1, port 0, with a fresh temp data dir, and gives
 * tests small helpers to talk to it over real HTTP. Nothing of ours is mocked.
 *
 * @example
 *   const s = await startTestServer({ registration: "open" });
 *   const alice = await s.register();
 *   const r = await s.get("/api/v1/users/me", alice.token);
 *   await s.stop();
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultConfig, type Config } from "../src/config";
import { startServer, type RunningServer } from "../src/app";
import { Logger } from "../src/lib/log";

export interface Res {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

export interface TestUser {
  user_id: number;
  email: string;
  username: string;
  password: string;
  token: string;
  refresh_token: string;
}

export interface TestServer {
  url: string;
  dataDir: string;
  server: RunningServer;
  /** Log lines the server wrote (JSON, parsed). */
  logs: Record<string, any>[];
  request(method: string, path: string, token?: string | null, body?: unknown, headers?: Record<string, string>): Promise<Res>;
  get(path: string, token?: string | null, headers?: Record<string, string>): Promise<Res>;
  post(path: string, token?: string | null, body?: unknown): Promise<Res>;
  put(path: string, token?: string | null, body?: unknown): Promise<Res>;
  del(path: string, token?: string | null): Promise<Res>;
  /** Register a fresh user (registration must be open). */
  register(over?: Partial<Record<string, string>>): Promise<TestUser>;
  stop(): Promise<void>;
}

let counter = 0;
/** A short unique tag for usernames and emails. */
export function uniq(): string {
  return `${Date.now().toString(36)}${(counter++).toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}

export function tempDir(prefix = "confab-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function startTestServer(overrides: Partial<Config> = {}): Promise<TestServer> {
  const dataDir = overrides.dataDir ?? tempDir();
  const config: Config = {
    ...defaultConfig(),
    host: "127.0.0.1",
    port: 0,
    dataDir,
    logLevel: "info",
    // Tests register many users from one address; rate-limit tests lower these again.
    rateLimit: { requests: 100_000, windowSeconds: 900, authRequests: 100_000 },
    ...overrides,
  };
  const logs: Record<string, any>[] = [];
  const log = new Logger(config.logLevel, {}, (line) => logs.push(JSON.parse(line)));
  const server = await startServer(config, log);
  const url = server.url;

  async function request(method: string, path: string, token?: string | null, body?: unknown, headers: Record<string, string> = {}): Promise<Res> {
    const h: Record<string, string> = { ...headers };
    if (token) h.authorization = `Bearer ${token}`;
    let payload: BodyInit | undefined;
    if (body !== undefined) {
      payload = typeof body === "string" ? body : JSON.stringify(body);
      h["content-type"] ??= "application/json";
    }
    const res = await fetch(url + path, { method, headers: h, body: payload });
    const text = await res.text();
    let parsed: any;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: res.status, headers: res.headers, body: parsed, text };
  }

  const s: TestServer = {
    url,
    dataDir,
    server,
    logs,
    request,
    get: (p, t, h) => request("GET", p, t, undefined, h),
    post: (p, t, b) => request("POST", p, t, b ?? {}),
    put: (p, t, b) => request("PUT", p, t, b ?? {}),
    del: (p, t) => request("DELETE", p, t),
    async register(over = {}) {
      const tag = uniq();
      const input = {
        email: `u${tag}@example.test`,
        username: `u${tag}`,
        password: `pw-${tag}-secret`,
        first_name: "Test",
        last_name: "User",
        ...over,
      };
      const r = await request("POST", "/api/v1/auth/register", null, input);
      if (r.status !== 201) throw new Error(`register failed: ${r.status} ${r.text}`);
      return {
        user_id: r.body.user.user_id,
        email: input.email,
        username: input.username,
        password: input.password,
        token: r.body.access_token,
        refresh_token: r.body.refresh_token,
      };
    },
    async stop() {
      await server.stop();
      if (!overrides.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return s;
}

/** Assert an error envelope; returns `error`. Throws with the response when it does not match. */
export function expectError(r: Res, status: number, code: string): any {
  if (r.status !== status || r.body?.error?.code !== code) throw new Error(`expected ${status} ${code}, got ${r.status} ${r.text}`);
  const e = r.body.error;
  if (typeof e.message !== "string" || typeof e.request_id !== "string" || typeof e.timestamp !== "string")
    throw new Error(`incomplete envelope: ${r.text}`);
  return e;
}

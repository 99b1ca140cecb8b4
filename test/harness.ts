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
import { connect } from "node:net";
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
  /**
   * The same request sent from another loopback address (127.0.0.0/8), so the server sees a
   * different client IP: per-IP rate limits can be tested from one machine.
   */
  requestFrom(ip: string, method: string, path: string, token?: string | null, body?: unknown): Promise<Res>;
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
    requestFrom: (ip, method, path, token, body) => rawRequest(server.port, ip, method, path, token, body),
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
/** The body of a response that must have `status`; anything else fails with the response shown. */
export function ok(r: Res, status = 200): any {
  if (r.status !== status) throw new Error(`expected ${status}, got ${r.status} ${r.text}`);
  return r.body;
}

export function expectError(r: Res, status: number, code: string): any {
  if (r.status !== status || r.body?.error?.code !== code) throw new Error(`expected ${status} ${code}, got ${r.status} ${r.text}`);
  const e = r.body.error;
  if (typeof e.message !== "string" || typeof e.request_id !== "string" || typeof e.timestamp !== "string")
    throw new Error(`incomplete envelope: ${r.text}`);
  return e;
}

/** Poll `fn` until it returns something other than undefined; fails after `timeoutMs`. */
export async function eventually<T>(fn: () => T | undefined, timeoutMs = 2000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(10);
  }
}

/** One HTTP/1.1 request over a socket bound to `localAddress` (fetch cannot pick its source address). */
function rawRequest(port: number, localAddress: string, method: string, path: string, token?: string | null, body?: unknown): Promise<Res> {
  const payload = body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body);
  const head = [`${method} ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, "Connection: close"];
  if (token) head.push(`Authorization: Bearer ${token}`);
  if (body !== undefined) head.push("Content-Type: application/json", `Content-Length: ${Buffer.byteLength(payload)}`);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    // write, not end: a half-closed socket reads as an aborted request to a server still working on it.
    const sock = connect({ host: "127.0.0.1", port, localAddress }, () => sock.write(head.join("\r\n") + "\r\n\r\n" + payload));
    sock.setTimeout(10_000, () => sock.destroy(new Error("raw request timed out")));
    sock.on("data", (d: Buffer) => chunks.push(d));
    sock.on("error", reject);
    sock.on("close", () => {
      try {
        resolve(parseRawResponse(Buffer.concat(chunks)));
      } catch (e) {
        reject(e);
      }
    });
  });
}

function parseRawResponse(raw: Buffer): Res {
  const split = raw.indexOf("\r\n\r\n");
  if (split < 0) throw new Error(`incomplete HTTP response: ${raw.toString()}`);
  const [statusLine, ...lines] = raw.subarray(0, split).toString("latin1").split("\r\n");
  const headers = new Headers();
  for (const l of lines) headers.append(l.slice(0, l.indexOf(":")).trim(), l.slice(l.indexOf(":") + 1).trim());
  let bytes = raw.subarray(split + 4);
  if (headers.get("transfer-encoding")?.includes("chunked")) bytes = dechunk(bytes);
  const text = bytes.toString("utf8");
  let parsed: any;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: Number(statusLine!.split(" ")[1]), headers, body: parsed, text };
}

function dechunk(b: Buffer): Buffer {
  const out: Buffer[] = [];
  let i = 0;
  for (let guard = 0; guard < 100_000 && i < b.length; guard++) {
    const eol = b.indexOf("\r\n", i);
    const size = parseInt(b.subarray(i, eol).toString(), 16);
    if (!size) break;
    out.push(b.subarray(eol + 2, eol + 2 + size));
    i = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}

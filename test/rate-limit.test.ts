/**
 * Rate limits (CONTRACT §4): the X-RateLimit-* headers, the general bucket per user (per IP when
 * anonymous) and the tight login/register/refresh bucket per IP and per account. Requests from
 * other client IPs are sent from other loopback addresses (127.0.0.x).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { expectError, startTestServer, uniq, type Res, type TestServer } from "./harness";

const servers: TestServer[] = [];
async function server(rateLimit: { requests: number; windowSeconds: number; authRequests: number }) {
  const s = await startTestServer({ registration: "open", rateLimit });
  servers.push(s);
  return s;
}
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
});

function rate(r: Res) {
  return {
    limit: Number(r.headers.get("x-ratelimit-limit")),
    remaining: Number(r.headers.get("x-ratelimit-remaining")),
    reset: Number(r.headers.get("x-ratelimit-reset")),
    window: Number(r.headers.get("x-ratelimit-window")),
  };
}

function expectRateLimited(r: Res, maxRetryAfter: number) {
  expectError(r, 429, "RATE_LIMITED");
  const retry = r.headers.get("retry-after");
  expect(retry).toMatch(/^\d+$/);
  expect(Number(retry)).toBeGreaterThanOrEqual(1);
  expect(Number(retry)).toBeLessThanOrEqual(maxRetryAfter);
}

/** An account made by the service directly: no HTTP request spent on it. */
async function account(s: TestServer) {
  const tag = uniq();
  const input = { email: `r${tag}@example.test`, username: `r${tag}`, password: `pw-${tag}-long`, first_name: "R", last_name: "L" };
  await s.server.core.users.createUser(input);
  return input;
}

describe("headers", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await server({ requests: 50, windowSeconds: 900, authRequests: 100 });
  });

  test("X-RateLimit-Limit/Remaining/Reset/Window on /api/v1, with sane values", async () => {
    const u = await s.register();
    const a = await s.get("/api/v1/users/me", u.token);
    const b = await s.get("/api/v1/users/me", u.token);
    const ra = rate(a);
    const rb = rate(b);
    const now = Date.now() / 1000;
    expect(ra.limit).toBe(50);
    expect(ra.window).toBe(900);
    expect(ra.remaining).toBe(49);
    expect(rb.remaining).toBe(48);
    // Reset: unix seconds at which the bucket is full again, within one window from now.
    expect(rb.reset).toBeGreaterThan(now);
    expect(rb.reset).toBeLessThanOrEqual(Math.ceil(now) + 900 + 1);
    expect(rb.reset).toBeGreaterThanOrEqual(ra.reset);
  });

  test("present on error responses under /api/v1 too", async () => {
    const u = await s.register();
    const cases = [
      await s.get("/api/v1/users/me"), // 401
      await s.get("/api/v1/users/abc", u.token), // 400
      await s.get("/api/v1/users/987654", u.token), // 404
      await s.put(`/api/v1/users/${u.user_id + 1000}`, u.token, {}), // 403
      await s.get("/api/v1/no-such-route", u.token), // 404, no route matched
      await s.request("POST", "/api/v1/auth/login", null, "{not json"), // 400 INVALID_JSON
      await s.post("/api/v1/auth/login", null, { email: 1 }), // 400 VALIDATION_ERROR
    ];
    for (const r of cases) {
      expect(r.status).toBeGreaterThanOrEqual(400);
      const x = rate(r);
      expect(x.limit).toBe(50);
      expect(x.window).toBe(900);
      expect(x.remaining).toBeGreaterThanOrEqual(0);
    }
  });
});

describe("general limit", () => {
  test("per user: the 6th request → 429 with Retry-After; another user is unaffected", async () => {
    const s = await server({ requests: 5, windowSeconds: 900, authRequests: 100 });
    const [a, b] = [await s.register(), await s.register()];
    for (let i = 0; i < 5; i++) {
      const r = await s.get("/api/v1/users/me", a.token);
      expect(r.status).toBe(200);
      expect(rate(r).remaining).toBe(4 - i);
    }
    const sixth = await s.get("/api/v1/users/me", a.token);
    expectRateLimited(sixth, 900);
    expect(rate(sixth).remaining).toBe(0);
    // 5 per 900 s refills one request every 180 s.
    expect(Number(sixth.headers.get("retry-after"))).toBeLessThanOrEqual(180);
    expect(rate(sixth).reset).toBeGreaterThan(Date.now() / 1000);

    const other = await s.get("/api/v1/users/me", b.token);
    expect(other.status).toBe(200);
    expect(rate(other).remaining).toBe(4);
  });

  test("anonymous requests are limited per IP; a bad token does not get a fresh bucket", async () => {
    const s = await server({ requests: 3, windowSeconds: 900, authRequests: 100 });
    for (let i = 0; i < 3; i++) expectError(await s.requestFrom("127.0.0.2", "GET", "/api/v1/users/me"), 401, "AUTH_REQUIRED");
    expectRateLimited(await s.requestFrom("127.0.0.2", "GET", "/api/v1/users/me"), 900);
    expectRateLimited(await s.requestFrom("127.0.0.2", "GET", "/api/v1/users/me", `garbage-${uniq()}`), 900);
    // Another address has its own bucket.
    const elsewhere = await s.requestFrom("127.0.0.3", "GET", "/api/v1/users/me");
    expectError(elsewhere, 401, "AUTH_REQUIRED");
    expect(rate(elsewhere).remaining).toBe(2);
  });

  test("requests refused before routing or parsing still count", async () => {
    const s = await server({ requests: 3, windowSeconds: 900, authRequests: 100 });
    const ip = "127.0.0.14";
    expectError(await s.requestFrom(ip, "GET", "/api/v1/no-such-route"), 404, "NOT_FOUND");
    expectError(await s.requestFrom(ip, "POST", "/api/v1/auth/login", null, "{not json"), 400, "INVALID_JSON");
    expectError(await s.requestFrom(ip, "POST", "/api/v1/auth/login", null, { email: 1 }), 400, "VALIDATION_ERROR");
    expectRateLimited(await s.requestFrom(ip, "GET", "/api/v1/no-such-route"), 900);
  });

  test("the bucket refills over time (token bucket, not a fixed window)", async () => {
    // 2 per second: one token back every 500 ms.
    const s = await server({ requests: 2, windowSeconds: 1, authRequests: 100 });
    const ip = "127.0.0.9";
    expect((await s.requestFrom(ip, "GET", "/api/v1/users/me")).status).toBe(401);
    expect((await s.requestFrom(ip, "GET", "/api/v1/users/me")).status).toBe(401);
    const limited = await s.requestFrom(ip, "GET", "/api/v1/users/me");
    expectRateLimited(limited, 1);
    await Bun.sleep(Number(limited.headers.get("retry-after")) * 1000);
    expect((await s.requestFrom(ip, "GET", "/api/v1/users/me")).status).toBe(401);
  });
});

describe("login, register and refresh", () => {
  test("login is limited per IP, and other addresses are not", async () => {
    const s = await server({ requests: 1000, windowSeconds: 900, authRequests: 3 });
    const acc = await account(s);
    const other = await account(s);
    const ip = "127.0.0.4";
    for (let i = 0; i < 3; i++) {
      const r = await s.requestFrom(ip, "POST", "/api/v1/auth/login", null, { email: i % 2 ? acc.email : other.email, password: "wrong-password" });
      expectError(r, 401, "INVALID_CREDENTIALS");
    }
    // Even the right password is refused from that address now.
    const blocked = await s.requestFrom(ip, "POST", "/api/v1/auth/login", null, { email: acc.email, password: acc.password });
    expectRateLimited(blocked, 900);
    expect(blocked.text).not.toContain("access_token");
    expect((await s.requestFrom("127.0.0.5", "POST", "/api/v1/auth/login", null, { email: acc.email, password: acc.password })).status).toBe(200);
  });

  test("login is limited per account, whatever the address", async () => {
    const s = await server({ requests: 1000, windowSeconds: 900, authRequests: 3 });
    const victim = await account(s);
    const bystander = await account(s);
    const ips = ["127.0.0.6", "127.0.0.7", "127.0.0.8"];
    for (const ip of ips) {
      expectError(await s.requestFrom(ip, "POST", "/api/v1/auth/login", null, { email: victim.email, password: "guess" }), 401, "INVALID_CREDENTIALS");
    }
    // A fresh address, the email in another case: still the same account's bucket.
    const r = await s.requestFrom("127.0.0.10", "POST", "/api/v1/auth/login", null, { email: victim.email.toUpperCase(), password: victim.password });
    expectRateLimited(r, 900);
    // The same fresh address can log in to another account.
    expect((await s.requestFrom("127.0.0.10", "POST", "/api/v1/auth/login", null, { email: bystander.email, password: bystander.password })).status).toBe(200);
  });

  test("register is limited per IP", async () => {
    const s = await server({ requests: 1000, windowSeconds: 900, authRequests: 2 });
    const body = () => {
      const t = uniq();
      return { email: `g${t}@example.test`, username: `g${t}`, password: "long-enough-pw", first_name: "G", last_name: "H" };
    };
    expect((await s.requestFrom("127.0.0.11", "POST", "/api/v1/auth/register", null, body())).status).toBe(201);
    expect((await s.requestFrom("127.0.0.11", "POST", "/api/v1/auth/register", null, body())).status).toBe(201);
    const third = body();
    expectRateLimited(await s.requestFrom("127.0.0.11", "POST", "/api/v1/auth/register", null, third), 900);
    expect(s.server.core.users.findByEmail(third.email)).toBeNull();
  });

  test("refresh is limited per IP", async () => {
    const s = await server({ requests: 1000, windowSeconds: 900, authRequests: 2 });
    const acc = await account(s);
    const login = await s.requestFrom("127.0.0.12", "POST", "/api/v1/auth/login", null, { email: acc.email, password: acc.password });
    expect(login.status).toBe(200);
    const first = await s.requestFrom("127.0.0.12", "POST", "/api/v1/auth/refresh", null, { refresh_token: login.body.refresh_token });
    expect(first.status).toBe(200);
    expectRateLimited(await s.requestFrom("127.0.0.12", "POST", "/api/v1/auth/refresh", null, { refresh_token: first.body.refresh_token }), 900);
    // The refused attempt did not burn the token: another address can still use it.
    expect((await s.requestFrom("127.0.0.13", "POST", "/api/v1/auth/refresh", null, { refresh_token: first.body.refresh_token })).status).toBe(200);
  });
});

/**
 * Accounts and auth end to end (CONTRACT §3, §5): register, login, token checks, refresh
 * rotation and reuse detection, logout, sessions, disabled accounts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { SignJWT } from "jose";
import { expectError, startTestServer, uniq, type Res, type TestServer, type TestUser } from "./harness";

let s: TestServer;

beforeAll(async () => {
  s = await startTestServer({ registration: "open" });
});
afterAll(async () => {
  await s.stop();
});

function newAccount(over: Record<string, unknown> = {}) {
  const tag = uniq();
  return { email: `a${tag}@example.test`, username: `a${tag}`, password: `pw-${tag}-long`, first_name: "Ada", last_name: "Lovelace", ...over };
}

const login = (email: string, password: string, extra: Record<string, unknown> = {}) =>
  s.post("/api/v1/auth/login", null, { email, password, ...extra });

const me = (token: string) => s.get("/api/v1/users/me", token);

/** The decoded JSON of a JWT part (0: header, 1: payload). */
function jwtPart(token: string, i: 0 | 1): any {
  return JSON.parse(Buffer.from(token.split(".")[i]!, "base64url").toString());
}

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");

/** The server's signing key, as stored in the data dir. */
function serverSecret(): Uint8Array {
  return new Uint8Array(Buffer.from(readFileSync(join(s.dataDir, "jwt-secret.key"), "utf8").trim(), "base64url"));
}

function expectTokenRefused(r: Res, code = "INVALID_TOKEN") {
  expectError(r, 401, code);
  expect(r.headers.get("www-authenticate") ?? "").toMatch(/^Bearer .*error="invalid_token"/);
}

function expectAuthResult(body: any) {
  expect(typeof body.access_token).toBe("string");
  expect(body.access_token.split(".")).toHaveLength(3);
  expect(jwtPart(body.access_token, 0).alg).toBe("HS256");
  expect(typeof body.refresh_token).toBe("string");
  expect(body.refresh_token.length).toBeGreaterThanOrEqual(32);
  expect(body.refresh_token).not.toBe(body.access_token);
  expect(body.expires_in).toBe(3600);
  expect(Object.keys(body.user).sort()).toEqual(["first_name", "last_name", "profile_picture_url", "user_id", "username"]);
  expect(Number.isInteger(body.user.user_id)).toBe(true);
  expect(body.user.user_id).toBeGreaterThan(0);
}

describe("register", () => {
  test("201 with tokens and the user summary", async () => {
    const input = newAccount({ device_id: "dev-1", device_type: "mobile", platform: "ios" });
    const r = await s.post("/api/v1/auth/register", null, input);
    expect(r.status).toBe(201);
    expectAuthResult(r.body);
    expect(r.body.user).toMatchObject({ username: input.username, first_name: "Ada", last_name: "Lovelace", profile_picture_url: null });
    // The password (or its hash) never comes back.
    expect(r.text).not.toContain(input.password);
    expect(r.text).not.toContain("argon2");
    expect((await me(r.body.access_token)).body.user_id).toBe(r.body.user.user_id);
    // The token's claims name the user and a session.
    const claims = jwtPart(r.body.access_token, 1);
    expect(claims.sub).toBe(String(r.body.user.user_id));
    expect(claims.exp - claims.iat).toBe(3600);
    expect(typeof claims.sid).toBe("string");
  });

  test("duplicate email → 409 CONFLICT, whatever its case", async () => {
    const first = newAccount();
    expect((await s.post("/api/v1/auth/register", null, first)).status).toBe(201);
    const again = newAccount({ email: first.email.toUpperCase() });
    const e = expectError(await s.post("/api/v1/auth/register", null, again), 409, "CONFLICT");
    expect(e.details.map((d: any) => d.field)).toContain("email");
  });

  test("duplicate username → 409 CONFLICT naming username", async () => {
    const first = newAccount();
    expect((await s.post("/api/v1/auth/register", null, first)).status).toBe(201);
    const e = expectError(await s.post("/api/v1/auth/register", null, newAccount({ username: first.username })), 409, "CONFLICT");
    expect(e.details.map((d: any) => d.field)).toEqual(["username"]);
  });

  test("bad email and short password → 400 VALIDATION_ERROR naming both", async () => {
    const r = await s.post("/api/v1/auth/register", null, newAccount({ email: "not-an-email", password: "short" }));
    const e = expectError(r, 400, "VALIDATION_ERROR");
    const fields = e.details.map((d: any) => d.field).sort();
    expect(fields).toEqual(["email", "password"]);
    for (const d of e.details) expect(typeof d.message).toBe("string");
  });

  test("missing and mistyped fields → 400 naming each", async () => {
    const { username: _u, ...rest } = newAccount({ first_name: 42 });
    const e = expectError(await s.post("/api/v1/auth/register", null, rest), 400, "VALIDATION_ERROR");
    const fields = e.details.map((d: any) => d.field);
    expect(fields).toContain("username");
    expect(fields).toContain("first_name");
  });

  test("bad username → 400 naming username", async () => {
    for (const username of ["ab", "Has Space", "UPPER", "x".repeat(33), "emoji😀x"]) {
      const e = expectError(await s.post("/api/v1/auth/register", null, newAccount({ username })), 400, "VALIDATION_ERROR");
      expect(e.details.map((d: any) => d.field)).toContain("username");
    }
  });

  test("mass assignment: role, disabled and id in the body are ignored", async () => {
    const input = newAccount({ role: "admin", disabled: 1, id: 1, user_id: 1 });
    const r = await s.post("/api/v1/auth/register", null, input);
    expect(r.status).toBe(201);
    const id = r.body.user.user_id;
    expect(id).not.toBe(1);
    const row = s.server.core.users.requireUser(id);
    expect(row.role).toBe("user");
    expect(row.disabled).toBe(0);
    expect(jwtPart(r.body.access_token, 1).role).toBe("user");
    // And it cannot do what an admin can: change someone else's profile.
    const other = await s.register();
    expectError(await s.put(`/api/v1/users/${other.user_id}`, r.body.access_token, { first_name: "Pwned" }), 403, "FORBIDDEN");
  });
});

describe("closed registration (the default)", () => {
  let closed: TestServer;
  beforeAll(async () => {
    closed = await startTestServer();
  });
  afterAll(async () => {
    await closed.stop();
  });

  test("register → 403 FORBIDDEN and no account is made", async () => {
    const input = newAccount();
    expectError(await closed.post("/api/v1/auth/register", null, input), 403, "FORBIDDEN");
    expect(closed.server.core.users.findByEmail(input.email)).toBeNull();
  });

  test("an account made by an operator can still log in", async () => {
    const input = newAccount();
    await closed.server.core.users.createUser(input);
    const r = await closed.post("/api/v1/auth/login", null, { email: input.email, password: input.password });
    expect(r.status).toBe(200);
    expectAuthResult(r.body);
  });
});

describe("login", () => {
  let u: TestUser;
  beforeAll(async () => {
    u = await s.register();
  });

  test("200 with the same body shape as register", async () => {
    const r = await login(u.email, u.password, { device_id: "d", device_type: "web", platform: "linux" });
    expect(r.status).toBe(200);
    expectAuthResult(r.body);
    expect(r.body.user.user_id).toBe(u.user_id);
    expect((await me(r.body.access_token)).status).toBe(200);
  });

  test("email is case-insensitive", async () => {
    expect((await login(u.email.toUpperCase(), u.password)).status).toBe(200);
  });

  test("wrong password → 401 INVALID_CREDENTIALS; an unknown email gets the identical answer", async () => {
    const wrong = expectError(await login(u.email, "wrong-password"), 401, "INVALID_CREDENTIALS");
    const unknown = expectError(await login(`nobody-${uniq()}@example.test`, "wrong-password"), 401, "INVALID_CREDENTIALS");
    expect(unknown.message).toBe(wrong.message);
    expect(unknown.details).toEqual(wrong.details);
  });

  test("an unknown email costs the same password hash as a known one (no timing oracle)", async () => {
    const time = async (email: string) => {
      const t0 = performance.now();
      await login(email, "wrong-password");
      return performance.now() - t0;
    };
    await time(`warm-${uniq()}@example.test`); // the decoy hash is made on first use
    let known = 0;
    let unknown = 0;
    for (let i = 0; i < 3; i++) {
      known += await time(u.email);
      unknown += await time(`nobody-${uniq()}@example.test`);
    }
    // An unknown email that skipped argon2 would answer in a fraction of the time.
    expect(unknown).toBeGreaterThan(known * 0.5);
  });

  test("a password over 256 characters → 400, not a long hash", async () => {
    const e = expectError(await login(u.email, "p".repeat(257)), 400, "VALIDATION_ERROR");
    expect(e.details.map((d: any) => d.field)).toContain("password");
    const r = await s.post("/api/v1/auth/register", null, newAccount({ password: "p".repeat(257) }));
    expect(expectError(r, 400, "VALIDATION_ERROR").details.map((d: any) => d.field)).toContain("password");
  });

  test("a failed login does not tell the client its (absent) token is bad", async () => {
    // error="invalid_token" makes clients throw away and refresh their tokens: it is for bearer tokens only.
    const r = await login(u.email, "wrong-password");
    expectError(r, 401, "INVALID_CREDENTIALS");
    expect(r.headers.get("www-authenticate") ?? "").not.toContain("invalid_token");
  });

  test("missing password → 400 naming it", async () => {
    const e = expectError(await s.post("/api/v1/auth/login", null, { email: u.email }), 400, "VALIDATION_ERROR");
    expect(e.details.map((d: any) => d.field)).toContain("password");
  });
});

describe("access tokens", () => {
  let u: TestUser;
  beforeAll(async () => {
    u = await s.register();
  });

  test("missing token → 401 AUTH_REQUIRED with a Bearer challenge", async () => {
    const r = await me("");
    expectError(r, 401, "AUTH_REQUIRED");
    expect(r.headers.get("www-authenticate") ?? "").toMatch(/^Bearer/);
  });

  test("garbage token → 401 INVALID_TOKEN with error=\"invalid_token\"", async () => {
    expectTokenRefused(await me("garbage"));
    expectTokenRefused(await me("a.b.c"));
    const [h, p, sig] = u.token.split(".") as [string, string, string];
    for (const bad of [`${u.token}.x`, `${h}.${p}`, `${h}..${sig}`, `.${p}.${sig}`, `${b64(null)}.${p}.${sig}`, `${b64([])}.${p}.${sig}`, `${h}.${b64("str")}.${sig}`]) {
      expectTokenRefused(await me(bad));
    }
  });

  test("an Authorization header that is not Bearer → 401 INVALID_TOKEN", async () => {
    expectTokenRefused(await s.get("/api/v1/users/me", null, { authorization: `Basic ${btoa("a:b")}` }));
    expectTokenRefused(await s.get("/api/v1/users/me", null, { authorization: "Bearer" }));
  });

  test("tampered signature or payload → 401 INVALID_TOKEN", async () => {
    const [h, p, sig] = u.token.split(".") as [string, string, string];
    const mid = Math.floor(sig.length / 2);
    const flipped = sig.slice(0, mid) + (sig[mid] === "A" ? "B" : "A") + sig.slice(mid + 1);
    expectTokenRefused(await me(`${h}.${p}.${flipped}`));
    const admin = b64({ ...jwtPart(u.token, 1), role: "admin" });
    expectTokenRefused(await me(`${h}.${admin}.${sig}`));
  });

  for (const alg of ["none", "None", "NONE", "nOnE"]) {
    test(`alg=${alg} forged token → 401 INVALID_TOKEN`, async () => {
      const payload = b64(jwtPart(u.token, 1)); // real claims, real session: only the signature is missing
      const header = b64({ alg, typ: "JWT" });
      expectTokenRefused(await me(`${header}.${payload}.`));
      expectTokenRefused(await me(`${header}.${payload}`));
    });
  }

  test("a token signed with another secret or algorithm → 401 INVALID_TOKEN", async () => {
    const claims = jwtPart(u.token, 1);
    const other = await new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).sign(crypto.getRandomValues(new Uint8Array(64)));
    expectTokenRefused(await me(other));
    const hs512 = await new SignJWT(claims).setProtectedHeader({ alg: "HS512" }).sign(serverSecret());
    expectTokenRefused(await me(hs512));
  });

  test("expired token (valid signature) → 401 TOKEN_EXPIRED", async () => {
    const claims = jwtPart(u.token, 1);
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({ ...claims, iat: now - 7200, exp: now - 3600 }).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(serverSecret());
    const r = await me(expired);
    expectTokenRefused(r, "TOKEN_EXPIRED");
  });

  test("expired token with a bad signature → INVALID_TOKEN, not TOKEN_EXPIRED", async () => {
    const now = Math.floor(Date.now() / 1000);
    const forged = await new SignJWT({ ...jwtPart(u.token, 1), exp: now - 10 }).setProtectedHeader({ alg: "HS256" }).sign(new Uint8Array(64));
    expectTokenRefused(await me(forged));
  });

  test("a well-signed token of the wrong kind or for a session that does not exist → 401 INVALID_TOKEN", async () => {
    const claims = jwtPart(u.token, 1);
    const wrongKind = await new SignJWT({ ...claims, typ: "refresh" }).setProtectedHeader({ alg: "HS256" }).sign(serverSecret());
    expectTokenRefused(await me(wrongKind));
    const noSession = await new SignJWT({ ...claims, sid: crypto.randomUUID() }).setProtectedHeader({ alg: "HS256" }).sign(serverSecret());
    expectTokenRefused(await me(noSession));
    // The session exists but belongs to someone else.
    const other = await s.register();
    const stolenSid = await new SignJWT({ ...jwtPart(other.token, 1), sub: String(u.user_id) }).setProtectedHeader({ alg: "HS256" }).sign(serverSecret());
    expectTokenRefused(await me(stolenSid));
  });

  test("well-signed tokens with broken time claims → 401 INVALID_TOKEN", async () => {
    const { exp: _e, iat: _i, ...claims } = jwtPart(u.token, 1);
    const now = Math.floor(Date.now() / 1000);
    const sign = (extra: Record<string, unknown>) => new SignJWT({ ...claims, ...extra }).setProtectedHeader({ alg: "HS256" }).sign(serverSecret());
    // No exp: such a token would never die.
    expectTokenRefused(await me(await sign({ iat: now })));
    expectTokenRefused(await me(await sign({ iat: now, exp: String(now + 600) })));
    // Not valid before some time in the future.
    expectTokenRefused(await me(await sign({ iat: now, exp: now + 600, nbf: now + 300 })));
    // The control: the same claims with a sane exp are accepted.
    expect((await me(await sign({ iat: now, exp: now + 600 }))).status).toBe(200);
  });

  test("a refresh token used as an access token → 401 INVALID_TOKEN", async () => {
    expectTokenRefused(await me(u.refresh_token));
  });
});

describe("refresh", () => {
  test("rotates: a new pair, and the old refresh token is refused", async () => {
    const u = await s.register();
    const r = await s.post("/api/v1/auth/refresh", null, { refresh_token: u.refresh_token });
    expect(r.status).toBe(200);
    expectAuthResult(r.body);
    expect(r.body.user.user_id).toBe(u.user_id);
    expect(r.body.refresh_token).not.toBe(u.refresh_token);
    expect(jwtPart(r.body.access_token, 1).sid).toBe(jwtPart(u.token, 1).sid);
    expect((await me(r.body.access_token)).status).toBe(200);
    // The next rotation works too.
    const r2 = await s.post("/api/v1/auth/refresh", null, { refresh_token: r.body.refresh_token });
    expect(r2.status).toBe(200);
  });

  test("reusing a refresh token revokes the whole session, new tokens included", async () => {
    const u = await s.register();
    const fresh = await s.post("/api/v1/auth/refresh", null, { refresh_token: u.refresh_token });
    expect(fresh.status).toBe(200);
    expectTokenRefused(await s.post("/api/v1/auth/refresh", null, { refresh_token: u.refresh_token }));
    expectTokenRefused(await me(fresh.body.access_token));
    expectTokenRefused(await me(u.token));
    expectTokenRefused(await s.post("/api/v1/auth/refresh", null, { refresh_token: fresh.body.refresh_token }));
    // Other sessions of the same user live on.
    const other = await login(u.email, u.password);
    expect((await me(other.body.access_token)).status).toBe(200);
  });

  test("a session past its end cannot be refreshed", async () => {
    const short = await startTestServer({ registration: "open", refreshTokenTtl: 1 });
    try {
      const u = await short.register();
      await Bun.sleep(1100);
      expectTokenRefused(await short.post("/api/v1/auth/refresh", null, { refresh_token: u.refresh_token }));
      expect((await short.get("/api/v1/auth/sessions", (await short.post("/api/v1/auth/login", null, { email: u.email, password: u.password })).body.access_token)).body.sessions).toHaveLength(1);
    } finally {
      await short.stop();
    }
  });

  test("an unknown refresh token → 401 INVALID_TOKEN; a missing one → 400 naming it", async () => {
    expectTokenRefused(await s.post("/api/v1/auth/refresh", null, { refresh_token: "rt_nope" }));
    const u = await s.register();
    expectTokenRefused(await s.post("/api/v1/auth/refresh", null, { refresh_token: u.token }));
    const e = expectError(await s.post("/api/v1/auth/refresh", null, {}), 400, "VALIDATION_ERROR");
    expect(e.details.map((d: any) => d.field)).toContain("refresh_token");
  });
});

describe("logout and sessions", () => {
  test("logout kills the access token at once, and its refresh token", async () => {
    const u = await s.register();
    const r = await s.post("/api/v1/auth/logout", u.token);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ success: true });
    expectTokenRefused(await me(u.token));
    expectTokenRefused(await s.post("/api/v1/auth/refresh", null, { refresh_token: u.refresh_token }));
    expectError(await s.post("/api/v1/auth/logout", null), 401, "AUTH_REQUIRED");
  });

  test("the session list needs a token", async () => {
    expectError(await s.get("/api/v1/auth/sessions"), 401, "AUTH_REQUIRED");
    expectError(await s.del(`/api/v1/auth/sessions/${crypto.randomUUID()}`), 401, "AUTH_REQUIRED");
  });

  test("the session list: shape, and `current` follows the token", async () => {
    const u = await s.register();
    const second = await login(u.email, u.password, { device_id: "phone-7", device_type: "mobile", platform: "android" });
    expect(second.status).toBe(200);
    const fromFirst = await s.get("/api/v1/auth/sessions", u.token);
    expect(fromFirst.status).toBe(200);
    expect(Object.keys(fromFirst.body)).toEqual(["sessions"]);
    const list = fromFirst.body.sessions;
    expect(list).toHaveLength(2);
    for (const x of list) {
      expect(Object.keys(x).sort()).toEqual(["created_at", "current", "device_id", "device_type", "last_used_at", "platform", "session_id"]);
      expect(typeof x.session_id).toBe("string");
      expect(x.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$/);
      expect(x.last_used_at).toMatch(/Z$/);
      expect(typeof x.current).toBe("boolean");
    }
    const firstSid = jwtPart(u.token, 1).sid;
    const secondSid = jwtPart(second.body.access_token, 1).sid;
    expect(list.find((x: any) => x.current).session_id).toBe(firstSid);
    const phone = list.find((x: any) => x.session_id === secondSid);
    expect(phone).toMatchObject({ device_id: "phone-7", device_type: "mobile", platform: "android", current: false });

    const fromSecond = (await s.get("/api/v1/auth/sessions", second.body.access_token)).body.sessions;
    expect(fromSecond.find((x: any) => x.current).session_id).toBe(secondSid);
    expect(fromSecond.filter((x: any) => x.current)).toHaveLength(1);
  });

  test("DELETE /auth/sessions/{id} ends only that session; someone else's → 404", async () => {
    const u = await s.register();
    const second = await login(u.email, u.password);
    const secondSid = jwtPart(second.body.access_token, 1).sid;
    const intruder = await s.register();
    expectError(await s.del(`/api/v1/auth/sessions/${secondSid}`, intruder.token), 404, "NOT_FOUND");
    expect((await me(second.body.access_token)).status).toBe(200);

    const r = await s.del(`/api/v1/auth/sessions/${secondSid}`, u.token);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ success: true });
    expectTokenRefused(await me(second.body.access_token));
    expectTokenRefused(await s.post("/api/v1/auth/refresh", null, { refresh_token: second.body.refresh_token }));
    expect((await me(u.token)).status).toBe(200);
    const left = (await s.get("/api/v1/auth/sessions", u.token)).body.sessions;
    expect(left.map((x: any) => x.session_id)).toEqual([jwtPart(u.token, 1).sid]);
    // Already ended, or never existed: 404.
    expectError(await s.del(`/api/v1/auth/sessions/${secondSid}`, u.token), 404, "NOT_FOUND");
    expectError(await s.del(`/api/v1/auth/sessions/${crypto.randomUUID()}`, u.token), 404, "NOT_FOUND");
  });
});

describe("roles", () => {
  test("promotion and demotion take effect on existing tokens at once", async () => {
    const u = await s.register();
    const target = await s.register();
    const change = () => s.put(`/api/v1/users/${target.user_id}`, u.token, { status_message: "by admin" });
    expectError(await change(), 403, "FORBIDDEN");
    s.server.core.users.setRole(u.user_id, "admin");
    expect((await change()).status).toBe(200);
    s.server.core.users.setRole(u.user_id, "user");
    expectError(await change(), 403, "FORBIDDEN");
  });
});

describe("disabled accounts", () => {
  test("disabling kills tokens at once; login → 403 ACCOUNT_DISABLED; refresh refused; enabling lets them back in", async () => {
    const u = await s.register();
    expect((await me(u.token)).status).toBe(200);
    s.server.core.users.setDisabled(u.user_id, true);

    expectTokenRefused(await me(u.token));
    expectError(await login(u.email, u.password), 403, "ACCOUNT_DISABLED");
    // The wrong password tells nothing about the account's state.
    expectError(await login(u.email, "wrong-password"), 401, "INVALID_CREDENTIALS");
    expectTokenRefused(await s.post("/api/v1/auth/refresh", null, { refresh_token: u.refresh_token }));

    s.server.core.users.setDisabled(u.user_id, false);
    // Old sessions stay dead; a new login works.
    expectTokenRefused(await me(u.token));
    expectTokenRefused(await s.post("/api/v1/auth/refresh", null, { refresh_token: u.refresh_token }));
    const again = await login(u.email, u.password);
    expect(again.status).toBe(200);
    expect((await me(again.body.access_token)).status).toBe(200);
  });
});

/**
 * Facebook and OpenID Connect sign-in (CONTRACT §5) against local fakes that speak the real
 * protocols: the Graph API's debug_token and /me, and an OIDC issuer with discovery, JWKS and
 * RS256 id_tokens.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { expectError, startTestServer, uniq, type TestServer } from "./harness";
import { startFakeFacebook, type FakeFacebook } from "./fakes/facebook";
import { startFakeOidc, type FakeOidc } from "./fakes/oidc";

const CLIENT_ID = "confab-test-client";

let fb: FakeFacebook;
let idp: FakeOidc;
let s: TestServer;

beforeAll(async () => {
  fb = startFakeFacebook();
  idp = await startFakeOidc();
  s = await startTestServer({ registration: "open", facebook: fb.config, oidc: { acme: { issuer: idp.issuer, clientId: CLIENT_ID } } });
});
afterAll(async () => {
  await s.stop();
  fb.stop();
  idp.stop();
});

const fbLogin = (server: TestServer, token: string, extra: Record<string, unknown> = {}) =>
  server.post("/api/v1/auth/facebook", null, { facebook_access_token: token, device_id: "fb-dev", device_type: "web", ...extra });

const oidcLogin = (idToken: string, provider = "acme") => s.post(`/api/v1/auth/oidc/${provider}`, null, { id_token: idToken });

function expectProviderLogin(body: any, isNew: boolean) {
  expect(typeof body.access_token).toBe("string");
  expect(typeof body.refresh_token).toBe("string");
  expect(body.expires_in).toBe(3600);
  expect(body.is_new_user).toBe(isNew);
  expect(Number.isInteger(body.user.user_id)).toBe(true);
  expect(body.user.username).toMatch(/^[a-z0-9_.]{3,32}$/);
}

function fbUser(over: Record<string, string> = {}) {
  const id = String(10_000_000 + Math.floor(Math.random() * 89_999_999));
  return { id, email: `fb${uniq()}@example.test`, first_name: "Fiona", last_name: "Book", ...over };
}

describe("Facebook", () => {
  test("a new Facebook user → 201 is_new_user; the same user again → 200, same account", async () => {
    const person = fbUser();
    const first = await fbLogin(s, fb.issue(person));
    expect(first.status).toBe(201);
    expectProviderLogin(first.body, true);
    expect(first.body.user).toMatchObject({ first_name: "Fiona", last_name: "Book" });
    // debug_token was asked with our app token, and /me with the user's token.
    const debug = fb.requests.findLast((r) => r.path === "/debug_token")!;
    expect(debug.query.get("access_token")).toBe(`${fb.appId}|${fb.appSecret}`);
    expect(fb.requests.findLast((r) => r.path === "/me")!.query.get("fields")).toBe("id,email,first_name,last_name");

    const second = await fbLogin(s, fb.issue(person));
    expect(second.status).toBe(200);
    expectProviderLogin(second.body, false);
    expect(second.body.user.user_id).toBe(first.body.user.user_id);
    const profile = await s.get("/api/v1/users/me", second.body.access_token);
    expect(profile.status).toBe(200);
    expect(profile.body.user_id).toBe(first.body.user.user_id);
  });

  test("an account made by Facebook has no password: password login fails like any wrong password", async () => {
    const person = fbUser();
    expect((await fbLogin(s, fb.issue(person))).status).toBe(201);
    for (const password of ["", "anything-at-all", "null"]) {
      const r = await s.post("/api/v1/auth/login", null, { email: person.email, password });
      expectError(r, 401, "INVALID_CREDENTIALS");
    }
  });

  test("a Facebook user without an email still gets an account", async () => {
    const { email: _e, ...person } = fbUser();
    const r = await fbLogin(s, fb.issue(person));
    expect(r.status).toBe(201);
    expectProviderLogin(r.body, true);
  });

  test("an invalid token → 401 INVALID_TOKEN", async () => {
    expectError(await fbLogin(s, "EAAnot-a-real-token"), 401, "INVALID_TOKEN");
    expectError(await fbLogin(s, fb.issue(fbUser(), { valid: false })), 401, "INVALID_TOKEN");
  });

  test("a token minted for another app → 401, and no account is made", async () => {
    const person = fbUser();
    expectError(await fbLogin(s, fb.issue(person, { appId: "999999" })), 401, "INVALID_TOKEN");
    expect(s.server.core.users.findByEmail(person.email)).toBeNull();
  });

  test("missing facebook_access_token → 400 naming the field", async () => {
    const e = expectError(await s.post("/api/v1/auth/facebook", null, { device_id: "x" }), 400, "VALIDATION_ERROR");
    expect(e.details.map((d: any) => d.field)).toContain("facebook_access_token");
  });

  test("an email already registered here → 409 CONFLICT, never a takeover of that account", async () => {
    const owner = await s.register();
    const r = await fbLogin(s, fb.issue(fbUser({ email: owner.email })));
    expectError(r, 409, "CONFLICT");
    expect(r.text).not.toContain("access_token");
  });

  test("a disabled account → 403 ACCOUNT_DISABLED", async () => {
    const person = fbUser();
    const first = await fbLogin(s, fb.issue(person));
    s.server.core.users.setDisabled(first.body.user.user_id, true);
    expectError(await fbLogin(s, fb.issue(person)), 403, "ACCOUNT_DISABLED");
  });

  test("Graph API down → 503 SERVICE_UNAVAILABLE with Retry-After", async () => {
    fb.failWith = 500;
    try {
      const r = await fbLogin(s, fb.issue(fbUser()));
      expectError(r, 503, "SERVICE_UNAVAILABLE");
      expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
    } finally {
      fb.failWith = null;
    }
  });

  test("the first logins of one new user arriving together make one account", async () => {
    const person = fbUser();
    const rs = await Promise.all([0, 1, 2].map(() => fbLogin(s, fb.issue(person))));
    expect(rs.map((r) => r.status).sort()).toEqual([200, 200, 201]);
    expect(new Set(rs.map((r) => r.body.user.user_id)).size).toBe(1);
  });

  describe("not configured", () => {
    let plain: TestServer;
    beforeAll(async () => {
      plain = await startTestServer({ registration: "open" });
    });
    afterAll(async () => {
      await plain.stop();
    });

    test("no app id → the endpoint answers 404", async () => {
      expectError(await fbLogin(plain, fb.issue(fbUser())), 404, "NOT_FOUND");
    });
  });

  describe("closed registration", () => {
    let closed: TestServer;
    beforeAll(async () => {
      closed = await startTestServer({ facebook: fb.config });
    });
    afterAll(async () => {
      await closed.stop();
    });

    test("a new Facebook user → 403 FORBIDDEN, no account made", async () => {
      const person = fbUser();
      expectError(await fbLogin(closed, fb.issue(person)), 403, "FORBIDDEN");
      expect(closed.server.core.users.findByEmail(person.email)).toBeNull();
    });

    test("an account already linked to Facebook still logs in: that is not a registration", async () => {
      const person = fbUser();
      const user = await closed.server.core.users.createUser({ email: person.email, username: `fb${uniq()}`, first_name: "F", last_name: "B", password: null });
      // Linked earlier (e.g. while registration was open).
      closed.server.core.db.query("INSERT INTO identities (provider, subject, user_id, created_at) VALUES ('facebook', ?, ?, ?)").run(person.id, user.id, Date.now());
      const r = await fbLogin(closed, fb.issue(person));
      expect(r.status).toBe(200);
      expectProviderLogin(r.body, false);
      expect(r.body.user.user_id).toBe(user.id);
    });
  });
});

describe("OpenID Connect", () => {
  const claims = (over: Record<string, unknown> = {}) => ({
    sub: `sub-${uniq()}`,
    aud: CLIENT_ID,
    given_name: "Olive",
    family_name: "Idc",
    email: `o${uniq()}@example.test`,
    email_verified: true,
    ...over,
  });

  test("a valid id_token logs in: 201 for a new user, then 200 with the same account", async () => {
    const c = claims();
    const first = await oidcLogin(await idp.sign(c));
    expect(first.status).toBe(201);
    expectProviderLogin(first.body, true);
    expect(first.body.user).toMatchObject({ first_name: "Olive", last_name: "Idc" });
    expect(idp.hits).toContain("/.well-known/openid-configuration");
    expect(idp.hits).toContain("/jwks");

    const again = await oidcLogin(await idp.sign(c));
    expect(again.status).toBe(200);
    expectProviderLogin(again.body, false);
    expect(again.body.user.user_id).toBe(first.body.user.user_id);
    expect((await s.get("/api/v1/users/me", again.body.access_token)).status).toBe(200);
    // The verified email became the account's email.
    expect(s.server.core.users.findByEmail(c.email)?.id).toBe(first.body.user.user_id);
  });

  test("discovery is fetched once, not on every login", async () => {
    const before = idp.hits.filter((h) => h.startsWith("/.well-known")).length;
    for (let i = 0; i < 3; i++) expect((await oidcLogin(await idp.sign(claims()))).status).toBe(201);
    expect(idp.hits.filter((h) => h.startsWith("/.well-known")).length).toBe(before);
  });

  test("an id_token without a subject → 401", async () => {
    const { sub: _s, ...noSub } = claims();
    expectError(await oidcLogin(await idp.sign(noSub)), 401, "INVALID_TOKEN");
  });

  test("an audience other than our client id → 401", async () => {
    expectError(await oidcLogin(await idp.sign(claims({ aud: "someone-else" }))), 401, "INVALID_TOKEN");
  });

  test("another issuer → 401", async () => {
    expectError(await oidcLogin(await idp.sign(claims(), { issuer: "https://evil.example" })), 401, "INVALID_TOKEN");
  });

  test("expired → 401", async () => {
    expectError(await oidcLogin(await idp.sign(claims(), { expiresIn: -600 })), 401, "INVALID_TOKEN");
  });

  test("signed with a key the issuer never published → 401", async () => {
    expectError(await oidcLogin(await idp.sign(claims(), { foreignKey: true })), 401, "INVALID_TOKEN");
  });

  test("unsigned (alg none) or garbage → 401", async () => {
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const now = Math.floor(Date.now() / 1000);
    const none = `${b64({ alg: "none", typ: "JWT" })}.${b64({ ...claims(), iss: idp.issuer, iat: now, exp: now + 600 })}.`;
    expectError(await oidcLogin(none), 401, "INVALID_TOKEN");
    expectError(await oidcLogin("not.a.jwt"), 401, "INVALID_TOKEN");
  });

  test("an unverified email is not used; a verified one already registered → 409 CONFLICT", async () => {
    const owner = await s.register();
    expectError(await oidcLogin(await idp.sign(claims({ email: owner.email }))), 409, "CONFLICT");
    const r = await oidcLogin(await idp.sign(claims({ email: owner.email, email_verified: false })));
    expect(r.status).toBe(201);
    expect(r.body.user.user_id).not.toBe(owner.user_id);
  });

  test("an unknown provider → 404 NOT_FOUND", async () => {
    expectError(await oidcLogin(await idp.sign(claims()), "nope"), 404, "NOT_FOUND");
  });

  test("missing id_token → 400 naming it", async () => {
    const e = expectError(await s.post("/api/v1/auth/oidc/acme", null, {}), 400, "VALIDATION_ERROR");
    expect(e.details.map((d: any) => d.field)).toContain("id_token");
  });

  test("an issuer that cannot be reached → 503 SERVICE_UNAVAILABLE", async () => {
    const gone = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
    const issuer = `http://127.0.0.1:${gone.port}`;
    gone.stop(true);
    const down = await startTestServer({ registration: "open", oidc: { down: { issuer, clientId: CLIENT_ID } } });
    try {
      expectError(await down.post("/api/v1/auth/oidc/down", null, { id_token: await idp.sign(claims()) }), 503, "SERVICE_UNAVAILABLE");
    } finally {
      await down.stop();
    }
  });
});

/**
 * The admin web UI in a real browser: Debian's chromium (/usr/bin/chromium, installed by
 * `npm test` when missing) driven by playwright-core, against a real server on 127.0.0.1.
 * An operator signs in with the keyboard, reads the dashboard, creates a user, revokes their
 * session and device, promotes, disables and re-enables them, resets their password and reads
 * the settings. Every effect is checked over the API: a disabled user's or revoked session's
 * token must stop working at once. Each page is screenshotted at laptop and phone widths into
 * test-output/screenshots/ for review; the page must make no request beyond its own origin and
 * must run under its strict Content-Security-Policy.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { startTestServer, tempDir, uniq, type TestServer } from "./harness";
import { conversationWith, login, makeUser, tokenStatus, type Account, type Session } from "./admin-fixtures";
import { ROOT } from "./process";

const CHROMIUM = "/usr/bin/chromium";
const SHOTS = join(ROOT, "test-output", "screenshots");
const LAPTOP = { width: 1366, height: 860 };
const PHONE = { width: 390, height: 844 };
/** Each step's time limit: a browser step waits at most 10 s for anything (setDefaultTimeout). */
const STEP = 30_000;
const FACEBOOK_SECRET = `fb-secret-${uniq()}`;
/** What index.html declares; nothing inline, nothing from elsewhere. */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'";

let s: TestServer;
let ctx: BrowserContext | undefined;
let page: Page;
let profileDir: string;
let admin: Account;
let adminApi: Session;
/** Every URL the browser asked for, and everything the page complained about. */
const requested: string[] = [];
const pageErrors: string[] = [];

beforeAll(async () => {
  // A missing browser is a failure of the run, never a silent skip.
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: the admin UI browser tests need Debian's chromium (apt-get install -y chromium; npm test installs it when run as root)`);
  }
  mkdirSync(SHOTS, { recursive: true });
  s = await startTestServer({
    facebook: { graphUrl: "http://127.0.0.1:9", appId: "1234567890", appSecret: FACEBOOK_SECRET },
  });
  admin = await makeUser(s, { role: "admin", prefix: "root", first_name: "Olga", last_name: "Operator" });
  adminApi = await login(s, admin, "test-runner");
  profileDir = tempDir("confab-chromium-");
  ctx = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: LAPTOP,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  ctx.on("request", (r) => void requested.push(r.url()));
  page = ctx.pages()[0] ?? (await ctx.newPage());
  page.setDefaultTimeout(10_000);
  page.on("pageerror", (e) => void pageErrors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") pageErrors.push(`console: ${m.text()}`);
  });
}, 60_000);

afterAll(async () => {
  // Each step on its own: a failure in one still lets the others clean up.
  await ctx?.close().catch(() => {});
  await s?.stop().catch(() => {});
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
});

const adminUrl = (hash = "") => `${s.url}/admin${hash}`;

async function shot(name: string) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** Navigate inside the app and wait for the page's heading. */
async function open(hash: string, heading: string | RegExp) {
  await page.evaluate((h) => (location.hash = h), hash);
  await page.getByRole("heading", { level: 1, name: heading }).waitFor();
}

/** The page body is no wider than the window: nothing scrolls sideways but inner tables. */
async function expectNoHorizontalScroll(what: string) {
  const m = await page.evaluate(() => ({ doc: document.documentElement.scrollWidth, body: document.body.scrollWidth, win: document.documentElement.clientWidth }));
  expect(m.doc, `${what}: page ${m.doc}px wide in a ${m.win}px window`).toBeLessThanOrEqual(m.win);
  expect(m.body, `${what}: body ${m.body}px wide in a ${m.win}px window`).toBeLessThanOrEqual(m.win);
}

/** The status line a user-page action leaves. */
async function expectStatus(text: RegExp) {
  await page.locator("main [role=status], main [role=alert]").filter({ hasText: text }).first().waitFor();
}

/** Sign in with the keyboard only: Tab into the form, type, Enter. */
async function signInWithKeyboard(email: string, password: string) {
  await page.locator("#login-title").waitFor();
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  for (let i = 0; i < 10; i++) {
    if ((await page.evaluate(() => document.activeElement?.id)) === "email") break;
    await page.keyboard.press("Tab");
  }
  expect(await page.evaluate(() => document.activeElement?.id)).toBe("email");
  await page.keyboard.type(email);
  await page.keyboard.press("Tab");
  expect(await page.evaluate(() => document.activeElement?.id)).toBe("password");
  await page.keyboard.type(password);
  await page.keyboard.press("Enter");
}

describe("admin UI in chromium", () => {
  test("the sign-in page is served with a strict CSP that the browser enforces", async () => {
    const res = await page.goto(adminUrl());
    expect(res?.status()).toBe(200);
    await page.locator("#login-title").waitFor();
    const declared = await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute("content");
    expect(declared?.replace(/\s+/g, " ").trim()).toBe(CSP);
    // No inline code anywhere in the served page, so the policy costs nothing.
    const html = await (await fetch(adminUrl())).text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
    // The browser refuses an injected inline script, as it would an XSS payload.
    const verdict = await page.evaluate(
      () =>
        new Promise<string>((resolve) => {
          document.addEventListener("securitypolicyviolation", (e) => resolve(`blocked by ${e.effectiveDirective}`), { once: true });
          const el = document.createElement("script");
          el.textContent = "window.__injected = true";
          document.head.append(el);
          setTimeout(() => resolve((window as any).__injected ? "ran" : "silently not run"), 2000);
        }),
    );
    expect(verdict).toBe("blocked by script-src-elem");
    pageErrors.length = 0; // the violation above is logged on purpose
    await shot("laptop-login");
  }, STEP);

  test("wrong password and non-admin accounts are refused on the form", async () => {
    await signInWithKeyboard(admin.email, "not-the-password");
    await page.getByRole("alert").filter({ hasText: /Invalid|credentials|password/i }).waitFor();
    const plain = await makeUser(s, { prefix: "plain", first_name: "Paul", last_name: "Plain" });
    await page.fill("#email", plain.email);
    await page.fill("#password", plain.password);
    await page.click("button[type=submit]");
    await page.getByRole("alert").filter({ hasText: "This account is not an administrator" }).waitFor();
    // The refused sign-in leaves no session behind, on the server or in the browser.
    const detail = await s.get(`/api/v1/admin/users/${plain.user_id}`, adminApi.token);
    expect(detail.body.sessions).toEqual([]);
    expect(await page.evaluate(() => sessionStorage.length + localStorage.length)).toBe(0);
  }, STEP);

  test("sign in with the keyboard; the dashboard's figures are the API's", async () => {
    // Something to count: two more users, a conversation with three messages today.
    const alice = await makeUser(s, { prefix: "alice", first_name: "Alice", last_name: "Archer" });
    const bob = await makeUser(s, { prefix: "bob", first_name: "Bob", last_name: "Baker" });
    const aliceSession = await login(s, alice);
    await conversationWith(s, aliceSession, [bob.user_id], 3);

    await page.goto(adminUrl());
    await signInWithKeyboard(admin.email, admin.password);
    await page.getByRole("heading", { level: 1, name: "Dashboard" }).waitFor();
    // Tokens: the access token only in memory, the refresh token only for this tab.
    expect(await page.evaluate(() => localStorage.length)).toBe(0);
    expect(await page.evaluate(() => Object.keys(sessionStorage))).toEqual(["confab.admin.refresh"]);
    expect((await ctx!.cookies()).length).toBe(0);

    const api = (await s.get("/api/v1/admin/stats", adminApi.token)).body;
    const tiles = await page.locator(".tile").evaluateAll((els) =>
      Object.fromEntries(els.map((el) => [el.querySelector(".tile-label")!.textContent!, { value: el.querySelector(".tile-value")!.textContent!, sub: el.querySelector(".tile-sub")?.textContent ?? "" }])),
    );
    expect(tiles["Users"]!.value).toBe(String(api.users.total));
    expect(api.users.total).toBe(4); // root, plain, alice and bob
    expect(tiles["Users"]!.sub).toBe(`1 admin · 0 disabled`);
    expect(tiles["Conversations"]!.value).toBe(String(api.conversations));
    expect(tiles["Messages today"]!.value).toBe(String(api.messages.today));
    expect(api.messages.today).toBe(3);
    expect(tiles["Messages today"]!.sub).toBe(`${api.messages.total} in all`);
    expect(tiles["Live connections"]!.value).toBe(String(api.live.connections));
    expect(tiles["Push queue"]!.value).toBe(String(api.push.queued));
    expect(tiles["Push queue"]!.sub).toBe(`${api.push.failed} failed`);
    expect(tiles["Push devices"]!.value).toBe(String(api.devices));
    expect(tiles["Sessions"]!.value).toBe(String(api.sessions));
    expect(tiles["Database"]!.value).toMatch(/^\d+(\.\d)? (B|KiB|MiB|GiB)$/);
    // The chart: 30 daily bars, today's carrying today's count.
    const bars = await page.locator("svg.chart rect").count();
    expect(bars).toBe(30);
    const today = new Date().toISOString().slice(0, 10);
    expect(await page.locator("svg.chart rect title").last().textContent()).toBe(`${today}: 3 messages`);
    await expectNoHorizontalScroll("dashboard");
    await shot("laptop-dashboard");
  }, STEP);

  let created: Account;
  test("create a user on the users page, then find them by search", async () => {
    await page.getByRole("link", { name: "Users" }).click();
    await page.getByRole("heading", { level: 1, name: "Users" }).waitFor();
    const tag = uniq();
    created = { user_id: 0, email: `new${tag}@example.test`, username: `new${tag}`, password: `pw-${tag}-secret`, first_name: "Nina", last_name: "Newcomer" };
    await page.fill("#new-email", created.email);
    await page.fill("#new-username", created.username);
    await page.fill("#new-first", created.first_name);
    await page.fill("#new-last", created.last_name);
    await page.fill("#new-password", created.password);
    await page.getByRole("button", { name: "Create user" }).click();
    await page.getByRole("status").filter({ hasText: `Created ${created.username}` }).waitFor();
    await page.getByRole("link", { name: created.username }).waitFor();

    const list = await s.get(`/api/v1/admin/users?q=${created.username}`, adminApi.token);
    expect(list.body.users).toHaveLength(1);
    expect(list.body.users[0]).toMatchObject({ email: created.email, role: "user", disabled: false, first_name: "Nina" });
    created.user_id = list.body.users[0].user_id;

    // A duplicate is refused with the server's reason on the form.
    await page.fill("#new-email", created.email);
    await page.fill("#new-username", `other${tag}`);
    await page.fill("#new-first", "X");
    await page.fill("#new-last", "Y");
    await page.fill("#new-password", created.password);
    await page.getByRole("button", { name: "Create user" }).click();
    await page.getByRole("alert").filter({ hasText: /already registered/ }).waitFor();

    // Search narrows the table to the prefix typed.
    await page.fill("#user-search", "new");
    await page.getByRole("status").filter({ hasText: /^1 user matching “new”$/ }).waitFor();
    expect(await page.locator("tbody tr").count()).toBe(1);
    await page.fill("#user-search", "");
    await page.getByRole("status").filter({ hasText: /^5 users$/ }).waitFor();
    await expectNoHorizontalScroll("users");
    await shot("laptop-users");
  }, STEP);

  let phone: Session;
  let laptop: Session;
  test("a user's sessions and devices are listed; revoking kills that session's token only", async () => {
    phone = await login(s, created, "phone-of-nina");
    laptop = await login(s, created, "laptop-of-nina");
    const device = await s.post("/api/v1/notifications/devices", phone.token, { device_id: "nina-iphone", platform: "ios", device_token: "a1b2c3d4e5f6a7b8c9d0", app_version: "2.1.0" });
    expect(device.status, device.text).toBe(201);

    await page.fill("#user-search", created.username);
    await page.getByRole("status").filter({ hasText: /^1 user matching/ }).waitFor();
    await page.getByRole("link", { name: created.username }).click();
    await page.getByRole("heading", { level: 1, name: /Nina Newcomer/ }).waitFor();
    // Arriving by keyboard-or-click, focus moves to the new page's heading.
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("user-title");
    const sessionRows = page.locator(".card", { has: page.getByRole("heading", { name: "Sessions" }) }).locator("tbody tr");
    expect(await sessionRows.count()).toBe(2);
    const deviceRows = page.locator(".card", { has: page.getByRole("heading", { name: "Devices" }) }).locator("tbody tr");
    expect(await deviceRows.count()).toBe(1);
    expect(await deviceRows.first().textContent()).toContain("2.1.0");
    await expectNoHorizontalScroll("user detail");
    await shot("laptop-user");

    await deviceRows.first().getByRole("button", { name: "Revoke" }).click();
    await expectStatus(/Device revoked/);
    expect((await s.get("/api/v1/notifications/devices", laptop.token)).body.devices).toEqual([]);

    await sessionRows.filter({ hasText: "phone-of-nina" }).getByRole("button", { name: "Revoke" }).click();
    await expectStatus(/Session revoked/);
    expect(await sessionRows.count()).toBe(1);
    expect(await tokenStatus(s, phone.token)).toBe(401);
    expect(await tokenStatus(s, laptop.token)).toBe(200);
  }, STEP);

  test("promote, then disable (the user's token dies at once) and enable again", async () => {
    await page.getByRole("button", { name: "Promote to admin" }).click();
    await expectStatus(/Promoted to administrator/);
    await page.getByRole("button", { name: "Demote to user" }).waitFor();
    expect((await s.get(`/api/v1/admin/users/${created.user_id}`, adminApi.token)).body.role).toBe("admin");

    await page.getByRole("button", { name: "Disable" }).click();
    await expectStatus(/Disabled/);
    expect(await tokenStatus(s, laptop.token)).toBe(401);
    const refused = await s.post("/api/v1/auth/login", null, { email: created.email, password: created.password });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe("ACCOUNT_DISABLED");
    expect(await page.locator(".card dl").textContent()).toContain("disabled");

    await page.getByRole("button", { name: "Enable" }).click();
    await expectStatus(/Enabled/);
    expect((await s.post("/api/v1/auth/login", null, { email: created.email, password: created.password })).status).toBe(200);
  }, STEP);

  test("reset the password with the keyboard: old sessions end, the new password works", async () => {
    const before = await login(s, created, "tablet-of-nina");
    const newPassword = `new-pw-${uniq()}`;
    await page.focus("#reset-password");
    await page.keyboard.type(newPassword);
    await page.keyboard.press("Enter");
    await expectStatus(/Password changed/);
    expect(await tokenStatus(s, before.token)).toBe(401);
    expect((await s.post("/api/v1/auth/login", null, { email: created.email, password: created.password })).status).toBe(401);
    expect((await s.post("/api/v1/auth/login", null, { email: created.email, password: newPassword })).status).toBe(200);
    await shot("laptop-user-after-actions");
  }, STEP);

  test("an administrator cannot lock themself out from the UI", async () => {
    await open(`#/users/${admin.user_id}`, /Olga Operator/);
    await page.getByRole("button", { name: "Disable" }).click();
    await page.getByRole("alert").filter({ hasText: /cannot disable your own account/ }).waitFor();
    expect(await tokenStatus(s, adminApi.token)).toBe(200);
  }, STEP);

  test("settings are shown read-only with secrets masked", async () => {
    await page.getByRole("link", { name: "Settings" }).click();
    await page.getByRole("heading", { level: 1, name: "Settings" }).waitFor();
    const secretRow = page.locator("tr", { has: page.locator("th", { hasText: /^facebook\.appSecret$/ }) });
    expect(await secretRow.locator("td").textContent()).toBe('"********"');
    expect(await page.locator("tr", { has: page.locator("th", { hasText: /^facebook\.appId$/ }) }).locator("td").textContent()).toBe('"1234567890"');
    expect(await page.content()).not.toContain(FACEBOOK_SECRET);
    expect(await page.locator("input, textarea, select").count()).toBe(0);
    await expectNoHorizontalScroll("settings");
    await shot("laptop-settings");
  }, STEP);

  test("at phone width every page fits the screen", async () => {
    await page.setViewportSize(PHONE);
    const pages: [string, string, string | RegExp][] = [
      ["dashboard", "#/dashboard", "Dashboard"],
      ["users", "#/users", "Users"],
      ["user", `#/users/${created.user_id}`, /Nina Newcomer/],
      ["settings", "#/settings", "Settings"],
    ];
    for (const [name, hash, heading] of pages) {
      await open(hash, heading);
      await expectNoHorizontalScroll(`${name} at ${PHONE.width}px`);
      await shot(`phone-${name}`);
    }
    // Signing out ends the session on the server and shows the form again, which fits too.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.locator("#login-title").waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    const own = (await s.get(`/api/v1/admin/users/${admin.user_id}`, adminApi.token)).body.sessions;
    expect(own.map((x: { device_id: string }) => x.device_id)).toEqual(["test-runner"]);
    await expectNoHorizontalScroll("login at phone width");
    await shot("phone-login");
    await page.setViewportSize(LAPTOP);
  }, STEP);

  test("a reload keeps the session; a deep link survives signing in", async () => {
    await page.goto(adminUrl(`#/users/${created.user_id}`));
    await signInWithKeyboard(admin.email, admin.password);
    await page.getByRole("heading", { level: 1, name: /Nina Newcomer/ }).waitFor();
    await page.reload();
    await page.getByRole("heading", { level: 1, name: /Nina Newcomer/ }).waitFor();
  }, STEP);

  test("the page asked nothing of any other origin and logged no errors", () => {
    const origin = new URL(s.url).origin;
    expect(requested.length).toBeGreaterThan(10);
    const foreign = requested.filter((u) => new URL(u).origin !== origin);
    expect(foreign).toEqual([]);
    expect(pageErrors.filter((e) => !/status of (401|403|409)/.test(e))).toEqual([]);
  }, STEP);
});

describe("admin UI token refresh", () => {
  test("an expired access token is refreshed behind the scenes, once, and the page carries on", async () => {
    // A server whose access tokens live three seconds: every click after that needs a refresh.
    // (Not one: a token's exp is in whole seconds, so a one-second token can already be dead
    // when the retry after the refresh arrives on a loaded machine.)
    const short = await startTestServer({ accessTokenTtl: 3 });
    try {
      const a = await makeUser(short, { role: "admin", prefix: "ttl" });
      const refreshes: number[] = [];
      const onRequest = (r: { url(): string; method(): string }) => {
        if (r.url().endsWith("/api/v1/auth/refresh")) refreshes.push(Date.now());
      };
      ctx!.on("request", onRequest);
      try {
        await page.goto(`${short.url}/admin`);
        await signInWithKeyboard(a.email, a.password);
        await page.getByRole("heading", { level: 1, name: "Dashboard" }).waitFor();
        await Bun.sleep(3300);
        await page.getByRole("link", { name: "Users" }).click();
        await page.getByRole("heading", { level: 1, name: "Users" }).waitFor();
        expect(refreshes.length).toBe(1);
        await Bun.sleep(3300);
        await page.getByRole("link", { name: "Settings" }).click();
        await page.getByRole("heading", { level: 1, name: "Settings" }).waitFor();
        expect(refreshes.length).toBe(2);
        // Still one live session: each refresh rotated the same session, none was taken as theft.
        const sessions = short.server.core.auth.sessionsOf(a.user_id);
        expect(sessions.map((x) => x.device_id)).toEqual(["admin-ui"]);
      } finally {
        ctx!.off("request", onRequest);
      }
    } finally {
      await short.stop();
    }
  }, STEP);
});

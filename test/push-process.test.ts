/**
 * Push with a real `confab serve` child process, configured only through CONFAB_PUSH_* /
 * CONFAB_APNS_* / CONFAB_FCM_* (CONTRACT §11), against the local provider fakes:
 *   - restart with jobs in the queue: the providers fail, so each job waits for its retry; the
 *     server is SIGKILLed; the providers recover; the server starts again on the same data dir
 *     and each push is delivered exactly once — and a further crash after the delivery was
 *     recorded sends nothing again;
 *   - the operator's CLI on the same data dir: `confab device list|revoke` and
 *     `confab push test --user U` (push settings from a --config file).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./harness";
import { BUN, CLI, hasStackTrace, http, killAll, runCli, spawnServer, type ServerProcess } from "./process";
import { startPushFakes, type PushFakes } from "./fakes/push-providers";
import { until } from "./fakes/script";

let dir: string;
let dataDir: string;
let fakes: PushFakes;
let server: ServerProcess | null = null;

beforeAll(async () => {
  dir = tempDir("confab-push-proc-");
  dataDir = join(dir, "data");
  fakes = await startPushFakes(dir);
});

afterAll(async () => {
  killAll();
  await fakes?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function serve(): Promise<ServerProcess> {
  return spawnServer([BUN, CLI, "serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", dataDir, "--registration", "open"], {
    env: { ...fakes.env, CONFAB_AUTH_RATE_LIMIT: "100000" },
  });
}

/** Read the outbox straight from the database file (a separate connection, closed at once). */
function jobs(userId: number): { attempts: number; last_error: string | null }[] {
  const db = new Database(join(dataDir, "confab.db"));
  try {
    return db.query<any, [number]>("SELECT attempts, last_error FROM push_jobs WHERE user_id = ? AND failed_at IS NULL").all(userId);
  } finally {
    db.close();
  }
}

interface User {
  id: number;
  username: string;
  token: string;
}

async function register(base: string, first: string): Promise<User> {
  const tag = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`;
  const r = await http(base, "POST", "/api/v1/auth/register", { email: `p${tag}@example.test`, username: `p${tag}`, password: `pw-${tag}-long`, first_name: first, last_name: "Proc" });
  if (r.status !== 201) throw new Error(`register: ${r.status} ${r.text}`);
  return { id: r.body.user.user_id, username: `p${tag}`, token: r.body.access_token };
}

const hex = (n: number) => Array.from(crypto.getRandomValues(new Uint8Array(n / 2)), (b) => b.toString(16).padStart(2, "0")).join("");

let alice: User;
let bob: User;
let cid: number;
const web = { id: "bob-browser", sub: null as ReturnType<PushFakes["webpush"]["subscribe"]> | null };
const ios = { id: "bob-iphone", token: hex(64) };
const android = { id: "bob-pixel", token: `fcm:${hex(40)}` };

describe("restart with jobs in the queue", () => {
  test("SIGKILL while every job waits for a retry; after the restart each push is delivered exactly once", async () => {
    server = await serve();
    const base = server.url;
    alice = await register(base, "Alice");
    bob = await register(base, "Bob");
    // The fake accepts only this VAPID key: it must survive the restarts (kept in the data dir).
    fakes.webpush.expect({ serverKey: (await http(base, "GET", "/api/v1/notifications/vapid-public-key")).body.public_key, subject: fakes.config.vapidSubject });
    cid = (await http(base, "POST", "/api/v1/conversations", { conversation_type: "direct", participant_ids: [bob.id] }, alice.token)).body.conversation_id;
    web.sub = fakes.webpush.subscribe();
    for (const [device_id, platform, device_token] of [
      [web.id, "web", web.sub.json],
      [ios.id, "ios", ios.token],
      [android.id, "android", android.token],
    ] as const) {
      const r = await http(base, "POST", "/api/v1/notifications/devices", { device_id, platform, device_token }, bob.token);
      expect(r.status).toBe(201);
    }
    // Every provider fails; Retry-After keeps the retry away long enough to kill the server first.
    fakes.webpush.script.set(web.sub.id, { status: 503, retryAfter: "2" });
    fakes.apns.script.set(ios.token, 503);
    fakes.fcm.script.set(android.token, { status: 429, retryAfter: "2" });

    const m = await http(base, "POST", `/api/v1/conversations/${cid}/messages`, { message_type: "text", content: "survive this" }, alice.token);
    expect(m.status).toBe(201);
    // Each job's failed attempt is recorded (it now waits for its retry): kill at once.
    await until(() => jobs(bob.id).length === 3 && jobs(bob.id).every((j) => j.attempts === 1 && j.last_error), 5000, "three jobs waiting for a retry");
    await server.stop("SIGKILL");
    const tried = () => [fakes.webpush.of(web.sub!).length, fakes.apns.of(ios.token).length, fakes.fcm.of(android.token).length];
    expect(tried()).toEqual([1, 1, 1]);

    fakes.webpush.script.set(web.sub.id, 201);
    fakes.apns.script.set(ios.token, 200);
    fakes.fcm.script.set(android.token, 200);
    server = await serve();
    const [w, i, f] = await Promise.all([
      fakes.webpush.waitForDelivery(web.sub, { timeoutMs: 8000 }),
      fakes.apns.waitForDelivery(ios.token, { timeoutMs: 8000 }),
      fakes.fcm.waitForDelivery(android.token, { timeoutMs: 8000 }),
    ]);
    expect(w.payload).toMatchObject({ type: "new_message", message_id: m.body.message_id, body: "survive this", sender_name: "Alice Proc" });
    expect(i.body).toMatchObject({ message_id: m.body.message_id, aps: { alert: { body: "survive this" } } });
    expect(f.body.message.data).toMatchObject({ message_id: m.body.message_id, conversation_id: String(cid) });
    await until(() => jobs(bob.id).length === 0, 5000, "the outbox to empty");
    expect(tried()).toEqual([2, 2, 2]);

    // The deliveries are recorded: another crash and restart sends nothing again.
    await server.stop("SIGKILL");
    server = await serve();
    await Bun.sleep(1000);
    expect(tried()).toEqual([2, 2, 2]);
    expect(fakes.errors()).toEqual([]);
  }, 30_000);
});

describe("CLI", () => {
  let configFile: string;
  const cli = (args: string[]) => runCli([...args, "--data-dir", dataDir, "--config", configFile]);

  beforeAll(() => {
    configFile = join(dir, "push.toml");
    writeFileSync(configFile, fakes.toml);
  });

  test("confab device list <user> --json: the user's devices, by username or id", async () => {
    const r = await cli(["device", "list", bob.username, "--json"]);
    expect(r.code).toBe(0);
    const list = JSON.parse(r.stdout);
    expect(list.map((d: any) => [d.device_id, d.platform]).sort()).toEqual([
      [android.id, "android"],
      [web.id, "web"],
      [ios.id, "ios"],
    ].sort());
    for (const d of list) expect(d.last_used_at).toMatch(/Z$/); // each got a push above
    const byId = await cli(["device", "list", String(bob.id), "--json"]);
    expect(JSON.parse(byId.stdout)).toEqual(list);
    const table = await cli(["device", "list", bob.username]);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain(ios.id);
    expect(JSON.parse((await cli(["device", "list", alice.username, "--json"])).stdout)).toEqual([]);
  });

  test("confab push test --user U sends to every device and prints each provider's answer", async () => {
    const before = [fakes.webpush.delivered(web.sub!).length, fakes.apns.delivered(ios.token).length, fakes.fcm.delivered(android.token).length];
    const r = await cli(["push", "test", "--user", bob.username]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    for (const [id, status] of [
      [web.id, "201"],
      [ios.id, "200"],
      [android.id, "200"],
    ]) expect(r.stdout).toMatch(new RegExp(`${id}\\s+\\w+\\s+ok\\s+${status}`));
    const after = [fakes.webpush.delivered(web.sub!).length, fakes.apns.delivered(ios.token).length, fakes.fcm.delivered(android.token).length];
    expect(after).toEqual(before.map((n) => n + 1));
    expect(fakes.webpush.delivered(web.sub!).at(-1)!.payload).toMatchObject({ type: "test", title: "Test notification" });
    expect(fakes.apns.delivered(ios.token).at(-1)!.body).toMatchObject({ type: "test", aps: { alert: { title: "Test notification" } } });
    expect(fakes.fcm.delivered(android.token).at(-1)!.body.message.data).toMatchObject({ type: "test" });
  });

  test("a refused test push: exit 1 without a stack trace, the answer printed, a dead token removed", async () => {
    fakes.apns.script.set(ios.token, 410);
    fakes.fcm.script.set(android.token, 503);
    const r = await cli(["push", "test", "--user", bob.username, "--json"]);
    expect(r.code).toBe(1);
    expect(hasStackTrace(r.stderr)).toBe(false);
    expect(r.stderr).toMatch(/^confab: .+\n$/);
    const results = JSON.parse(r.stdout);
    const by = Object.fromEntries(results.map((x: any) => [x.device_id, x]));
    expect(by[web.id].result).toMatchObject({ kind: "ok", status: 201 });
    expect(by[ios.id].result).toMatchObject({ kind: "dead", status: 410, reason: "Unregistered" });
    expect(by[android.id].result).toMatchObject({ kind: "retry", status: 503 });
    fakes.fcm.script.set(android.token, 200);
    const list = JSON.parse((await cli(["device", "list", bob.username, "--json"])).stdout);
    expect(list.map((d: any) => d.device_id).sort()).toEqual([android.id, web.id].sort());
  });

  test("confab device revoke <user> <device_id>; unknown devices and users are clear errors", async () => {
    const r = await cli(["device", "revoke", bob.username, android.id]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(android.id);
    expect(JSON.parse((await cli(["device", "list", bob.username, "--json"])).stdout).map((d: any) => d.device_id)).toEqual([web.id]);
    // The running server no longer pushes to it either.
    const m = await http(server!.url, "POST", `/api/v1/conversations/${cid}/messages`, { message_type: "text", content: "after revoke" }, alice.token);
    expect(m.status).toBe(201);
    await until(() => fakes.webpush.delivered(web.sub!).some((x) => x.payload.message_id === m.body.message_id), 5000, "the push after revoke");
    await until(() => jobs(bob.id).length === 0, 5000, "the outbox to empty");
    expect(fakes.fcm.of(android.token).some((x) => x.body.message.data.message_id === m.body.message_id)).toBe(false);
    const again = await cli(["device", "revoke", bob.username, android.id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/not found/i);
    expect(hasStackTrace(again.stderr)).toBe(false);
    const nobody = await cli(["device", "list", "no_such_user", "--json"]);
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toContain("no_such_user");
    expect(hasStackTrace(nobody.stderr)).toBe(false);
    const noDevices = await cli(["push", "test", "--user", alice.username]);
    expect(noDevices.code).toBe(1);
    expect(noDevices.stderr).toMatch(/no registered devices/);
    expect((await cli(["push", "test"])).code).toBe(2); // --user is required: a usage error
    // The server shuts down cleanly with its provider connections open.
    expect((await server!.stop()).code).toBe(0);
    server = null;
  });
});

/**
 * The operator commands as an operator runs them — `confab backup`, `restore`, `stats`,
 * `config show`, `doctor`, `device list|revoke` — real child processes next to a real server
 * child on the same data dir, judged by exit code, stdout and stderr (CONTRACT §12: tables for
 * people, --json for scripts, 1 for failures, 2 for usage, never a stack trace).
 *
 * The backup is taken while eight clients send messages as fast as the server acknowledges
 * them. Every message acknowledged (201) before the backup command started must be in the
 * restored copy, which must pass `PRAGMA integrity_check`, and a server started on the restored
 * data dir must accept the tokens issued before (the signing key is part of the backup).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { chmodSync, cpSync, existsSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync, closeSync } from "node:fs";
import { join } from "node:path";
import { tempDir, uniq } from "./harness";
import { BUN, CLI, ROOT, cleanEnv, hasStackTrace, http, killAll, runCli, spawnServer, type CliResult, type ServerProcess } from "./process";

const root = tempDir("confab-cli-ops-");
const servers: ServerProcess[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop().catch(() => {});
  killAll();
  rmSync(root, { recursive: true, force: true });
});

const SENDERS = 8;
const SERVER_ENV = { CONFAB_REGISTRATION: "open", CONFAB_RATE_LIMIT: "10000000", CONFAB_AUTH_RATE_LIMIT: "100000" };

/** Run confab; whatever happens, neither stream may carry a stack trace. */
async function cli(args: string[], env?: Record<string, string>): Promise<CliResult> {
  const r = await runCli(args, { env });
  const why = `confab ${args.join(" ")}\nexit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  expect(hasStackTrace(r.stdout) || hasStackTrace(r.stderr), why).toBe(false);
  return r;
}

function expectOk(r: CliResult): CliResult {
  expect(r.code, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(0);
  return r;
}

function expectFailure(r: CliResult, code: number, message: RegExp) {
  const why = `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  expect(r.code, why).toBe(code);
  expect(r.stderr, why).toMatch(message);
}

async function startServer(dataDir: string): Promise<ServerProcess> {
  const s = await spawnServer([BUN, CLI, "serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", dataDir], { env: SERVER_ENV });
  servers.push(s);
  return s;
}

async function stopServer(s: ServerProcess) {
  const r = await s.stop();
  expect(r.code, s.stderr()).toBe(0);
  servers.splice(servers.indexOf(s), 1);
}

interface Client {
  user_id: number;
  username: string;
  token: string;
}

async function register(base: string): Promise<Client> {
  const tag = uniq();
  const r = await http(base, "POST", "/api/v1/auth/register", { email: `o${tag}@example.test`, username: `o${tag}`, password: `pw-${tag}-secret`, first_name: "Op", last_name: "Erator" });
  expect(r.status, r.text).toBe(201);
  return { user_id: r.body.user.user_id, username: `o${tag}`, token: r.body.access_token };
}

/** The messages table of a database file, read directly. */
function messageIds(dbFile: string): Set<string> {
  const db = new Database(dbFile, { readonly: true });
  try {
    return new Set(db.query<{ id: string }, []>("SELECT id FROM messages").all().map((r) => r.id));
  } finally {
    db.close();
  }
}

describe("backup during writes, restore, and the commands beside a running server", () => {
  const dataDir = join(root, "live");
  const restoredDir = join(root, "restored");
  const backupFile = join(root, "confab-backup.db");
  let server: ServerProcess;
  let clients: Client[];
  let conversationId: number;
  /** Every acknowledged send: its id and when the 201 arrived. */
  const acks: { id: string; at: number }[] = [];
  const sendErrors: string[] = [];
  let backupStartedAt = 0;
  /** How many sends were acknowledged when the backup command was started (by count, not by
   * timestamp: an ack in the very millisecond the backup started is neither before nor after). */
  let ackedBeforeBackup = 0;
  let backupEndedAt = 0;

  beforeAll(async () => {
    server = await startServer(dataDir);
    clients = [];
    for (let i = 0; i <= SENDERS; i++) clients.push(await register(server.url));
    const c = await http(server.url, "POST", "/api/v1/conversations", { conversation_type: "group", title: "ops", participant_ids: clients.slice(1).map((x) => x.user_id) }, clients[0]!.token);
    expect(c.status, c.text).toBe(201);
    conversationId = c.body.conversation_id;
  }, 30_000);

  test("device list and revoke act on a device registered over REST", async () => {
    const owner = clients[1]!;
    const reg = await http(server.url, "POST", "/api/v1/notifications/devices", { device_id: "ops-phone", platform: "android", device_token: `fcm-${uniq()}`, app_version: "3.0" }, owner.token);
    expect(reg.status, reg.text).toBe(201);

    const table = expectOk(await cli(["device", "list", owner.username, "--data-dir", dataDir]));
    const lines = table.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^device\s+platform\s+app version\s+registered\s+last used$/);
    expect(lines[1]).toMatch(/^ops-phone\s+android\s+3\.0\s+\d{4}-\d\d-\d\dT/);
    const json = JSON.parse(expectOk(await cli(["device", "list", String(owner.user_id), "--json", "--data-dir", dataDir])).stdout);
    expect(json).toEqual([expect.objectContaining({ device_id: "ops-phone", platform: "android", app_version: "3.0" })]);

    expect(expectOk(await cli(["device", "revoke", owner.username, "ops-phone", "--data-dir", dataDir])).stdout).toContain("device ops-phone revoked");
    // The running server sees it at once: same database.
    expect((await http(server.url, "GET", "/api/v1/notifications/devices", undefined, owner.token)).body.devices).toEqual([]);

    const [again, nobody, usage] = await Promise.all([
      cli(["device", "revoke", owner.username, "ops-phone", "--data-dir", dataDir]),
      cli(["device", "list", "nobody-by-that-name", "--data-dir", dataDir]),
      cli(["device", "revoke", owner.username, "--data-dir", dataDir]),
    ]);
    expectFailure(again, 1, /Device not found/);
    expectFailure(nobody, 1, /no user "nobody-by-that-name"/);
    expectFailure(usage, 2, /missing required argument 'device_id'/);
  }, 30_000);

  test("backup while eight clients send: the copy holds every message acknowledged before it began", async () => {
    let stop = false;
    const sender = async (c: Client, n: number) => {
      // Bounded: at most 20,000 sends each, and the test stops them long before.
      for (let i = 0; i < 20_000 && !stop; i++) {
        const r = await http(server.url, "POST", `/api/v1/conversations/${conversationId}/messages`, { message_type: "text", content: `sender ${n} message ${i}`, client_message_id: `s${n}-${i}` }, c.token);
        if (r.status === 201) acks.push({ id: r.body.message_id, at: Date.now() });
        else sendErrors.push(`${r.status} ${r.text}`);
      }
    };
    const running = clients.slice(1).map((c, n) => sender(c, n));
    try {
      // Let the writes get going, then back up in the middle of them.
      for (let i = 0; i < 400 && acks.length < 300; i++) await Bun.sleep(25);
      expect(acks.length).toBeGreaterThanOrEqual(300);
      backupStartedAt = Date.now();
      ackedBeforeBackup = acks.length;
      const r = expectOk(await cli(["backup", backupFile, "--data-dir", dataDir]));
      backupEndedAt = Date.now();
      expect(r.stdout).toMatch(/^backup written to .*confab-backup\.db \(\d+\.\d MiB\); copy .*media too\n$/);
      expect(r.stderr).toBe(""); // no progress bar when stderr is not a terminal
      const n = acks.length;
      for (let i = 0; i < 200 && acks.length < n + 50; i++) await Bun.sleep(25); // writes go on after it
    } finally {
      stop = true;
      await Promise.all(running);
    }
    expect(sendErrors).toEqual([]); // an online backup never made a client fail
    const during = acks.filter((a) => a.at > backupStartedAt && a.at < backupEndedAt).length;
    expect(during).toBeGreaterThan(0); // the server kept acknowledging while the backup ran

    // The backup holds the data and the keys: owner-only.
    expect(statSync(backupFile).mode & 0o777).toBe(0o600);
    const inBackup = messageIds(backupFile);
    const before = acks.slice(0, ackedBeforeBackup);
    expect(before.length).toBeGreaterThanOrEqual(300);
    expect(before.filter((a) => !inBackup.has(a.id))).toEqual([]);
  }, 60_000);

  test("stats: a table for people, JSON for scripts, both the server's figures", async () => {
    const json = JSON.parse(expectOk(await cli(["stats", "--json", "--data-dir", dataDir])).stdout);
    expect(json.users).toEqual({ total: SENDERS + 1, disabled: 0, admins: 0 });
    expect(json.conversations).toBe(1);
    expect(json.messages.total).toBe(acks.length);
    expect(json.messages.today).toBe(acks.length);
    expect(json.messages_per_day.at(-1)).toEqual({ day: new Date().toISOString().slice(0, 10), messages: acks.length });
    expect(json.storage.database_bytes).toBeGreaterThan(0);
    expect(json.push).toMatchObject({ queued: 0, failed: 0 });

    const table = expectOk(await cli(["stats", "--data-dir", dataDir])).stdout;
    const rows = Object.fromEntries(table.trim().split("\n").map((l) => [l.split(/\s{2,}/)[0], l.split(/\s{2,}/)[1]]));
    expect(rows["figure"]).toBe("value");
    expect(rows["users"]).toBe(`${SENDERS + 1} (0 admins, 0 disabled)`);
    expect(rows["messages"]).toBe(`${acks.length} (${acks.length} today)`);
    expect(rows["conversations"]).toBe("1");
    expect(rows["push queue"]).toBe("0 queued, 0 failed");
    expect(rows["database"]).toMatch(/^\d+\.\d MiB$/);
  }, 30_000);

  test("backup refuses to overwrite, to write where it cannot, and to copy no database", async () => {
    const before = readFileSync(backupFile);
    const [exists, noDir, noDb, usage] = await Promise.all([
      cli(["backup", backupFile, "--data-dir", dataDir]),
      cli(["backup", join(root, "no", "such", "dir", "b.db"), "--data-dir", dataDir]),
      cli(["backup", join(root, "x.db"), "--data-dir", join(root, "empty-dir")]),
      cli(["backup", "--data-dir", dataDir]),
    ]);
    expectFailure(exists, 1, /exists already; choose a new file name/);
    expect(readFileSync(backupFile).equals(before)).toBe(true);
    expectFailure(noDir, 1, /its directory does not exist/);
    expectFailure(noDb, 1, /no confab database in .*empty-dir/);
    expect(existsSync(join(root, "x.db"))).toBe(false);
    expectFailure(usage, 2, /missing required argument 'file'/);
  }, 30_000);

  test("restore refuses while a server runs on that data dir, and leaves it alone", async () => {
    const dbBefore = statSync(join(dataDir, "confab.db")).mtimeMs;
    const r = await cli(["restore", backupFile, "--data-dir", dataDir]);
    expectFailure(r, 1, new RegExp(`a confab server \\(pid ${server.proc.pid}\\) is running on .*live; stop it before restoring`));
    expect(statSync(join(dataDir, "confab.db")).mtimeMs).toBe(dbBefore);
    expect((await http(server.url, "GET", "/readyz")).status).toBe(200);
  }, 30_000);

  test("restore into a fresh data dir: integrity ok, every message, the old tokens work", async () => {
    await stopServer(server);
    const jwtKey = readFileSync(join(dataDir, "jwt-secret.key"));
    const r = expectOk(await cli(["restore", backupFile, "--data-dir", restoredDir]));
    expect(r.stdout).toMatch(/^restored .*restored\/confab\.db with jwt-secret\.key, vapid-keys\.json\n$/);

    const restoredDb = join(restoredDir, "confab.db");
    const db = new Database(restoredDb, { readonly: true });
    try {
      expect(db.query<{ integrity_check: string }, []>("PRAGMA integrity_check").all()).toEqual([{ integrity_check: "ok" }]);
      expect(db.query("SELECT name FROM sqlite_master WHERE name = '_backup_files'").all()).toEqual([]);
    } finally {
      db.close();
    }
    const restored = messageIds(restoredDb);
    const before = acks.slice(0, ackedBeforeBackup);
    expect(before.filter((a) => !restored.has(a.id))).toEqual([]);
    // Nothing invented: whatever it holds was acknowledged to some client.
    const acked = new Set(acks.map((a) => a.id));
    expect([...restored].filter((id) => !acked.has(id))).toEqual([]);
    expect(readFileSync(join(restoredDir, "jwt-secret.key")).equals(jwtKey)).toBe(true);
    for (const f of ["confab.db", "jwt-secret.key", "vapid-keys.json"]) expect(statSync(join(restoredDir, f)).mode & 0o777).toBe(0o600);
    expect(statSync(restoredDir).mode & 0o777).toBe(0o700);

    const again = await startServer(restoredDir);
    try {
      for (const c of clients) expect((await http(again.url, "GET", "/api/v1/users/me", undefined, c.token)).status).toBe(200);
      const page = await http(again.url, "GET", `/api/v1/conversations/${conversationId}/messages?limit=5`, undefined, clients[0]!.token);
      expect(page.status).toBe(200);
      expect(page.body.messages.length).toBe(5);
    } finally {
      await stopServer(again);
    }
  }, 60_000);

  test("restore refuses what is not a backup, and names it", async () => {
    const text = join(root, "notes.txt");
    writeFileSync(text, "not a database at all\n".repeat(100));
    const plainDb = join(root, "plain-copy.db");
    cpSync(join(dataDir, "confab.db"), plainDb); // a real confab database, but not a backup
    const target = join(root, "untouched");
    const [notDb, notBackup, missing, usage] = await Promise.all([
      cli(["restore", text, "--data-dir", target]),
      cli(["restore", plainDb, "--data-dir", target]),
      cli(["restore", join(root, "nope.db"), "--data-dir", target]),
      cli(["restore", "--data-dir", target]),
    ]);
    expectFailure(notDb, 1, /notes\.txt is not a confab backup/);
    expectFailure(notBackup, 1, /plain-copy\.db is not a confab backup/);
    expectFailure(missing, 1, /no such file: .*nope\.db/);
    expectFailure(usage, 2, /missing required argument 'file'/);
    expect(existsSync(target)).toBe(false);
  }, 30_000);

  test("on a terminal, backup draws a progress bar; --json prints one object and no bar", async () => {
    const file = join(root, "tty-backup.db");
    // util-linux `script` gives the command a pseudo-terminal, as an operator's shell would.
    const p = Bun.spawn(["script", "-qefc", `${BUN} ${CLI} backup ${file} --data-dir ${restoredDir}`, "/dev/null"], { cwd: ROOT, env: cleanEnv(), stdout: "pipe", stderr: "pipe", timeout: 15_000 });
    const [out, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
    expect(code, out).toBe(0);
    expect(out).toMatch(/\r\[#{30}\] \d+\.\d MiB/);
    expect(out).toContain("backup written to");

    const json = expectOk(await cli(["backup", join(root, "json-backup.db"), "--json", "--data-dir", restoredDir]));
    expect(JSON.parse(json.stdout)).toEqual({ path: join(root, "json-backup.db"), bytes: statSync(join(root, "json-backup.db")).size });
    expect(json.stderr).toBe("");
    const restore = JSON.parse(expectOk(await cli(["restore", join(root, "json-backup.db"), "--json", "--data-dir", join(root, "json-restored")])).stdout);
    expect(restore).toEqual({ restored: join(root, "json-restored", "confab.db"), secrets: ["jwt-secret.key", "vapid-keys.json"] });
  }, 30_000);
});

describe("config show", () => {
  const secret = `fb-${uniq()}-do-not-print`;
  const env = { CONFAB_FACEBOOK_APP_ID: "777", CONFAB_FACEBOOK_APP_SECRET: secret, CONFAB_PORT: "9191" };

  test("the effective settings as a table and as JSON; the app secret masked in both", async () => {
    const dir = join(root, "config-dir");
    const [table, json] = await Promise.all([cli(["config", "show", "--data-dir", dir], env), cli(["config", "show", "--json", "--data-dir", dir], env)]);
    for (const r of [expectOk(table), expectOk(json)]) {
      expect(r.stdout + r.stderr).not.toContain(secret);
      expect(r.stdout + r.stderr).not.toContain("do-not-print");
    }
    const rows = Object.fromEntries(table.stdout.trim().split("\n").map((l) => l.split(/\s{2,}/)));
    expect(rows["setting"]).toBe("value");
    expect(rows["facebook.appSecret"]).toBe("********");
    expect(rows["facebook.appId"]).toBe("777");
    expect(rows["port"]).toBe("9191");
    expect(rows["dataDir"]).toBe(dir);
    const parsed = JSON.parse(json.stdout);
    expect(parsed.facebook).toMatchObject({ appId: "777", appSecret: "********" });
    expect(parsed.port).toBe(9191);
    expect(existsSync(dir)).toBe(false); // looking at settings creates nothing
  });

  test("a secret from the config file is masked too; a broken file is a usage error", async () => {
    const file = join(root, "confab.toml");
    writeFileSync(file, `port = 7000\n[facebook]\napp_id = "1"\napp_secret = "${secret}"\n`);
    const r = expectOk(await cli(["config", "show", "--json", "--config", file]));
    expect(r.stdout).not.toContain(secret);
    expect(JSON.parse(r.stdout)).toMatchObject({ port: 7000, facebook: { appSecret: "********" } });
    const broken = join(root, "broken.toml");
    writeFileSync(broken, "port = [unclosed\n");
    expectFailure(await cli(["config", "show", "--config", broken]), 2, /cannot parse .*broken\.toml/);
    expectFailure(await cli(["config", "show", "--config", join(root, "missing.toml")]), 2, /config file not found/);
  });

  test("a reader that hangs up early (| head) ends the command quietly", async () => {
    const p = Bun.spawn([BUN, CLI, "config", "show", "--data-dir", join(root, "config-dir")], { cwd: ROOT, env: cleanEnv(), stdout: "pipe", stderr: "pipe", timeout: 15_000 });
    await p.stdout.cancel(); // close our end before the command writes a byte
    const [stderr, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
    expect(hasStackTrace(stderr), stderr).toBe(false);
    expect(stderr).not.toContain("EPIPE");
    expect(code).toBe(0);
  });
});

describe("doctor", () => {
  let good: string;
  beforeAll(async () => {
    good = join(root, "doctor-good");
    expectOk(await cli(["migrate", "--data-dir", good]));
  });

  /** Each check's name → [ok|FAIL, detail], from the table. */
  function checks(stdout: string): Record<string, [string, string]> {
    const lines = stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^check\s+detail$/);
    return Object.fromEntries(lines.slice(1).map((l) => {
      const [name, state, ...detail] = l.split(/\s{2,}/);
      return [name!, [state!, detail.join("  ")]];
    }));
  }

  test("a healthy data dir: every check ok, exit 0; --json says the same", async () => {
    const r = expectOk(await cli(["doctor", "--data-dir", good, "--port", "0"]));
    const c = checks(r.stdout);
    for (const name of ["data dir", "secret files", "database integrity", "migrations", "port", "web push", "apns", "fcm"]) expect(c[name]?.[0], `${name}: ${r.stdout}`).toBe("ok");
    expect(c["data dir"]![1]).toContain("mode 700");
    const json = JSON.parse(expectOk(await cli(["doctor", "--json", "--data-dir", good, "--port", "0"])).stdout);
    expect(json.every((x: { ok: boolean }) => x.ok)).toBe(true);
    expect(json.map((x: { name: string }) => x.name)).toContain("database integrity");
  });

  test("a data dir others can read (0755) fails, exit 1", async () => {
    const dir = join(root, "doctor-open");
    cpSync(good, dir, { recursive: true });
    chmodSync(dir, 0o755);
    const r = await cli(["doctor", "--data-dir", dir, "--port", "0"]);
    expectFailure(r, 1, /1 check failed/);
    expect(checks(r.stdout)["data dir"]).toEqual(["FAIL", `${dir} mode 755 — others can read it: chmod 700`]);
  });

  test("secret files readable by others fail, exit 1", async () => {
    const dir = join(root, "doctor-keys");
    cpSync(good, dir, { recursive: true });
    chmodSync(join(dir, "jwt-secret.key"), 0o644);
    const r = await cli(["doctor", "--data-dir", dir, "--port", "0"]);
    expectFailure(r, 1, /check failed/);
    expect(checks(r.stdout)["secret files"]![0]).toBe("FAIL");
    expect(checks(r.stdout)["secret files"]![1]).toContain("jwt-secret.key");
  });

  test("a corrupted database fails, exit 1", async () => {
    const dir = join(root, "doctor-corrupt");
    cpSync(good, dir, { recursive: true });
    const db = join(dir, "confab.db");
    const size = statSync(db).size;
    expect(size).toBeGreaterThan(16 * 4096);
    // Scribble over pages in the middle of the file, as a failing disk would.
    const fd = openSync(db, "r+");
    writeSync(fd, Buffer.alloc(6 * 4096, 0xa5), 0, 6 * 4096, 4 * 4096);
    closeSync(fd);
    const r = await cli(["doctor", "--data-dir", dir, "--port", "0"]);
    expectFailure(r, 1, /check failed/);
    const c = checks(r.stdout);
    const db_ = c["database integrity"] ?? c["database"];
    expect(db_?.[0], r.stdout).toBe("FAIL");
  });

  test("a port another process holds fails, exit 1", async () => {
    const holder = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const r = await cli(["doctor", "--data-dir", good, "--port", String(holder.port)], { CONFAB_HOST: "127.0.0.1" });
      expectFailure(r, 1, /1 check failed/);
      expect(checks(r.stdout)["port"]![0]).toBe("FAIL");
      expect(checks(r.stdout)["port"]![1]).toContain(`127.0.0.1:${holder.port} cannot be used`);
    } finally {
      holder.stop(true);
    }
  });

  test("push provider files that cannot be used fail, each named", async () => {
    const notJson = join(root, "fcm-account.txt");
    writeFileSync(notJson, "this is not a service account");
    const r = await cli(["doctor", "--data-dir", good, "--port", "0"], {
      CONFAB_FCM_SERVICE_ACCOUNT_FILE: notJson,
      CONFAB_APNS_KEY_FILE: join(root, "no-such-key.p8"),
      CONFAB_APNS_KEY_ID: "KEYID12345",
      CONFAB_APNS_TEAM_ID: "TEAMID1234",
      CONFAB_APNS_TOPIC: "org.example.chat",
    });
    expectFailure(r, 1, /2 checks failed/);
    const c = checks(r.stdout);
    expect(c["fcm"]).toEqual(["FAIL", `${notJson} is not JSON`]);
    expect(c["apns"]![0]).toBe("FAIL");
    expect(c["apns"]![1]).toContain("no-such-key.p8");
    expect(c["database integrity"]![0]).toBe("ok");
  });

  test("a missing data dir fails without creating it", async () => {
    const dir = join(root, "doctor-missing");
    const r = await cli(["doctor", "--data-dir", dir, "--port", "0"]);
    expectFailure(r, 1, /checks failed/);
    expect(checks(r.stdout)["data dir"]![0]).toBe("FAIL");
    expect(existsSync(dir)).toBe(false);
  });
});

/**
 * The `confab` command end to end, as an operator runs it: a real child process
 * (`bun cli/index.ts …`) on a temp data dir, judged by exit code, stdout and stderr
 * (CONTRACT §12: 0 ok, 1 bad input or failure, 2 usage; never a stack trace). The last suite
 * runs the CLI next to a real server on the same data dir.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { migrations } from "../migrations";
import { tempDir, uniq } from "./harness";
import { BUN, CLI, hasStackTrace, http, killAll, runCli, spawnServer, type CliResult, type ServerProcess } from "./process";

const root = tempDir("confab-cli-");
afterAll(() => {
  killAll();
  rmSync(root, { recursive: true, force: true });
});

let dirs = 0;
/** A data dir path that does not exist yet: the CLI creates it. */
const freshDataDir = () => join(root, `data-${dirs++}`);

/** A failure an operator can read: the expected exit code, a message on stderr, no stack trace. */
function expectCleanFailure(r: CliResult, code: number, message: RegExp) {
  const why = `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  expect(r.code, why).toBe(code);
  expect(r.stderr, why).toMatch(message);
  expect(hasStackTrace(r.stderr) || hasStackTrace(r.stdout), why).toBe(false);
}

/** Run independent failing commands side by side (each one is a process start), then check each. */
async function expectCleanFailures(cases: [args: string[], code: number, message: RegExp][]) {
  const results = await Promise.all(cases.map(([args]) => runCli(args)));
  results.forEach((r, i) => expectCleanFailure(r, cases[i]![1], cases[i]![2]));
}

function expectOk(r: CliResult): CliResult {
  expect(r.code, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(0);
  return r;
}

function newUser(over: Partial<Record<"email" | "username" | "password", string>> = {}) {
  const tag = uniq();
  return { email: `c${tag}@example.test`, username: `c${tag}`, password: `pw-${tag}-secret`, ...over };
}

function addArgs(dataDir: string, u: { email: string; username: string }, extra: string[] = []) {
  return ["user", "add", "--data-dir", dataDir, "--email", u.email, "--username", u.username, "--first-name", "Cli", "--last-name", "User", ...extra];
}

async function show(dataDir: string, ref: string | number): Promise<any> {
  const r = expectOk(await runCli(["user", "show", String(ref), "--json", "--data-dir", dataDir]));
  return JSON.parse(r.stdout);
}

/** The stored hash, read straight from the database: the only way to check a password offline. */
function storedHash(dataDir: string, username: string): string {
  const db = new Database(join(dataDir, "confab.db"), { readonly: true });
  try {
    return db.query<{ password_hash: string }, [string]>("SELECT password_hash FROM users WHERE username = ?").get(username)!.password_hash;
  } finally {
    db.close();
  }
}

describe("usage", () => {
  test("--help exits 0 and lists the commands", async () => {
    const r = expectOk(await runCli(["--help"]));
    for (const cmd of ["serve", "migrate", "user"]) expect(r.stdout).toContain(cmd);
    const user = expectOk(await runCli(["user", "--help"]));
    for (const cmd of ["add", "list", "show", "passwd", "disable", "enable", "promote", "demote"]) expect(user.stdout).toContain(cmd);
  });

  test("an unknown command exits 2 with a message on stderr", async () => {
    const r = await runCli(["frobnicate"]);
    expectCleanFailure(r, 2, /unknown command 'frobnicate'/);
    expect(r.stdout).toBe("");
  });

  test("a missing required option, argument or an unknown option exits 2", async () => {
    const dir = freshDataDir();
    await expectCleanFailures([
      [["user", "add", "--data-dir", dir, "--email", "x@example.test"], 2, /required option '--username/],
      [["user", "show", "--data-dir", dir], 2, /missing required argument 'user'/],
      [["user", "list", "--data-dir", dir, "--frob"], 2, /unknown option '--frob'/],
      [["user", "passwd", "someone", "--data-dir", dir, "--password", "x", "--password-stdin"], 2, /either --password or --password-stdin/],
    ]);
  });

  test("a --data-dir that is a regular file exits 1 with a clear message", async () => {
    const file = join(root, "not-a-dir");
    writeFileSync(file, "x");
    await expectCleanFailures([
      [["migrate", "--data-dir", file], 1, /data dir .*not-a-dir exists and is not a directory/],
      [["migrate", "--data-dir", join(file, "sub")], 1, /cannot use data dir .*not-a-dir\/sub/],
      [addArgs(file, newUser(), ["--password", "long-enough-1"]), 1, /not a directory/],
      [["serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", file], 1, /not a directory/],
      [["user", "list", "--data-dir", file], 1, /no confab database in .*not-a-dir/],
    ]);
  });

  test("commands about existing users refuse a data dir without a database, and create nothing", async () => {
    const typo = join(root, "no-such-dir");
    const refused = /no confab database in .*no-such-dir: check --data-dir/;
    await expectCleanFailures(
      [["list"], ["show", "alice"], ["disable", "alice"], ["passwd", "alice", "--password", "long-enough-1"]].map((args) => [["user", ...args, "--data-dir", typo], 1, refused]),
    );
    expect(existsSync(typo)).toBe(false);
  });
});

describe("user commands", () => {
  const dir = freshDataDir();
  const alice = newUser();
  const bob = newUser();
  const carol = newUser();
  let aliceId: number;

  beforeAll(async () => {
    const added = JSON.parse(expectOk(await runCli(addArgs(dir, alice, ["--password", alice.password, "--json"]))).stdout);
    aliceId = added.user_id;
  });

  test("user add --password creates a user with that password", async () => {
    const a = await show(dir, alice.username);
    expect(a).toMatchObject({ user_id: aliceId, email: alice.email, username: alice.username, first_name: "Cli", last_name: "User", role: "user", disabled: false });
    expect(await Bun.password.verify(alice.password, storedHash(dir, alice.username))).toBe(true);
  });

  test("user add --password-stdin reads the password without its trailing newline; --admin makes an admin", async () => {
    const r = expectOk(await runCli(addArgs(dir, bob, ["--password-stdin", "--admin"]), { stdin: bob.password + "\n" }));
    expect(r.stdout).toContain(bob.username);
    expect((await show(dir, bob.email)).role).toBe("admin");
    expect(await Bun.password.verify(bob.password, storedHash(dir, bob.username))).toBe(true);
  });

  test("a duplicate email (in any case) or username exits 1 and says so", async () => {
    const sameEmail = await runCli(addArgs(dir, { email: alice.email.toUpperCase(), username: newUser().username }, ["--password", "long-enough-1"]));
    expectCleanFailure(sameEmail, 1, /already registered/);
    const sameName = await runCli(addArgs(dir, { email: newUser().email, username: alice.username }, ["--password", "long-enough-1"]));
    expectCleanFailure(sameName, 1, /taken/);
  });

  test("an invalid email and a short password exit 1 naming each field", async () => {
    const r = await runCli(addArgs(dir, { email: "not-an-email", username: newUser().username }, ["--password", "short"]));
    expectCleanFailure(r, 1, /email:/);
    expect(r.stderr).toMatch(/password:.*at least 8/);
  });

  test("user list --json lists every user, without password hashes", async () => {
    expectOk(await runCli(addArgs(dir, carol, ["--password", carol.password])));
    const r = expectOk(await runCli(["user", "list", "--json", "--data-dir", dir]));
    const users = JSON.parse(r.stdout) as any[];
    expect(users.map((u) => u.username).sort()).toEqual([alice.username, bob.username, carol.username].sort());
    for (const u of users) {
      expect(typeof u.user_id).toBe("number");
      expect(u.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$/);
      expect(Object.keys(u).filter((k) => /password|hash/.test(k))).toEqual([]);
    }
    expect(r.stdout).not.toContain("$argon2");
    // The table for people too.
    const table = expectOk(await runCli(["user", "list", "--data-dir", dir]));
    expect(table.stdout).toContain(carol.email);
    expect(table.stdout).not.toContain("$argon2");
  });

  test("user show names a user by id, email (any case) or username", async () => {
    const refs = [aliceId, alice.email, alice.email.toUpperCase(), alice.username];
    const results = await Promise.all(refs.map((ref) => runCli(["user", "show", String(ref), "--json", "--data-dir", dir])));
    for (const r of results.map(expectOk)) {
      expect(r.stdout).not.toContain("$argon2");
      const u = JSON.parse(r.stdout);
      expect(u).toMatchObject({ user_id: aliceId, email: alice.email, username: alice.username });
      expect("password_hash" in u).toBe(false);
    }
  });

  test("user passwd sets a new password, from --password or stdin", async () => {
    const first = `first-${uniq()}`;
    expectOk(await runCli(["user", "passwd", carol.username, "--password", first, "--data-dir", dir]));
    expect(await Bun.password.verify(first, storedHash(dir, carol.username))).toBe(true);
    const second = `second-${uniq()}`;
    expectOk(await runCli(["user", "passwd", carol.email, "--password-stdin", "--data-dir", dir], { stdin: second + "\n" }));
    expect(await Bun.password.verify(second, storedHash(dir, carol.username))).toBe(true);
    expect(await Bun.password.verify(first, storedHash(dir, carol.username))).toBe(false);
    expectCleanFailure(await runCli(["user", "passwd", carol.username, "--password", "short", "--data-dir", dir]), 1, /password:.*at least 8/);
  });

  test("disable / enable / promote / demote change what user show reports", async () => {
    const steps: [string, Record<string, unknown>][] = [
      ["disable", { disabled: true, role: "user" }],
      ["promote", { disabled: true, role: "admin" }],
      ["enable", { disabled: false, role: "admin" }],
      ["demote", { disabled: false, role: "user" }],
    ];
    for (const [cmd, expected] of steps) {
      const r = expectOk(await runCli(["user", cmd, String(aliceId), "--json", "--data-dir", dir]));
      expect(JSON.parse(r.stdout)).toMatchObject(expected);
      expect(await show(dir, alice.username)).toMatchObject(expected);
    }
  });

  test("an unknown user exits 1 with a message", async () => {
    await expectCleanFailures(
      [["show", "nobody"], ["disable", "999999"], ["passwd", "nobody@example.test", "--password", "long-enough-1"], ["promote", "nobody"]].map((args) => [
        ["user", ...args, "--data-dir", dir],
        1,
        /no user "/,
      ]),
    );
  });
});

describe("migrate", () => {
  test("a second run applies nothing; each migration is recorded once", async () => {
    const dir = freshDataDir();
    const names = migrations.map((m) => m.name);
    const first = JSON.parse(expectOk(await runCli(["migrate", "--json", "--data-dir", dir])).stdout);
    expect(first).toEqual({ applied: names, migrations: names });
    const second = JSON.parse(expectOk(await runCli(["migrate", "--json", "--data-dir", dir])).stdout);
    expect(second).toEqual({ applied: [], migrations: names });
    expect(expectOk(await runCli(["migrate", "--data-dir", dir])).stdout).toContain("up to date");

    const db = new Database(join(dir, "confab.db"), { readonly: true });
    try {
      const rows = db.query<{ name: string; n: number }, []>("SELECT name, COUNT(*) AS n FROM _migrations GROUP BY name ORDER BY name").all();
      expect(rows).toEqual(names.map((name) => ({ name, n: 1 })));
    } finally {
      db.close();
    }
  });
});

describe("the CLI while the server runs on the same data dir", () => {
  const dir = freshDataDir();
  let server: ServerProcess;

  beforeAll(async () => {
    server = await spawnServer([BUN, CLI, "serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", dir, "--registration", "open"]);
  });

  async function register() {
    const u = newUser();
    const r = await http(server.url, "POST", "/api/v1/auth/register", { ...u, first_name: "Live", last_name: "User" });
    expect(r.status, r.text).toBe(201);
    return { ...u, id: r.body.user.user_id as number, token: r.body.access_token as string };
  }

  const login = (email: string, password: string) => http(server.url, "POST", "/api/v1/auth/login", { email, password });

  test("user disable locks a logged-in user out at once", async () => {
    const u = await register();
    expect((await http(server.url, "GET", "/api/v1/users/me", undefined, u.token)).status).toBe(200);

    expectOk(await runCli(["user", "disable", u.username, "--data-dir", dir]));
    const me = await http(server.url, "GET", "/api/v1/users/me", undefined, u.token);
    expect(me.status, me.text).toBe(401);
    expect(me.body.error.code).toBe("INVALID_TOKEN");
    const denied = await login(u.email, u.password);
    expect(denied.status, denied.text).toBe(403);
    expect(denied.body.error.code).toBe("ACCOUNT_DISABLED");

    // Enabling lets them log in again, but does not bring the ended session back.
    expectOk(await runCli(["user", "enable", String(u.id), "--data-dir", dir]));
    expect((await login(u.email, u.password)).status).toBe(200);
    expect((await http(server.url, "GET", "/api/v1/users/me", undefined, u.token)).status).toBe(401);
  });

  test("a user added by the CLI logs in over HTTP; user passwd takes effect at once", async () => {
    const u = newUser();
    expectOk(await runCli(addArgs(dir, u, ["--password-stdin"]), { stdin: u.password + "\n" }));
    const ok = await login(u.email, u.password);
    expect(ok.status, ok.text).toBe(200);
    expect(ok.body.user.username).toBe(u.username);
    const me = await http(server.url, "GET", "/api/v1/users/me", undefined, ok.body.access_token);
    expect(me.body.user_id).toBe(ok.body.user.user_id);

    const next = `next-${uniq()}`;
    expectOk(await runCli(["user", "passwd", u.username, "--password", next, "--data-dir", dir]));
    expect((await login(u.email, next)).status).toBe(200);
    expect((await login(u.email, u.password)).body.error.code).toBe("INVALID_CREDENTIALS");
  });

  test("SIGTERM stops the server with exit 0 within 10 s", async () => {
    const { code, ms } = await server.stop("SIGTERM", 10_000);
    expect(code, `exit after ${Math.round(ms)} ms; stderr: ${server.stderr()}`).toBe(0);
    expect(ms).toBeLessThan(10_000);
    expect(server.lines.some((l) => l.includes('"shutting down"'))).toBe(true);
  });
});

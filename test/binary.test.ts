/**
 * Smoke test of the single executable (`npm run build` → dist/confab; `npm test` builds it
 * first). The binary is linked into a folder of its own and run from another, empty folder, so
 * nothing of the checkout (node_modules, migrations/, src/) can be found beside it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { tempDir, uniq } from "./harness";
import { http, killAll, ROOT, runCli, spawnServer, type ServerProcess } from "./process";

const DIST = join(ROOT, "dist", "confab");
const root = tempDir("confab-bin-");
const binDir = join(root, "bin");
const cwd = join(root, "run");
const exe = join(binDir, "confab");
/** Relative on purpose: it must land in the working directory. */
const DATA = "data";
const dataDir = join(cwd, DATA);

afterAll(() => {
  killAll();
  rmSync(root, { recursive: true, force: true });
});

beforeAll(() => {
  mkdirSync(binDir);
  mkdirSync(cwd);
  if (!existsSync(DIST)) return; // the first test reports it
  try {
    linkSync(DIST, exe); // instant on one filesystem; 100+ MB to copy otherwise
  } catch {
    copyFileSync(DIST, exe);
  }
});

/** Fail (never skip) when there is nothing to test. */
function requireBinary() {
  if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run \`npm run build\` first (\`npm test\` builds it unless CONFAB_SKIP_BUILD is set)`);
}

const mode = (path: string) => statSync(path).mode & 0o777;
const octal = (m: number) => m.toString(8).padStart(4, "0");

describe("dist/confab", () => {
  let server: ServerProcess;

  test("exists (build it with `npm run build`; `npm test` does)", () => {
    requireBinary();
    const r = Bun.spawnSync([exe, "--help"], { cwd, timeout: 10_000 });
    expect(r.exitCode, r.stderr.toString()).toBe(0);
    expect(r.stdout.toString()).toContain("serve");
  });

  test("serves from an empty folder: health, register, login, profile", async () => {
    requireBinary();
    expect(readdirSync(cwd)).toEqual([]);
    server = await spawnServer([exe, "serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", DATA, "--registration", "open"], { cwd });

    const health = await http(server.url, "GET", "/healthz");
    expect(health.status).toBe(200);
    expect(health.body).toEqual({ status: "ok" });
    expect((await http(server.url, "GET", "/readyz")).status).toBe(200);

    const tag = uniq();
    const input = { email: `b${tag}@example.test`, username: `b${tag}`, password: `pw-${tag}-secret`, first_name: "Bin", last_name: "Ary" };
    const reg = await http(server.url, "POST", "/api/v1/auth/register", input);
    expect(reg.status, reg.text).toBe(201);
    const login = await http(server.url, "POST", "/api/v1/auth/login", { email: input.email, password: input.password });
    expect(login.status, login.text).toBe(200);
    expect(login.body.expires_in).toBeGreaterThan(0);
    const me = await http(server.url, "GET", "/api/v1/users/me", undefined, login.body.access_token);
    expect(me.status, me.text).toBe(200);
    expect(me.body).toMatchObject({ user_id: reg.body.user.user_id, username: input.username, first_name: "Bin", last_name: "Ary" });

    // The docs UI is served from files embedded in the executable.
    const ui = await fetch(`${server.url}/api/docs/swagger-ui.js`);
    expect(ui.status).toBe(200);
    expect((await ui.arrayBuffer()).byteLength).toBeGreaterThan(100_000);

    // The embedded CLI works on the running server's data dir too.
    const list = await runCli(["user", "list", "--json", "--data-dir", DATA], { cmd: [exe], cwd });
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout).map((u: any) => u.username)).toEqual([input.username]);
  });

  test("SIGTERM: exit 0 within 10 s", async () => {
    requireBinary();
    expect(server, "the server did not start").toBeDefined();
    const { code, ms } = await server.stop("SIGTERM", 10_000);
    expect(code, `exit after ${Math.round(ms)} ms; stderr: ${server.stderr()}`).toBe(0);
  });

  test("the data dir, its secrets and the database are owner-only", () => {
    requireBinary();
    expect(octal(mode(dataDir))).toBe("0700");
    for (const secret of ["jwt-secret.key", "vapid-keys.json"]) expect(`${secret} ${octal(mode(join(dataDir, secret)))}`).toBe(`${secret} 0600`);
    // The database and whatever SQLite left beside it (-wal, -shm): no group or other bits.
    const dbFiles = readdirSync(dataDir).filter((f) => f.startsWith("confab.db"));
    expect(dbFiles).toContain("confab.db");
    for (const f of dbFiles) expect(`${f} ${octal(mode(join(dataDir, f)) & 0o077)}`).toBe(`${f} 0000`);
  });
});

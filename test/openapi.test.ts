/**
 * The generated REST reference (README: `/api/docs`, `/api/docs/json`): every REST route is in
 * the spec with its request body schema, and the docs page loads nothing from another origin.
 * The app is the real one, listening on 127.0.0.1; its route table is the ground truth.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { defaultConfig } from "../src/config";
import { buildHttpApp, openCore, type Core } from "../src/app";
import { Logger } from "../src/lib/log";
import { tempDir } from "./harness";

/** Served by the app but not part of the REST API. */
// /graphql documents itself through introspection (see README).
const UNDOCUMENTED = [/^\/metrics$/, /^\/healthz$/, /^\/readyz$/, /^\/api\/docs(\/|$)/, /^\/graphql$/];
const HTTP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"];

const dataDir = tempDir("confab-openapi-");
let core: Core;
let app: ReturnType<typeof buildHttpApp>;
let base: string;
let spec: any;

beforeAll(async () => {
  core = await openCore({ ...defaultConfig(), dataDir, logLevel: "silent" }, new Logger("silent"));
  app = buildHttpApp(core, { shuttingDown: false });
  app.app.listen({ hostname: "127.0.0.1", port: 0 });
  base = `http://127.0.0.1:${app.app.server!.port}`;
  const r = await fetch(`${base}/api/docs/json`);
  expect(r.status).toBe(200);
  spec = await r.json();
});

afterAll(async () => {
  app?.stopHousekeeping();
  await app?.app.stop(true);
  core?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** `/users/:user_id` → `/users/{user_id}`, as OpenAPI writes path parameters. */
const openApiPath = (path: string) => path.replace(/:([^/]+)/g, "{$1}");

describe("OpenAPI document", () => {
  test("is OpenAPI 3.1 with a bearer security scheme", () => {
    expect(spec.openapi).toMatch(/^3\.1\./);
    expect(spec.info.title).toBe("confab");
    expect(spec.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" });
  });

  test("documents every REST route the app serves, and only those", () => {
    // WebSocket upgrades (method WS) are not REST operations; OpenAPI has no way to say them.
    const served = app.app.routes
      .filter((r) => HTTP_METHODS.includes(r.method) && !UNDOCUMENTED.some((re) => re.test(r.path)))
      .map((r) => `${r.method} ${openApiPath(r.path)}`);
    const documented = Object.entries(spec.paths as Record<string, Record<string, unknown>>).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(served.length).toBeGreaterThan(10);
    expect(documented.sort()).toEqual([...new Set(served)].sort());
  });

  test("POST /api/v1/auth/register has a JSON request body schema with its properties", () => {
    const body = spec.paths["/api/v1/auth/register"].post.requestBody;
    const schema = body.content["application/json"].schema;
    expect(schema.type).toBe("object");
    for (const field of ["email", "password", "username", "first_name", "last_name", "device_id", "device_type", "platform"]) {
      expect(schema.properties[field]?.type, field).toBe("string");
    }
    expect([...schema.required].sort()).toEqual(["email", "first_name", "last_name", "password", "username"]);
  });

  test("every route with a body schema documents it as JSON", () => {
    const withBody = app.app.routes.filter((r) => HTTP_METHODS.includes(r.method) && (r.hooks as { body?: unknown }).body);
    expect(withBody.length).toBeGreaterThan(3);
    for (const r of withBody) {
      const op = spec.paths[openApiPath(r.path)]?.[r.method.toLowerCase()];
      const schema = op?.requestBody?.content?.["application/json"]?.schema;
      expect(schema, `${r.method} ${r.path} has no JSON request body schema`).toBeDefined();
      expect(Object.keys(schema).length, `${r.method} ${r.path}`).toBeGreaterThan(0);
    }
  });
});

describe("docs page", () => {
  test("loads its script and styles from this server, never a CDN", async () => {
    const page = await fetch(`${base}/api/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    const html = await page.text();
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThanOrEqual(3);
    for (const ref of refs) {
      expect(ref, "an asset from another origin").toStartWith("/api/docs/");
      const r = await fetch(base + ref);
      expect(r.status, ref).toBe(200);
      expect((await r.arrayBuffer()).byteLength, ref).toBeGreaterThan(50);
    }
    expect(html).not.toMatch(/https?:\/\//);
    // The page's initializer reads our spec, and does not ask a remote validator about it.
    const init = await (await fetch(`${base}/api/docs/init.js`)).text();
    expect(init).toContain('"/api/docs/json"');
    expect(init).toContain("validatorUrl: null");
  });
});

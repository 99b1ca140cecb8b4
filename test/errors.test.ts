/**
 * The error envelope, request ids, body limits, the access log and the health endpoints
 * (CONTRACT §1, §3), end to end.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eventually, expectError, startTestServer, type Res, type TestServer, type TestUser } from "./harness";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let s: TestServer;
let u: TestUser;

beforeAll(async () => {
  s = await startTestServer({ registration: "open", maxBodyBytes: 4096 });
  u = await s.register();
});
afterAll(async () => {
  await s.stop();
});

function expectEnvelope(r: Res, status: number, code: string) {
  const e = expectError(r, status, code);
  expect(Object.keys(r.body)).toEqual(["error"]);
  expect(r.headers.get("content-type")).toStartWith("application/json");
  expect(e.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$/);
  expect(Math.abs(Date.parse(e.timestamp) - Date.now())).toBeLessThan(60_000);
  expect(e.request_id).toBe(r.headers.get("x-request-id")!);
  return e;
}

/** POST a body sent as a stream: no Content-Length, Transfer-Encoding: chunked. */
async function postChunked(path: string, chunks: number, chunkBytes: number, first = "", contentType = "application/json"): Promise<Res> {
  const enc = new TextEncoder();
  let i = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (i === 0 && first) c.enqueue(enc.encode(first));
      if (i++ >= chunks) return c.close();
      c.enqueue(enc.encode("x".repeat(chunkBytes)));
    },
  });
  const res = await fetch(s.url + path, { method: "POST", headers: { "content-type": contentType }, body: stream });
  const text = await res.text();
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: res.status, headers: res.headers, body, text };
}

describe("the envelope", () => {
  test("a body that is not JSON → 400 INVALID_JSON", async () => {
    for (const raw of ["{bad json", '{"email": "a@b.c",}', "[1, 2", "\u0000"]) {
      const r = await s.request("POST", "/api/v1/auth/login", null, raw);
      expectEnvelope(r, 400, "INVALID_JSON");
    }
  });

  test("an unknown /api/v1 route → 404 NOT_FOUND envelope", async () => {
    expectEnvelope(await s.get("/api/v1/no-such-thing", u.token), 404, "NOT_FOUND");
    expectEnvelope(await s.get("/api/v1/no-such-thing"), 404, "NOT_FOUND");
    expectEnvelope(await s.post("/api/v1/users/me/nothing-here", u.token, {}), 404, "NOT_FOUND");
    expectEnvelope(await s.get("/not-even-api"), 404, "NOT_FOUND");
  });

  test("validation errors carry details: [{field, message}]", async () => {
    const e = expectEnvelope(await s.post("/api/v1/auth/login", null, { email: 5 }), 400, "VALIDATION_ERROR");
    expect(Array.isArray(e.details)).toBe(true);
    for (const d of e.details) {
      expect(Object.keys(d).sort()).toEqual(["field", "message"]);
      expect(typeof d.field).toBe("string");
      expect(typeof d.message).toBe("string");
    }
    expect(e.details.map((d: any) => d.field)).toContain("email");
  });

  test("non-validation errors have no details", async () => {
    const e = expectEnvelope(await s.get("/api/v1/users/me"), 401, "AUTH_REQUIRED");
    expect(e).not.toHaveProperty("details");
  });
});

describe("request ids", () => {
  test("generated when absent, and equal to error.request_id", async () => {
    const r = await s.get("/api/v1/users/me");
    const id = r.headers.get("x-request-id")!;
    expect(id).toMatch(UUID);
    expect(r.body.error.request_id).toBe(id);
    const again = await s.get("/api/v1/users/me");
    expect(again.headers.get("x-request-id")).not.toBe(id);
  });

  test("a sane client id is echoed, in the header and the envelope", async () => {
    for (const given of ["abc-123", "trace.id:42_x", "A".repeat(128), crypto.randomUUID()]) {
      const r = await s.get("/api/v1/users/me", null, { "x-request-id": given });
      expect(r.headers.get("x-request-id")).toBe(given);
      expect(r.body.error.request_id).toBe(given);
    }
    const ok = await s.get("/api/v1/users/me", u.token, { "x-request-id": "ok-request-1" });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("x-request-id")).toBe("ok-request-1");
  });

  test("an insane client id is replaced", async () => {
    for (const given of ["A".repeat(129), "has space", "<script>", "semi;colon", "quote\"d", "ünïcode", "a/b"]) {
      const r = await s.get("/api/v1/users/me", null, { "x-request-id": given });
      const id = r.headers.get("x-request-id")!;
      expect(id).not.toBe(given);
      expect(id).toMatch(UUID);
      expect(r.body.error.request_id).toBe(id);
    }
  });

  test("every response has one, whatever its status or path", async () => {
    const responses = [
      await s.get("/healthz"),
      await s.get("/readyz"),
      await s.get("/metrics"),
      await s.get("/api/docs/json"),
      await s.get("/api/v1/users/me", u.token),
      await s.get("/api/v1/users/me"),
      await s.get("/api/v1/nope"),
      await s.get("/nope"),
      await s.request("POST", "/api/v1/auth/login", null, "{"),
      await s.request("POST", "/api/v1/auth/login", null, "x".repeat(5000)),
      await s.request("OPTIONS", "/api/v1/users/me"),
    ];
    for (const r of responses) expect(r.headers.get("x-request-id") ?? `missing on ${r.status} ${r.text.slice(0, 80)}`).toMatch(UUID);
  });
});

describe("body limits", () => {
  test("a JSON body over maxBodyBytes with Content-Length → 413 PAYLOAD_TOO_LARGE", async () => {
    const body = JSON.stringify({ email: "a@b.c", password: "x".repeat(5000) });
    const r = await s.request("POST", "/api/v1/auth/login", null, body);
    expectEnvelope(r, 413, "PAYLOAD_TOO_LARGE");
    const authed = await s.put(`/api/v1/users/${u.user_id}`, u.token, { status_message: "y".repeat(5000) });
    expectEnvelope(authed, 413, "PAYLOAD_TOO_LARGE");
    // Just under the limit is fine (and reaches validation).
    const under = await s.post("/api/v1/auth/login", null, { email: "a@b.c", password: "x".repeat(3000) });
    expectEnvelope(under, 400, "VALIDATION_ERROR");
  });

  test("a chunked body (no Content-Length) over the limit → 413", async () => {
    const r = await postChunked("/api/v1/auth/login", 64, 1024, '{"email":"a@b.c","password":"');
    expectEnvelope(r, 413, "PAYLOAD_TOO_LARGE");
  });

  test("a chunked body over the limit → 413 whatever its content type", async () => {
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "application/octet-stream", "multipart/form-data; boundary=x"]) {
      expectEnvelope(await postChunked("/api/v1/auth/login", 64, 1024, "", type), 413, "PAYLOAD_TOO_LARGE");
    }
    // Under the limit, a non-JSON body reaches validation as before.
    expectEnvelope(await postChunked("/api/v1/auth/login", 1, 100, "", "text/plain"), 400, "VALIDATION_ERROR");
  });

  test("a small chunked body is read normally", async () => {
    const enc = new TextEncoder();
    const parts = [`{"email":"${u.email}",`, `"password":"${u.password}"}`];
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        const p = parts.shift();
        if (p === undefined) c.close();
        else c.enqueue(enc.encode(p));
      },
    });
    const res = await fetch(s.url + "/api/v1/auth/login", { method: "POST", headers: { "content-type": "application/json" }, body: stream });
    expect(res.status).toBe(200);
    expect((await res.json()).user.user_id).toBe(u.user_id);
  });

  test("a 30 MB JSON body against the default limit → 413 envelope, not a dropped connection", async () => {
    const big = await startTestServer({ registration: "open" });
    try {
      const who = await big.register();
      const body = JSON.stringify({ status_message: "x".repeat(30 * 1024 * 1024) });
      const r = await big.request("PUT", `/api/v1/users/${who.user_id}`, who.token, body);
      expectEnvelope(r, 413, "PAYLOAD_TOO_LARGE");
      // The server is fine afterwards.
      expect((await big.get("/api/v1/users/me", who.token)).status).toBe(200);
    } finally {
      await big.stop();
    }
  });
});

describe("unexpected failures", () => {
  test("a thrown bug → 500 INTERNAL_ERROR, logged with its stack, none of it in the body", async () => {
    const broken = await startTestServer({ registration: "open" });
    try {
      const who = await broken.register();
      // Break the database under the running server: search joins this table.
      broken.server.core.db.exec("DROP TABLE participants");
      const r = await broken.get("/api/v1/users/search?q=a", who.token, { "x-request-id": "boom-1" });
      const e = expectEnvelope(r, 500, "INTERNAL_ERROR");
      expect(e.request_id).toBe("boom-1");
      for (const leak of ["participants", "no such table", "SQLite", ".ts:", "    at ", "stack"]) expect(r.text).not.toContain(leak);
      const line = await eventually(() => broken.logs.find((l) => l.level === "error" && l.request_id === "boom-1"), 2000, "the error log line");
      expect(JSON.stringify(line)).toContain("participants");
      expect(typeof line.stack).toBe("string");
      // One broken endpoint does not take the others down.
      expect((await broken.get("/api/v1/users/me", who.token)).status).toBe(200);
    } finally {
      await broken.stop();
    }
  });
});

describe("access log", () => {
  test("one JSON line per request: method, path, status, ms, request_id, user_id", async () => {
    const tag = `log-${Date.now()}`;
    await s.get("/api/v1/users/me", u.token, { "x-request-id": `${tag}-a` });
    await s.get("/api/v1/users/me", null, { "x-request-id": `${tag}-b` });
    await s.get("/api/v1/nowhere", null, { "x-request-id": `${tag}-c` });
    await s.request("POST", "/api/v1/auth/login", null, "{", { "x-request-id": `${tag}-d` });
    await s.get(`/api/v1/users/search?q=zz&token=secret-in-query`, u.token, { "x-request-id": `${tag}-e` });
    const expected: [string, string, string, number, number | null][] = [
      ["a", "GET", "/api/v1/users/me", 200, u.user_id],
      ["b", "GET", "/api/v1/users/me", 401, null],
      ["c", "GET", "/api/v1/nowhere", 404, null],
      ["d", "POST", "/api/v1/auth/login", 400, null],
      ["e", "GET", "/api/v1/users/search", 200, u.user_id],
    ];
    for (const [suffix, method, path, status, userId] of expected) {
      const id = `${tag}-${suffix}`;
      await eventually(() => s.logs.find((l) => l.msg === "request" && l.request_id === id), 2000, `access log of ${id}`);
      await Bun.sleep(20);
      const lines = s.logs.filter((l) => l.msg === "request" && l.request_id === id);
      expect(lines).toHaveLength(1);
      const l = lines[0]!;
      expect(l).toMatchObject({ method, path, status, request_id: id, user_id: userId });
      expect(typeof l.ms).toBe("number");
      expect(l.ms).toBeGreaterThanOrEqual(0);
      expect(typeof l.time).toBe("string");
      expect(l.level).toBe("info");
    }
    // Query strings (which may carry secrets) stay out of the log.
    expect(JSON.stringify(s.logs)).not.toContain("secret-in-query");
  });
});

describe("health and metrics", () => {
  test("/healthz → 200 {status: ok}; /readyz → 200", async () => {
    const h = await s.get("/healthz");
    expect(h.status).toBe(200);
    expect(h.body).toEqual({ status: "ok" });
    const r = await s.get("/readyz");
    expect(r.status).toBe(200);
  });

  test("/readyz → 503 when the database does not answer", async () => {
    const sick = await startTestServer();
    try {
      sick.server.core.db.close();
      const r = await sick.get("/readyz");
      expect(r.status).toBe(503);
      expect((await sick.get("/healthz")).status).toBe(200);
    } finally {
      await sick.stop();
    }
  });

  test("/metrics: Prometheus text with requests by route and status, latency, memory", async () => {
    await s.get(`/api/v1/users/${u.user_id}`, u.token);
    await s.get("/api/v1/users/987654", u.token);
    const junk = `scanner-${crypto.randomUUID()}`;
    await s.get(`/api/v1/${junk}`);
    let m = "";
    for (let i = 0; i < 50; i++) {
      const r = await s.get("/metrics");
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type")).toStartWith("text/plain");
      m = r.text;
      if (m.includes('status="404"') && m.includes('route="/api/v1/users/:user_id",status="200"')) break;
      await Bun.sleep(20);
    }
    expect(m).toContain("# TYPE confab_http_requests_total counter");
    expect(m).toMatch(/confab_http_requests_total\{method="GET",route="\/api\/v1\/users\/:user_id",status="200"\} \d+/);
    expect(m).toMatch(/confab_http_requests_total\{method="GET",route="\/api\/v1\/users\/:user_id",status="404"\} \d+/);
    expect(m).toContain("# TYPE confab_http_request_duration_seconds histogram");
    expect(m).toMatch(/confab_http_request_duration_seconds_bucket\{le="[\d.]+",method="GET",route="\/api\/v1\/users\/:user_id"\} \d+/);
    expect(m).toMatch(/confab_http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/users\/:user_id"\} \d+/);
    expect(m).toMatch(/confab_process_resident_memory_bytes \d+/);
    // Unmatched paths share one label: a scanner cannot mint a series per URL.
    expect(m).not.toContain(junk);
  });
});

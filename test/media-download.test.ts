/**
 * Media downloads over real HTTP (CONTRACT §10): signed URLs that work without a token and stop
 * working when expired or tampered with (403), exact byte ranges (206), ETag revalidation (304).
 * Expired links are signed here with the server's own key, read from its data dir, following
 * the documented scheme; that also pins the scheme down.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expectError, startTestServer, type TestServer, type TestUser } from "./harness";
import { directConversation, fetchMedia, makeMp4, makePng, reachable, uploadOk } from "./media-fixtures";

let s: TestServer;
let alice: TestUser;
let conv: number;
let mp4: Buffer;
let file: any;
let png: any;

beforeAll(async () => {
  s = await startTestServer({ registration: "open" });
  alice = await s.register();
  conv = await directConversation(s, alice, await s.register());
  mp4 = makeMp4(50_000);
  file = await uploadOk(s, alice, mp4, { name: "clip.mp4", conversationId: conv, messageType: "video" });
  png = await uploadOk(s, alice, await makePng(100, 100), { name: "p.png", conversationId: conv, messageType: "image" });
});
afterAll(() => s?.stop());

/** The server's URL-signing scheme, from outside: HMAC(HMAC(secret, label), variant\nid\nexp). */
function sign(fileId: string, variant: "file" | "thumbnail", exp: number): string {
  const secret = Buffer.from(readFileSync(join(s.dataDir, "jwt-secret.key"), "utf8").trim(), "base64url");
  const key = createHmac("sha256", secret).update("media-url-signing").digest();
  const sig = createHmac("sha256", key).update(`${variant}\n${fileId}\n${exp}`).digest("base64url");
  return `${s.url}/media/${fileId}${variant === "thumbnail" ? "/thumbnail" : ""}?exp=${exp}&sig=${sig}`;
}

const now = () => Math.floor(Date.now() / 1000);

describe("signed URLs", () => {
  test("point at the public URL (http://localhost:<port> by default), expire within the TTL (+ one rounding step)", () => {
    const u = new URL(file.file_url);
    expect(u.origin).toBe(`http://localhost:${s.server.port}`);
    expect(u.pathname).toBe(`/media/${file.file_id}`);
    const exp = Number(u.searchParams.get("exp"));
    expect(exp).toBeGreaterThan(now() + 3600 - 5);
    expect(exp).toBeLessThanOrEqual(now() + 3600 + 360 + 5);
    expect(u.searchParams.get("sig")).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  test("work without any Authorization header", async () => {
    const r = await fetchMedia(s, file.file_url);
    expect(r.status).toBe(200);
    expect(r.bytes.equals(mp4)).toBe(true);
  });

  test("a URL signed with the server's key by the documented scheme works", async () => {
    expect((await fetchMedia(s, sign(file.file_id, "file", now() + 60))).status).toBe(200);
  });

  test("expired → 403 FORBIDDEN (the envelope, saying so)", async () => {
    const res = await fetch(reachable(s, sign(file.file_id, "file", now() - 1)));
    const body = (await res.json()) as any;
    expect(res.status).toBe(403);
    expect(body.error.code).toBe("FORBIDDEN");
    expect(body.error.message).toContain("expired");
  });

  test("tampered → 403: signature changed, expiry pushed out, another file's id, file signature on the thumbnail, missing parts", async () => {
    const u = new URL(reachable(s, png.file_url));
    const sig = u.searchParams.get("sig")!;
    const exp = u.searchParams.get("exp")!;
    const flip = (c: string) => (c === "A" ? "B" : "A");
    const bad = [
      `${u.origin}${u.pathname}?exp=${exp}&sig=${flip(sig[0]!)}${sig.slice(1)}`,
      `${u.origin}${u.pathname}?exp=${Number(exp) + 3600}&sig=${sig}`,
      `${u.origin}/media/${file.file_id}?exp=${exp}&sig=${sig}`,
      `${u.origin}${u.pathname}/thumbnail?exp=${exp}&sig=${sig}`,
      `${u.origin}${u.pathname}?exp=${exp}`,
      `${u.origin}${u.pathname}?sig=${sig}`,
      `${u.origin}${u.pathname}`,
      `${u.origin}/media/not-a-uuid?exp=${exp}&sig=${sig}`,
    ];
    for (const url of bad) {
      const res = await fetch(url);
      const text = await res.text();
      expect(`${res.status} ${url}`).toBe(`403 ${url}`);
      expectError({ status: res.status, headers: res.headers, body: JSON.parse(text), text }, 403, "FORBIDDEN");
    }
  });
});

describe("Range", () => {
  const get = (range: string, extra: Record<string, string> = {}) => fetchMedia(s, file.file_url, { range, ...extra });

  test("bytes=10-29 → 206, Content-Range, exactly those bytes", async () => {
    const r = await get("bytes=10-29");
    expect(r.status).toBe(206);
    expect(r.headers.get("content-range")).toBe(`bytes 10-29/${mp4.length}`);
    expect(r.headers.get("content-length")).toBe("20");
    expect(r.bytes.equals(mp4.subarray(10, 30))).toBe(true);
  });

  test("open-ended, suffix, past-the-end end, the last byte: exact bytes each", async () => {
    const n = mp4.length;
    const cases: [string, number, number][] = [
      [`bytes=${n - 1000}-`, n - 1000, n],
      ["bytes=-500", n - 500, n],
      [`bytes=${n - 10}-${n + 1000}`, n - 10, n],
      [`bytes=${n - 1}-${n - 1}`, n - 1, n],
      ["bytes=0-0", 0, 1],
    ];
    for (const [range, from, to] of cases) {
      const r = await get(range);
      expect(`${range} ${r.status}`).toBe(`${range} 206`);
      expect(r.headers.get("content-range")).toBe(`bytes ${from}-${to - 1}/${n}`);
      expect(r.bytes.equals(mp4.subarray(from, to))).toBe(true);
    }
  });

  test("a range starting past the end → 416 with Content-Range: bytes */size", async () => {
    const r = await get(`bytes=${mp4.length}-`);
    expect(r.status).toBe(416);
    expect(r.headers.get("content-range")).toBe(`bytes */${mp4.length}`);
  });

  test("several ranges, a malformed one, or a stale If-Range → the whole file (200)", async () => {
    for (const [range, extra] of [
      ["bytes=0-1,5-6", {}],
      ["lines=1-2", {}],
      ["bytes=0-9", { "if-range": '"some-old-etag"' }],
    ] as [string, Record<string, string>][]) {
      const r = await get(range, extra);
      expect(`${range} ${r.status}`).toBe(`${range} 200`);
      expect(r.bytes.equals(mp4)).toBe(true);
    }
  });

  test("a range of the thumbnail works the same way", async () => {
    const whole = (await fetchMedia(s, png.thumbnail_url)).bytes;
    const r = await fetchMedia(s, png.thumbnail_url, { range: "bytes=4-11" });
    expect(r.status).toBe(206);
    expect(r.bytes.equals(whole.subarray(4, 12))).toBe(true);
  });
});

describe("ETag", () => {
  test("strong, the content hash; If-None-Match with it → 304 without a body; another tag → 200", async () => {
    const first = await fetchMedia(s, file.file_url);
    const etag = first.headers.get("etag")!;
    expect(etag).toBe(`"${new Bun.CryptoHasher("sha256").update(mp4).digest("hex")}"`);
    const again = await fetchMedia(s, file.file_url, { "if-none-match": etag });
    expect(again.status).toBe(304);
    expect(again.bytes.length).toBe(0);
    expect(again.headers.get("etag")).toBe(etag);
    expect((await fetchMedia(s, file.file_url, { "if-none-match": `W/${etag}, "x"` })).status).toBe(304);
    expect((await fetchMedia(s, file.file_url, { "if-none-match": '"something-else"' })).status).toBe(200);
  });

  test("cacheable only while the link lives", async () => {
    const r = await fetchMedia(s, file.file_url);
    const maxAge = Number(/max-age=(\d+)/.exec(r.headers.get("cache-control")!)![1]);
    const exp = Number(new URL(file.file_url).searchParams.get("exp"));
    expect(r.headers.get("cache-control")).toStartWith("private");
    expect(maxAge).toBeLessThanOrEqual(exp - now() + 1);
    expect(maxAge).toBeGreaterThan(3000);
  });
});

/**
 * Profile pictures (CONTRACT §6): PUT /api/v1/users/{id}/picture with a multipart image stores a
 * square, resized, metadata-free copy and sets profile_picture_url (a signed media link, shown to
 * everyone who sees the profile); only the user themself may; DELETE clears it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { expectError, startTestServer, type Res, type TestServer, type TestUser } from "./harness";
import { CAMERA_OWNER, EVIL_HTML, fetchMedia, inspect, makeJpegWithGps, makePdf, makePng } from "./media-fixtures";

let s: TestServer;
let alice: TestUser;
let bob: TestUser;

beforeAll(async () => {
  s = await startTestServer({ registration: "open" });
  [alice, bob] = [await s.register(), await s.register()];
});
afterAll(() => s?.stop());

async function putPicture(u: TestUser, userId: number, bytes: Uint8Array, name = "me.jpg"): Promise<Res> {
  const fd = new FormData();
  fd.append("file", new Blob([bytes as BlobPart], { type: "image/jpeg" }), name);
  const res = await fetch(`${s.url}/api/v1/users/${userId}/picture`, { method: "PUT", headers: { authorization: `Bearer ${u.token}` }, body: fd });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined, text };
}

describe("PUT /api/v1/users/{id}/picture", () => {
  test("a 1200×800 photo with GPS → a 512×512 WebP without metadata, linked from the profile", async () => {
    const r = await putPicture(alice, alice.user_id, await makeJpegWithGps(1200, 800));
    expect(r.status, r.text).toBe(200);
    expect(r.body.success).toBe(true);
    const url = r.body.user.profile_picture_url;
    expect(new URL(url).pathname).toMatch(/^\/media\/[0-9a-f-]{36}$/);
    expect(new URL(url).searchParams.get("sig")).toBeTruthy();

    const pic = await fetchMedia(s, url);
    expect(pic.status).toBe(200);
    expect(pic.headers.get("content-type")).toBe("image/webp");
    const m = await inspect(pic.bytes);
    expect([m.format, m.width, m.height]).toEqual(["webp", 512, 512]);
    expect(m.exif).toBeUndefined();
    expect(pic.bytes.includes(CAMERA_OWNER)).toBe(false);
  });

  test("everyone who sees the profile sees the picture: /users/me, /users/{id}, search", async () => {
    const me = await s.get("/api/v1/users/me", alice.token);
    const seen = await s.get(`/api/v1/users/${alice.user_id}`, bob.token);
    const found = await s.get(`/api/v1/users/search?q=${alice.username}`, bob.token);
    for (const url of [me.body.profile_picture_url, seen.body.profile_picture_url, found.body.users[0].profile_picture_url]) {
      expect(url).toBeString();
      expect((await fetchMedia(s, url)).status).toBe(200);
    }
  });

  test("a new picture replaces the old one, whose link stops working", async () => {
    const first = (await putPicture(alice, alice.user_id, await makePng(300, 300))).body.user.profile_picture_url;
    const second = (await putPicture(alice, alice.user_id, await makePng(400, 200))).body.user.profile_picture_url;
    expect(new URL(second).pathname).not.toBe(new URL(first).pathname);
    expect((await fetchMedia(s, second)).status).toBe(200);
    expect((await fetchMedia(s, first)).status).toBe(404);
  });

  test("someone else's picture → 403 FORBIDDEN; no token → 401; an unknown user → 403 (not theirs either)", async () => {
    const png = await makePng(50, 50);
    expectError(await putPicture(bob, alice.user_id, png), 403, "FORBIDDEN");
    const anon = await fetch(`${s.url}/api/v1/users/${alice.user_id}/picture`, { method: "PUT", body: new FormData() });
    expect(anon.status).toBe(401);
    expectError(await putPicture(bob, 987_654, png), 403, "FORBIDDEN");
  });

  test("not an image → 415 UNSUPPORTED_MEDIA_TYPE (PDF, HTML renamed .jpg)", async () => {
    expectError(await putPicture(alice, alice.user_id, makePdf(), "me.pdf"), 415, "UNSUPPORTED_MEDIA_TYPE");
    expectError(await putPicture(alice, alice.user_id, EVIL_HTML, "me.jpg"), 415, "UNSUPPORTED_MEDIA_TYPE");
  });

  test("without a file → 400 VALIDATION_ERROR", async () => {
    const res = await fetch(`${s.url}/api/v1/users/${alice.user_id}/picture`, { method: "PUT", headers: { authorization: `Bearer ${alice.token}` }, body: new FormData() });
    expect(res.status).toBe(400);
  });
});

describe("DELETE /api/v1/users/{id}/picture", () => {
  test("clears it: profile_picture_url null, the old link 404; only the user themself", async () => {
    const url = (await putPicture(bob, bob.user_id, await makePng(64, 64))).body.user.profile_picture_url;
    expectError(await s.del(`/api/v1/users/${bob.user_id}/picture`, alice.token), 403, "FORBIDDEN");
    const r = await s.del(`/api/v1/users/${bob.user_id}/picture`, bob.token);
    expect(r.status).toBe(200);
    expect(r.body.user.profile_picture_url).toBeNull();
    expect((await s.get(`/api/v1/users/${bob.user_id}`, alice.token)).body.profile_picture_url).toBeNull();
    expect((await fetchMedia(s, url)).status).toBe(404);
    // Clearing twice is fine.
    expect((await s.del(`/api/v1/users/${bob.user_id}/picture`, bob.token)).status).toBe(200);
  });
});

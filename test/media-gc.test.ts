/**
 * `confab media gc` (the real CLI, as a child process) on the data dir of a running server:
 * it removes uploads nothing references (deleted messages, replaced pictures, never sent once
 * old enough) and stored objects no upload uses, reports each, and keeps everything still in use.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTestServer, type TestServer, type TestUser } from "./harness";
import { killAll, runCli } from "./process";
import { directConversation, fetchMedia, filesUnder, makeJpeg, makePdf, makePng, upload, uploadOk } from "./media-fixtures";

let s: TestServer;
let alice: TestUser;
let conv: number;
let blobs: string;
let tmp: string;
const ids: Record<string, any> = {};
const TWO_DAYS_AGO = new Date(Date.now() - 2 * 86_400_000);

async function sendWith(file: any, type = "image") {
  const r = await s.post(`/api/v1/conversations/${conv}/messages`, alice.token, { message_type: type, media_attachments: [{ file_id: file.file_id }] });
  if (r.status !== 201) throw new Error(r.text);
  return r.body;
}

async function setPicture(bytes: Uint8Array) {
  const fd = new FormData();
  fd.append("file", new Blob([bytes as BlobPart]), "me.jpg");
  const r = await fetch(`${s.url}/api/v1/users/${alice.user_id}/picture`, { method: "PUT", headers: { authorization: `Bearer ${alice.token}` }, body: fd });
  if (r.status !== 200) throw new Error(await r.text());
  return ((await r.json()) as any).user.profile_picture_url as string;
}

const gc = async (...args: string[]) => {
  const r = await runCli(["media", "gc", "--data-dir", s.dataDir, ...args]);
  expect(r.code, r.stderr).toBe(0);
  return r;
};
const gcJson = async (...args: string[]) => JSON.parse((await gc("--json", ...args)).stdout);

beforeAll(async () => {
  s = await startTestServer({ registration: "open" });
  alice = await s.register();
  conv = await directConversation(s, alice, await s.register());
  blobs = join(s.dataDir, "media", "blobs");
  tmp = join(s.dataDir, "media", "tmp");

  ids.sent = await uploadOk(s, alice, await makePng(40, 30), { conversationId: conv, messageType: "image" });
  await sendWith(ids.sent);
  ids.neverSent = await uploadOk(s, alice, await makePng(41, 30), { conversationId: conv, messageType: "image" });
  ids.deleted = await uploadOk(s, alice, await makePng(42, 30), { conversationId: conv, messageType: "image" });
  const m = await sendWith(ids.deleted);
  await s.del(`/api/v1/messages/${m.message_id}`, alice.token);
  // Two uploads of the same bytes: one message deleted, the other kept.
  const pdf = makePdf("shared");
  ids.sharedGone = await uploadOk(s, alice, pdf, { conversationId: conv, messageType: "file" });
  await s.del(`/api/v1/messages/${(await sendWith(ids.sharedGone, "file")).message_id}`, alice.token);
  ids.sharedKept = await uploadOk(s, alice, pdf, { conversationId: conv, messageType: "file" });
  await sendWith(ids.sharedKept, "file");
  ids.oldPicture = await setPicture(await makeJpeg(300, 200));
  ids.picture = await setPicture(await makeJpeg(200, 300));

  // Debris: a stored object no row names and a temp file a crash left, both old; a fresh temp file.
  const orphan = "f".repeat(64);
  mkdirSync(join(blobs, "ff"), { recursive: true });
  writeFileSync(join(blobs, "ff", orphan), "orphan");
  utimesSync(join(blobs, "ff", orphan), TWO_DAYS_AGO, TWO_DAYS_AGO);
  writeFileSync(join(tmp, "upload-crashed"), "half an upload");
  utimesSync(join(tmp, "upload-crashed"), TWO_DAYS_AGO, TWO_DAYS_AGO);
  writeFileSync(join(tmp, "upload-in-flight"), "being written");
});

afterAll(async () => {
  killAll();
  await s?.stop();
});

describe("confab media gc", () => {
  test("--dry-run lists what would go and removes nothing", async () => {
    const before = filesUnder(join(s.dataDir, "media"));
    const r = await gcJson("--dry-run", "--min-age", "0");
    expect(r.dry_run).toBe(true);
    expect(r.files.map((f: any) => f.file_id).sort()).toEqual([ids.neverSent.file_id, ids.deleted.file_id, ids.sharedGone.file_id, pictureId(ids.oldPicture)].sort());
    expect(filesUnder(join(s.dataDir, "media"))).toEqual(before);
    expect((await fetchMedia(s, ids.neverSent.file_url)).status).toBe(200);
  });

  test("by default (a day): released uploads go, a young unsent upload and young objects stay; old debris goes", async () => {
    const r = await gcJson();
    const reasons = Object.fromEntries(r.files.map((f: any) => [f.file_id, f.reason]));
    expect(reasons).toEqual({
      [ids.deleted.file_id]: "released",
      [ids.sharedGone.file_id]: "released",
      [pictureId(ids.oldPicture)]: "replaced picture",
    });
    expect(r.objects.map((o: any) => o.key)).toEqual(["f".repeat(64)]);
    expect(r.temp_files).toEqual(["upload-crashed"]);
    expect(filesUnder(tmp)).toEqual(["upload-in-flight"]);
    expect((await fetchMedia(s, ids.neverSent.file_url)).status).toBe(200);
  });

  test("--min-age 0: the unsent upload and every object nothing uses go; what is in use stays and still downloads", async () => {
    const r = await gcJson("--min-age", "0");
    expect(r.files.map((f: any) => [f.file_id, f.reason])).toEqual([[ids.neverSent.file_id, "never sent"]]);
    // File and thumbnail of the unsent and the deleted image, the old picture; not the shared
    // PDF, which an upload still uses.
    expect(r.objects.length).toBe(2 + 2 + 1);
    expect(r.bytes_freed).toBeGreaterThan(0);
    for (const kept of [ids.sent.file_url, ids.sent.thumbnail_url, ids.sharedKept.file_url, ids.picture])
      expect((await fetchMedia(s, kept)).status).toBe(200);
    for (const gone of [ids.neverSent.file_url, ids.deleted.file_url, ids.sharedGone.file_url, ids.oldPicture])
      expect((await fetchMedia(s, gone)).status).toBe(404);
    // What is left on disk: the sent image and its thumbnail, the shared PDF, the current picture.
    expect(filesUnder(blobs).length).toBe(4);
  });

  test("nothing left to do: a second run removes nothing; people get a readable summary", async () => {
    const r = await gc("--min-age", "0");
    expect(r.stdout).toContain("removed 0 uploads, 0 stored objects");
    const json = await gcJson("--min-age", "0");
    expect([json.files, json.objects]).toEqual([[], []]);
  });

  test("a bad --min-age is a usage error (exit 2)", async () => {
    const r = await runCli(["media", "gc", "--data-dir", s.dataDir, "--min-age", "soon"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--min-age");
  });

  test("uploads still work after gc", async () => {
    expect((await upload(s, alice, await makePng(10, 10), { conversationId: conv, messageType: "image" })).status).toBe(201);
  });
});

/** The file_id inside a profile picture link. */
function pictureId(url: string): string {
  return new URL(url).pathname.split("/")[2]!;
}

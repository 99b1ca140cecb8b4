/**
 * Media inside the single executable (`npm test` builds dist/confab first): sharp and its
 * libvips load from the files embedded in the binary (src/media/sharp-loader.ts), file-type
 * sniffs there too. The binary runs from an empty folder, so nothing in node_modules can help.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tempDir, uniq } from "./harness";
import { http, killAll, ROOT, spawnServer, type ServerProcess } from "./process";
import { CAMERA_OWNER, inspect, makeGif, makeJpegWithGps, makePdf, makeWebp } from "./media-fixtures";

const DIST = join(ROOT, "dist", "confab");
const root = tempDir("confab-media-bin-");
const exe = join(root, "bin", "confab");
const cwd = join(root, "run");

beforeAll(() => {
  mkdirSync(join(root, "bin"));
  mkdirSync(cwd);
  if (!existsSync(DIST)) return; // the first test reports it
  try {
    linkSync(DIST, exe);
  } catch {
    copyFileSync(DIST, exe);
  }
});

afterAll(() => {
  killAll();
  rmSync(root, { recursive: true, force: true });
});

async function uploadTo(server: ServerProcess, token: string, conversationId: number, bytes: Uint8Array, name: string, messageType: string) {
  const fd = new FormData();
  fd.append("file", new Blob([bytes as BlobPart]), name);
  fd.append("conversation_id", String(conversationId));
  fd.append("message_type", messageType);
  const res = await fetch(`${server.url}/api/v1/media/upload`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: fd });
  return { status: res.status, body: (await res.json()) as any };
}

/** Fetch a handed-out link (http://localhost:<port>/…) at 127.0.0.1, where the server listens. */
async function download(server: ServerProcess, url: string) {
  const u = new URL(url);
  const res = await fetch(`${server.url}${u.pathname}${u.search}`);
  return { status: res.status, type: res.headers.get("content-type"), bytes: Buffer.from(await res.arrayBuffer()) };
}

describe("dist/confab: media", () => {
  test("images are measured, thumbnailed and cleaned of EXIF by the executable alone", async () => {
    if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run \`npm run build\` first (\`npm test\` builds it unless CONFAB_SKIP_BUILD is set)`);
    const server = await spawnServer([exe, "serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", "data", "--registration", "open"], { cwd });
    try {
      const users = [];
      for (const n of [1, 2]) {
        const tag = uniq();
        const r = await http(server.url, "POST", "/api/v1/auth/register", { email: `m${n}${tag}@example.test`, username: `m${n}${tag}`, password: `pw-${tag}-secret`, first_name: "Bin", last_name: "Ary" });
        expect(r.status, r.text).toBe(201);
        users.push(r.body);
      }
      const [a, b] = users;
      const conv = await http(server.url, "POST", "/api/v1/conversations", { conversation_type: "direct", participant_ids: [b.user.user_id] }, a.access_token);
      expect(conv.status, conv.text).toBe(201);
      const cid = conv.body.conversation_id;

      const jpeg = await makeJpegWithGps(1600, 1200, 6);
      const up = await uploadTo(server, a.access_token, cid, jpeg, "photo.jpg", "image");
      expect(up.status, JSON.stringify(up.body)).toBe(201);
      expect(up.body).toMatchObject({ file_type: "image/jpeg", dimensions: { width: 1200, height: 1600 }, processing_status: "completed" });
      const served = await download(server, up.body.file_url);
      expect(served.status).toBe(200);
      const m = await inspect(served.bytes);
      expect([m.width, m.height, m.exif]).toEqual([1200, 1600, undefined]);
      expect(served.bytes.includes(CAMERA_OWNER)).toBe(false);
      const thumb = await download(server, up.body.thumbnail_url);
      expect(thumb.type).toBe("image/webp");
      const t = await inspect(thumb.bytes);
      expect([t.format, t.width, t.height]).toEqual(["webp", 240, 320]);

      // Other decoders and the sniffer work there too.
      for (const [bytes, name, type, mime] of [
        [await makeGif(90, 60), "a.gif", "image", "image/gif"],
        [await makeWebp(90, 60), "a.webp", "image", "image/webp"],
        [makePdf(), "a.pdf", "file", "application/pdf"],
      ] as [Buffer, string, string, string][]) {
        const r = await uploadTo(server, a.access_token, cid, bytes, name, type);
        expect(`${name} ${r.status} ${r.body.file_type}`).toBe(`${name} 201 ${mime}`);
        if (type === "image") expect(r.body.dimensions).toEqual({ width: 90, height: 60 });
      }

      // A profile picture: the square copy is made there as well.
      const fd = new FormData();
      fd.append("file", new Blob([jpeg as BlobPart]), "me.jpg");
      const pic = await fetch(`${server.url}/api/v1/users/${a.user.user_id}/picture`, { method: "PUT", headers: { authorization: `Bearer ${a.access_token}` }, body: fd });
      expect(pic.status).toBe(200);
      const avatar = await inspect((await download(server, ((await pic.json()) as any).user.profile_picture_url)).bytes);
      expect([avatar.width, avatar.height]).toEqual([512, 512]);
    } finally {
      const { code } = await server.stop("SIGTERM", 10_000);
      expect(code).toBe(0);
    }
    // The embedded libvips was written to a temp dir only to be loaded: nothing is left in the run folder.
    expect(readdirSync(cwd)).toEqual(["data"]);
  });
});

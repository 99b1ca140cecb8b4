/**
 * Media uploads end to end (CONTRACT §10) over real HTTP on a real server: real PNG, JPEG, GIF,
 * WebP, MP4 and PDF files made here; the type is sniffed from the bytes; images are measured,
 * thumbnailed and stripped of EXIF (GPS!); identical uploads share one stored copy; only
 * participants may upload to a conversation; refusals leave nothing on disk.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expectError, startTestServer, type TestServer, type TestUser } from "./harness";
import {
  CAMERA_OWNER,
  directConversation,
  EVIL_HTML,
  fetchMedia,
  filesUnder,
  inspect,
  makeGif,
  makeJpeg,
  makeJpegWithGps,
  makeMp4,
  makePdf,
  makePng,
  makeWebp,
  upload,
  uploadOk,
} from "./media-fixtures";

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let s: TestServer;
let alice: TestUser;
let bob: TestUser;
let eve: TestUser;
let conv: number;
let mediaDir: string;

beforeAll(async () => {
  s = await startTestServer({ registration: "open" });
  [alice, bob, eve] = [await s.register(), await s.register(), await s.register()];
  conv = await directConversation(s, alice, bob);
  mediaDir = join(s.dataDir, "media");
});
afterAll(() => s?.stop());

/** Upload as alice to her conversation with bob. */
const send = (bytes: Uint8Array, name: string, messageType: string) => uploadOk(s, alice, bytes, { name, conversationId: conv, messageType });

describe("images: type, dimensions, thumbnail", () => {
  const cases = [
    { kind: "PNG", make: () => makePng(640, 480), type: "image/png", format: "png" },
    { kind: "JPEG", make: () => makeJpeg(1200, 900), type: "image/jpeg", format: "jpeg" },
    { kind: "GIF", make: () => makeGif(300, 200), type: "image/gif", format: "gif" },
    { kind: "WebP", make: () => makeWebp(500, 250), type: "image/webp", format: "webp" },
  ];
  for (const c of cases) {
    test(`${c.kind}: sniffed type, exact dimensions, a decodable thumbnail, the exact bytes served`, async () => {
      const bytes = await c.make();
      const meta = await inspect(bytes);
      const f = await send(bytes, `photo.${c.format}`, "image");
      expect(f.file_id).toMatch(UUID_RE);
      expect(f.file_type).toBe(c.type);
      expect(f.file_size).toBe(bytes.length);
      expect(f.dimensions).toEqual({ width: meta.width, height: meta.height });
      expect(f.processing_status).toBe("completed");
      expect(f.file_name).toBe(`photo.${c.format}`);
      expect(new URL(f.file_url).pathname).toBe(`/media/${f.file_id}`);

      const file = await fetchMedia(s, f.file_url);
      expect(file.status).toBe(200);
      expect(file.headers.get("content-type")).toBe(c.type);
      expect(file.bytes.equals(bytes)).toBe(true);

      const thumb = await fetchMedia(s, f.thumbnail_url);
      expect(thumb.status).toBe(200);
      expect(thumb.headers.get("content-type")).toBe("image/webp");
      const t = await inspect(thumb.bytes); // throws unless it decodes
      expect(t.format).toBe("webp");
      expect(Math.max(t.width!, t.height!)).toBeLessThanOrEqual(320);
      // Same shape, within a pixel of rounding.
      expect(Math.abs(t.width! / t.height! - meta.width! / meta.height!)).toBeLessThan(0.02);
    });
  }

  test("a 1200×900 JPEG gets a 320×240 thumbnail", async () => {
    const f = await send(await makeJpeg(1200, 900), "big.jpg", "image");
    const t = await inspect((await fetchMedia(s, f.thumbnail_url)).bytes);
    expect([t.width, t.height]).toEqual([320, 240]);
  });

  test("an image whose pixels cannot be decoded is kept with processing_status failed and no thumbnail", async () => {
    const png = await makePng(64, 48);
    // Keep the header (so the size is known) and break the compressed pixel data.
    const broken = Buffer.from(png);
    const idat = broken.indexOf("IDAT");
    for (let i = idat + 4; i < broken.length - 12; i++) broken[i] = 0x55;
    const f = await send(broken, "broken.png", "image");
    expect(f.file_type).toBe("image/png");
    expect(f.processing_status).toBe("failed");
    expect(f.thumbnail_url).toBeNull();
    expect(f.dimensions).toEqual({ width: 64, height: 48 });
    expect((await fetchMedia(s, f.file_url)).bytes.equals(broken)).toBe(true);
  });
});

describe("EXIF is gone from what is served", () => {
  test("a JPEG with GPS, an owner name and orientation 6: served without any metadata, orientation applied", async () => {
    const original = await makeJpegWithGps(400, 300, 6);
    const before = await inspect(original);
    expect(before.exif).toBeDefined(); // the fixture really carries EXIF…
    expect(original.includes(CAMERA_OWNER)).toBe(true); // …with the owner's name in it
    const f = await send(original, "IMG_0001.jpg", "image");
    // Orientation 6 means "rotate 90°": it is shown (and now stored) 300×400.
    expect(f.dimensions).toEqual({ width: 300, height: 400 });
    expect(f.file_type).toBe("image/jpeg");

    const served = (await fetchMedia(s, f.file_url)).bytes;
    expect(f.file_size).toBe(served.length);
    const m = await inspect(served);
    expect([m.format, m.width, m.height]).toEqual(["jpeg", 300, 400]);
    expect(m.exif).toBeUndefined();
    expect(m.xmp).toBeUndefined();
    expect(m.iptc).toBeUndefined();
    expect(m.orientation ?? 1).toBe(1);
    expect(served.includes("Exif\0\0")).toBe(false);
    expect(served.includes(CAMERA_OWNER)).toBe(false);

    const thumb = await inspect((await fetchMedia(s, f.thumbnail_url)).bytes);
    expect(thumb.exif).toBeUndefined();
    expect([thumb.width, thumb.height]).toEqual([240, 320]);

    // Not kept anywhere either: no stored file holds the owner's name or an EXIF block.
    for (const rel of filesUnder(mediaDir)) {
      const bytes = readFileSync(join(mediaDir, rel));
      expect(bytes.includes(CAMERA_OWNER), rel).toBe(false);
      expect(bytes.includes("Exif\0\0"), rel).toBe(false);
    }
  });

  test("a WebP with EXIF is served without it", async () => {
    const { sharp, GPS } = await import("./media-fixtures");
    const webp = await sharp(await makePng(100, 80)).webp().withExif({ IFD0: { Artist: CAMERA_OWNER }, IFD3: GPS }).toBuffer();
    expect((await inspect(webp)).exif).toBeDefined();
    const f = await send(webp, "x.webp", "image");
    const served = (await fetchMedia(s, f.file_url)).bytes;
    expect((await inspect(served)).exif).toBeUndefined();
    expect(served.includes(CAMERA_OWNER)).toBe(false);
  });
});

describe("video, audio, documents", () => {
  test("MP4 as video: video/mp4, no dimensions or thumbnail, exact bytes, shown inline", async () => {
    const mp4 = makeMp4(10_000);
    const f = await send(mp4, "clip.mp4", "video");
    expect(f).toMatchObject({ file_type: "video/mp4", file_size: mp4.length, thumbnail_url: null, dimensions: null, processing_status: "completed" });
    const r = await fetchMedia(s, f.file_url);
    expect(r.headers.get("content-type")).toBe("video/mp4");
    expect(r.headers.get("content-disposition")).toStartWith("inline");
    expect(r.bytes.equals(mp4)).toBe(true);
  });

  test("PDF as file: application/pdf, downloaded as an attachment under its name", async () => {
    const pdf = makePdf();
    const f = await send(pdf, "Quarterly report é.pdf", "file");
    expect(f).toMatchObject({ file_type: "application/pdf", file_size: pdf.length, thumbnail_url: null });
    const r = await fetchMedia(s, f.file_url);
    expect(r.headers.get("content-type")).toBe("application/pdf");
    expect(r.headers.get("content-disposition")).toBe(`attachment; filename="Quarterly report _.pdf"; filename*=UTF-8''Quarterly%20report%20%C3%A9.pdf`);
    expect(r.bytes.equals(pdf)).toBe(true);
  });

  test("an image sent as a file is still an image (and still cleaned)", async () => {
    const f = await send(await makeJpegWithGps(50, 40), "raw.jpg", "file");
    expect(f.file_type).toBe("image/jpeg");
    expect(f.thumbnail_url).not.toBeNull();
    expect((await inspect((await fetchMedia(s, f.file_url)).bytes)).exif).toBeUndefined();
  });

  test("bytes nothing recognises are a file of application/octet-stream, always downloaded", async () => {
    const f = await send(Buffer.from("name,amount\nalice,3\n"), "data.csv", "file");
    expect(f.file_type).toBe("application/octet-stream");
    const r = await fetchMedia(s, f.file_url);
    expect(r.headers.get("content-disposition")).toStartWith("attachment");
  });

  test("the file name is reduced to its last segment, without control characters", async () => {
    const f = await send(makePdf(), "../../etc/pass\twd\x01.pdf", "file");
    expect(f.file_name).toBe("passwd.pdf");
  });
});

describe("served safely", () => {
  test("every download: nosniff, a sandboxing CSP, no referrer, never HTML", async () => {
    const f = await send(await makePng(10, 10), "a.png", "image");
    const r = await fetchMedia(s, f.file_url);
    expect(r.headers.get("x-content-type-options")).toBe("nosniff");
    expect(r.headers.get("content-security-policy")).toStartWith("sandbox");
    expect(r.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(r.headers.get("referrer-policy")).toBe("no-referrer");
    expect(r.headers.get("content-disposition")).toBe(`inline; filename="a.png"; filename*=UTF-8''a.png`);
  });
});

describe("form fields in any order", () => {
  test("fields before the file, after it, or around it", async () => {
    const png = await makePng(20, 10);
    for (const order of [{ fieldsFirst: true }, {}, { fieldsAround: true }]) {
      const r = await upload(s, alice, png, { conversationId: conv, messageType: "image", ...order });
      expect(`${JSON.stringify(order)} ${r.status}`).toBe(`${JSON.stringify(order)} 201`);
    }
  });
});

describe("content addressing", () => {
  test("identical uploads share one stored copy; each keeps its own file_id", async () => {
    const bytes = makePdf("shared bytes " + Math.random());
    const before = filesUnder(join(mediaDir, "blobs")).length;
    const a = await send(bytes, "a.pdf", "file");
    const b = await send(bytes, "b.pdf", "file");
    expect(a.file_id).not.toBe(b.file_id);
    expect(filesUnder(join(mediaDir, "blobs")).length).toBe(before + 1);
    const [ra, rb] = [await fetchMedia(s, a.file_url), await fetchMedia(s, b.file_url)];
    expect(ra.headers.get("etag")).toBe(rb.headers.get("etag"));
    expect(rb.headers.get("etag")).toBe(`"${new Bun.CryptoHasher("sha256").update(bytes).digest("hex")}"`);
    expect(ra.headers.get("content-disposition")).toContain("a.pdf");
    expect(rb.headers.get("content-disposition")).toContain("b.pdf");
  });
});

describe("refused uploads leave nothing behind", () => {
  /** Run `fn` and check the media store and temp dir hold exactly what they held before. */
  async function leavesNothing(fn: () => Promise<void>) {
    const before = filesUnder(mediaDir);
    await fn();
    expect(filesUnder(mediaDir)).toEqual(before);
  }

  test("HTML renamed .png, sent as an image → 415 UNSUPPORTED_MEDIA_TYPE", () =>
    leavesNothing(async () => {
      const r = await upload(s, alice, EVIL_HTML, { name: "cute.png", type: "image/png", conversationId: conv, messageType: "image" });
      expectError(r, 415, "UNSUPPORTED_MEDIA_TYPE");
    }));

  test("HTML, SVG or XML, whatever it is sent as, even as a plain file → 415", () =>
    leavesNothing(async () => {
      const markup = [
        EVIL_HTML,
        Buffer.from("\ufeff  \n<html><body onload=alert(1)>"),
        Buffer.from("<script>alert(1)</script>"),
        Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
        Buffer.from('<?xml version="1.0"?><x/>'),
        Buffer.from("<!-- hi --><p>x</p>"),
      ];
      for (const bytes of markup)
        for (const messageType of ["file", "image", "video", "audio"]) {
          const r = await upload(s, alice, bytes, { name: "notes.txt", type: "text/plain", conversationId: conv, messageType });
          expectError(r, 415, "UNSUPPORTED_MEDIA_TYPE");
        }
    }));

  test("a type that does not fit message_type → 415 (PDF as image, PNG as video, MP4 as image)", () =>
    leavesNothing(async () => {
      const cases: [Uint8Array, string][] = [
        [makePdf(), "image"],
        [await makePng(8, 8), "video"],
        [makeMp4(), "image"],
      ];
      for (const [bytes, messageType] of cases) expectError(await upload(s, alice, bytes, { conversationId: conv, messageType }), 415, "UNSUPPORTED_MEDIA_TYPE");
    }));

  test("an executable, even as a file → 415", () =>
    leavesNothing(async () => {
      const elf = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]), Buffer.alloc(120)]);
      expectError(await upload(s, alice, elf, { name: "tool", conversationId: conv, messageType: "file" }), 415, "UNSUPPORTED_MEDIA_TYPE");
    }));

  test("bytes with a PNG signature that are no image → 415", () =>
    leavesNothing(async () => {
      const fake = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from("not really an image at all")]);
      expectError(await upload(s, alice, fake, { name: "x.png", conversationId: conv, messageType: "image" }), 415, "UNSUPPORTED_MEDIA_TYPE");
    }));

  test("a non-participant uploading to the conversation → 404, whichever order the fields come in", () =>
    leavesNothing(async () => {
      const png = await makePng(32, 32);
      expectError(await upload(s, eve, png, { conversationId: conv, messageType: "image" }), 404, "NOT_FOUND");
      expectError(await upload(s, eve, png, { conversationId: conv, messageType: "image", fieldsFirst: true }), 404, "NOT_FOUND");
      expectError(await upload(s, eve, png, { conversationId: 999_999, messageType: "image" }), 404, "NOT_FOUND");
    }));

  test("no token → 401 AUTH_REQUIRED", () =>
    leavesNothing(async () => {
      expectError(await upload(s, null, await makePng(4, 4), { conversationId: conv, messageType: "image" }), 401, "AUTH_REQUIRED");
    }));

  test("missing or bad fields → 400 VALIDATION_ERROR naming the field", () =>
    leavesNothing(async () => {
      const png = await makePng(4, 4);
      const field = async (o: Parameters<typeof upload>[3], bytes: Uint8Array = png) => expectError(await upload(s, alice, bytes, o), 400, "VALIDATION_ERROR").details[0].field;
      expect(await field({ messageType: "image" })).toBe("conversation_id");
      expect(await field({ conversationId: "abc", messageType: "image" })).toBe("conversation_id");
      expect(await field({ conversationId: conv })).toBe("message_type");
      expect(await field({ conversationId: conv, messageType: "text" })).toBe("message_type");
      expect(await field({ conversationId: conv, messageType: "image" }, new Uint8Array(0))).toBe("file");
    }));

  test("a body that is not multipart, or multipart without a file → 400", () =>
    leavesNothing(async () => {
      const json = await s.request("POST", "/api/v1/media/upload", alice.token, { conversation_id: conv, message_type: "image" });
      expect(expectError(json, 400, "VALIDATION_ERROR").details[0].field).toBe("file");
      const fd = new FormData();
      fd.append("conversation_id", String(conv));
      fd.append("message_type", "image");
      const r = await fetch(`${s.url}/api/v1/media/upload`, { method: "POST", headers: { authorization: `Bearer ${alice.token}` }, body: fd });
      expect(r.status).toBe(400);
      expect(((await r.json()) as any).error.details[0].field).toBe("file");
    }));

  test("a truncated multipart body (no closing boundary) → 400", () =>
    leavesNothing(async () => {
      const body = `--XyZ\r\nContent-Disposition: form-data; name="conversation_id"\r\n\r\n${conv}\r\n--XyZ\r\nContent-Disposition: form-data; name="message_type"\r\n\r\nfile\r\n--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n\r\n%PDF-1.4 and then nothing`;
      const r = await fetch(`${s.url}/api/v1/media/upload`, {
        method: "POST",
        headers: { authorization: `Bearer ${alice.token}`, "content-type": "multipart/form-data; boundary=XyZ" },
        body,
      });
      expect(r.status).toBe(400);
    }));
});

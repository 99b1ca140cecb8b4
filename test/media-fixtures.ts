/**
 * Real media files made in the test run (nothing binary is committed): images encoded by sharp,
 * a minimal ISO-BMFF MP4 and a minimal PDF written box by box and object by object, and helpers
 * to upload them over real HTTP and fetch signed URLs without a token.
 */
import { readdirSync, type Dirent } from "node:fs";
import sharp, { type Metadata } from "sharp";
import type { Res, TestServer, TestUser } from "./harness";

export { sharp };

/** A gradient so encoders have something to encode and thumbnails something to show. */
function gradient(width: number, height: number, channels: 3 | 4 = 3): Buffer {
  const px = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * channels;
      px[o] = (x * 255) / Math.max(1, width - 1);
      px[o + 1] = (y * 255) / Math.max(1, height - 1);
      px[o + 2] = (x ^ y) & 0xff;
      if (channels === 4) px[o + 3] = 255;
    }
  return px;
}

const raw = (w: number, h: number) => sharp(gradient(w, h), { raw: { width: w, height: h, channels: 3 } });

export const makePng = (w: number, h: number) => raw(w, h).png().toBuffer();
export const makeJpeg = (w: number, h: number, quality = 85) => raw(w, h).jpeg({ quality }).toBuffer();
export const makeWebp = (w: number, h: number) => raw(w, h).webp({ quality: 80 }).toBuffer();
export const makeGif = (w: number, h: number) => raw(w, h).gif().toBuffer();

/** Where the photo was taken, as a phone writes it: the thing that must not leak. */
export const GPS = { GPSLatitudeRef: "N", GPSLatitude: "48/1 51/1 2964/100", GPSLongitudeRef: "E", GPSLongitude: "2/1 17/1 4044/100" };
export const CAMERA_OWNER = "Jane Q. Photographer";

/**
 * A JPEG w×h as stored, with GPS EXIF, an owner name, and `orientation` (6: shown rotated 90°,
 * so it displays h×w).
 */
export async function makeJpegWithGps(w: number, h: number, orientation = 1): Promise<Buffer> {
  return raw(w, h)
    .jpeg({ quality: 85 })
    .withExif({ IFD0: { Make: "Confab", Model: "TestCam", Artist: CAMERA_OWNER }, IFD3: GPS })
    .withMetadata({ orientation })
    .toBuffer();
}

/** An ISO-BMFF box: size, type, payload. */
function box(type: string, ...payload: Buffer[]): Buffer {
  const body = Buffer.concat(payload);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(8 + body.length);
  head.write(type, 4, "latin1");
  return Buffer.concat([head, body]);
}

/**
 * A minimal MP4: ftyp (isom), a moov with a movie header, and an mdat of `dataBytes` bytes.
 * Structurally valid ISO-BMFF, enough for any sniffer and byte-exact range tests.
 */
export function makeMp4(dataBytes = 4096): Buffer {
  const ftyp = box("ftyp", Buffer.from("isom"), Buffer.from([0, 0, 2, 0]), Buffer.from("isomiso2avc1mp41"));
  const mvhd = Buffer.alloc(100);
  mvhd.writeUInt32BE(1000, 12); // timescale
  mvhd.writeUInt32BE(1000, 16); // duration: 1 s
  mvhd.writeUInt32BE(0x00010000, 20); // rate 1.0
  mvhd.writeUInt16BE(0x0100, 24); // volume 1.0
  mvhd.writeUInt32BE(2, 96); // next track id
  const data = Buffer.alloc(dataBytes);
  for (let i = 0; i < dataBytes; i++) data[i] = (i * 31 + 7) & 0xff;
  return Buffer.concat([ftyp, box("moov", box("mvhd", mvhd)), box("mdat", data)]);
}

/** A minimal one-page PDF with a correct xref table. */
export function makePdf(text = "Hello from confab"): Buffer {
  const objects = [
    "<< /Type /Catalog /Pages 2 0 R >>",
    "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] /Contents 4 0 R >>",
  ];
  const stream = `BT /F1 12 Tf 10 50 Td (${text}) Tj ET`;
  objects.push(`<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`);
  let out = "%PDF-1.4\n";
  const offsets: number[] = [];
  objects.forEach((o, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, "0")} 00000 n \n`).join("")}`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, "latin1");
}

export const EVIL_HTML = Buffer.from(`<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>\n`);

/** The header of an image (format, size, metadata) as sharp reads it: proof that it decodes. */
export function inspect(bytes: Uint8Array): Promise<Metadata> {
  return sharp(bytes).metadata();
}

export interface UploadOptions {
  name?: string;
  type?: string;
  conversationId?: number | string;
  messageType?: string;
  /** Send the fields before the file (clients may order them either way). */
  fieldsFirst?: boolean;
  /** conversation_id before the file, message_type after it. */
  fieldsAround?: boolean;
}

/** POST /api/v1/media/upload as a browser's FormData would. */
export async function upload(s: TestServer, u: TestUser | null, bytes: Uint8Array, o: UploadOptions = {}): Promise<Res> {
  const fd = new FormData();
  const fields = () => {
    if (o.conversationId !== undefined) fd.append("conversation_id", String(o.conversationId));
    if (o.messageType !== undefined) fd.append("message_type", o.messageType);
  };
  if (o.fieldsAround) {
    fd.append("conversation_id", String(o.conversationId));
    fd.append("file", new Blob([bytes as BlobPart], { type: o.type ?? "application/octet-stream" }), o.name ?? "file.bin");
    fd.append("message_type", String(o.messageType));
  } else {
    if (o.fieldsFirst) fields();
    fd.append("file", new Blob([bytes as BlobPart], { type: o.type ?? "application/octet-stream" }), o.name ?? "file.bin");
    if (!o.fieldsFirst) fields();
  }
  const res = await fetch(`${s.url}/api/v1/media/upload`, { method: "POST", headers: u ? { authorization: `Bearer ${u.token}` } : {}, body: fd });
  const text = await res.text();
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, headers: res.headers, body, text };
}

/** Upload and expect 201; returns the upload view. */
export async function uploadOk(s: TestServer, u: TestUser, bytes: Uint8Array, o: UploadOptions): Promise<any> {
  const r = await upload(s, u, bytes, o);
  if (r.status !== 201) throw new Error(`upload failed: ${r.status} ${r.text}`);
  return r.body;
}

/** A URL the server handed out, pointed at the address the test reaches it on (http://localhost → 127.0.0.1). */
export function reachable(s: TestServer, url: string): string {
  const u = new URL(url);
  const base = new URL(s.url);
  u.protocol = base.protocol;
  u.host = base.host;
  return u.toString();
}

/** GET a media URL with no Authorization header. */
export async function fetchMedia(s: TestServer, url: string, headers: Record<string, string> = {}) {
  const res = await fetch(reachable(s, url), { headers });
  return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
}

/** Every file under `dir`, relative paths, sorted (the media store and its temp dir). */
export function filesUnder(dir: string): string[] {
  try {
    return (readdirSync(dir, { recursive: true, withFileTypes: true }) as Dirent[])
      .filter((d) => d.isFile())
      .map((d) => `${d.parentPath.slice(dir.length + 1)}/${d.name}`.replace(/^\//, ""))
      .sort();
  } catch {
    return [];
  }
}

/** A direct conversation between a and b; returns its id. */
export async function directConversation(s: TestServer, a: TestUser, b: TestUser): Promise<number> {
  const r = await s.post("/api/v1/conversations", a.token, { conversation_type: "direct", participant_ids: [b.user_id] });
  if (r.status !== 201 && r.status !== 200) throw new Error(`conversation: ${r.status} ${r.text}`);
  return r.body.conversation_id;
}

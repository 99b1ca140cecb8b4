/**
 * Media figures (issue #6): upload throughput and the server's memory while a 100 MB file
 * streams in, and how long a 12-megapixel JPEG takes to measure, clean and thumbnail.
 *
 *   npm run bench:media                 # dist/confab if built, else the source
 *   bun bench/media.ts --source --runs 5 --mb 100
 *   bun bench/media.ts --json
 *
 * The server is a separate process (started with --max-upload-bytes 200 MB); its RSS is read
 * from /proc/<pid>/status every 10 ms while each upload runs. "Idle" is its RSS after start-up
 * and a small warm-up upload, so what is reported above it is what the upload itself costs.
 * The goal: under 100 MB above idle for a 100 MB upload, i.e. the file is never held in memory.
 * Figures, not pass/fail.
 */
import { spawn, type Subprocess } from "bun";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import sharp from "sharp";
import { ImageProcessor } from "../src/media/images";
import { Logger } from "../src/lib/log";

const ROOT = resolve(import.meta.dir, "..");
const BINARY = join(ROOT, "dist", "confab");
const MB = 1024 * 1024;

const { values: opt } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    mb: { type: "string", default: "100" },
    source: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  },
});
const runs = Number(opt.runs);
const sizeMb = Number(opt.mb);
if (!Number.isInteger(runs) || runs < 1 || runs > 20 || !Number.isInteger(sizeMb) || sizeMb < 1 || sizeMb > 190) {
  console.error("--runs must be 1–20 and --mb 1–190 (the server's limit is 200 MB)");
  process.exit(2);
}
const useBinary = !opt.source && existsSync(BINARY);
const cmd = useBinary ? [BINARY] : [process.execPath, join(ROOT, "cli", "index.ts")];

const scratch = mkdtempSync(join(tmpdir(), "confab-bench-media-"));
let server: Subprocess<"ignore", "pipe", "pipe"> | undefined;
const cleanup = () => {
  server?.kill("SIGKILL");
  rmSync(scratch, { recursive: true, force: true });
};
process.on("SIGINT", () => {
  cleanup();
  process.exit(130);
});

const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) * 1024;

async function startServer(): Promise<{ url: string; pid: number }> {
  server = spawn(
    [...cmd, "serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", join(scratch, "data"), "--registration", "open", "--max-upload-bytes", String(200 * MB)],
    { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, CONFAB_AUTH_RATE_LIMIT: "1000" } },
  );
  const proc = server;
  // Read both pipes for the server's whole life: a full pipe would stall it mid-benchmark.
  void new Response(proc.stderr).text();
  const port = new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error("no \"port\":N line within 15 s")), 15_000);
    void (async () => {
      const decoder = new TextDecoder();
      let seen = "";
      for await (const chunk of proc.stdout) {
        if (seen.length < 100_000) seen += decoder.decode(chunk);
        const m = /"port":(\d+)/.exec(seen);
        if (m) {
          clearTimeout(timer);
          resolvePort(Number(m[1]));
        }
      }
      reject(new Error(`the server exited before listening: ${seen}`));
    })();
  });
  return { url: `http://127.0.0.1:${await port}`, pid: proc.pid };
}

async function api(url: string, path: string, body: unknown, token?: string) {
  const res = await fetch(url + path, { method: "POST", headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as any;
}

/** A streamed multipart upload of `bytes` bytes of MP4-looking data, generated as it is sent. */
function streamingUpload(url: string, token: string, conversationId: number, bytes: number, seed: number) {
  const boundary = "----confab-bench";
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="conversation_id"\r\n\r\n${conversationId}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="message_type"\r\n\r\nvideo\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\nContent-Type: video/mp4\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  // ftyp box first so it sniffs as video/mp4; the seed makes every run's bytes differ (no dedupe).
  const ftyp = Buffer.from([0, 0, 0, 24, ...Buffer.from("ftypisom"), 0, 0, 2, 0, ...Buffer.from("isomiso2")]);
  const chunk = Buffer.alloc(256 * 1024, seed & 0xff);
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent === 0) {
        c.enqueue(new Uint8Array(Buffer.concat([head, ftyp])));
        sent = ftyp.length;
        return;
      }
      if (sent >= bytes) {
        c.enqueue(new Uint8Array(tail));
        return c.close();
      }
      const n = Math.min(chunk.length, bytes - sent);
      sent += n;
      c.enqueue(new Uint8Array(chunk.subarray(0, n)));
    },
  });
  return fetch(`${url}/api/v1/media/upload`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": `multipart/form-data; boundary=${boundary}`, "content-length": String(head.length + bytes + tail.length) },
    body,
    duplex: "half",
  } as RequestInit);
}

async function measureUpload(url: string, pid: number, token: string, cid: number, seed: number) {
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 10);
  const t0 = performance.now();
  const res = await streamingUpload(url, token, cid, sizeMb * MB, seed);
  const body = (await res.json()) as any;
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  peak = Math.max(peak, rssOf(pid));
  if (res.status !== 201) throw new Error(`upload: ${res.status} ${JSON.stringify(body)}`);
  if (body.file_size !== sizeMb * MB) throw new Error(`stored ${body.file_size} bytes, sent ${sizeMb * MB}`);
  return { seconds, mbPerSecond: sizeMb / seconds, peakRss: peak };
}

/** A 4000×3000 photo-like JPEG (gradients plus sensor-like noise, q90: a few MB, like a phone photo), with EXIF when asked. */
async function twelveMegapixel(withExif: boolean): Promise<Buffer> {
  const w = 4000;
  const h = 3000;
  const px = Buffer.alloc(w * h * 3);
  let r = 12345;
  for (let i = 0; i < px.length; i += 3) {
    r = (r * 1103515245 + 12345) & 0x7fffffff;
    const x = (i / 3) % w;
    const y = Math.floor(i / 3 / w);
    px[i] = ((x * 255) / w + (r & 63)) & 0xff;
    px[i + 1] = ((y * 255) / h + ((r >> 6) & 63)) & 0xff;
    px[i + 2] = (((x + y) * 128) / (w + h) + ((r >> 12) & 63)) & 0xff;
  }
  const img = sharp(px, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 90 });
  return withExif ? img.withExif({ IFD0: { Make: "Bench", Artist: "Someone" }, IFD3: { GPSLatitudeRef: "N", GPSLatitude: "48/1 51/1 0/1" } }).withMetadata({ orientation: 6 }).toBuffer() : img.toBuffer();
}

async function uploadImage(url: string, token: string, cid: number, bytes: Buffer) {
  const fd = new FormData();
  fd.append("conversation_id", String(cid));
  fd.append("message_type", "image");
  fd.append("file", new Blob([bytes as BlobPart]), "photo.jpg");
  const t0 = performance.now();
  const res = await fetch(`${url}/api/v1/media/upload`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: fd });
  const body = (await res.json()) as any;
  if (res.status !== 201 || body.processing_status !== "completed") throw new Error(`image upload: ${res.status} ${JSON.stringify(body)}`);
  return performance.now() - t0;
}

/** The thumbnail step alone, in this process, with the server's own code. */
async function thumbnailInProcess(bytes: Buffer): Promise<{ ms: number; processMs: number }> {
  const dir = mkdtempSync(join(scratch, "img-"));
  const path = join(dir, "in.jpg");
  writeFileSync(path, bytes);
  const images = new ImageProcessor(dir, new Logger("silent"));
  await images.process(path, "image/jpeg"); // warm-up: load sharp
  const t0 = performance.now();
  await sharp(path).autoOrient().resize(320, 320, { fit: "inside" }).webp({ quality: 80 }).toBuffer();
  const ms = performance.now() - t0;
  const t1 = performance.now();
  await images.process(path, "image/jpeg");
  return { ms, processMs: performance.now() - t1 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

try {
  const { url, pid } = await startServer();
  const a = await api(url, "/api/v1/auth/register", { email: "a@bench.test", username: "bench_a", password: "bench-password-a", first_name: "A", last_name: "B" });
  const b = await api(url, "/api/v1/auth/register", { email: "b@bench.test", username: "bench_b", password: "bench-password-b", first_name: "C", last_name: "D" });
  const conv = await api(url, "/api/v1/conversations", { conversation_type: "direct", participant_ids: [b.user.user_id] }, a.access_token);
  const cid = conv.conversation_id;
  // Warm-up: one small upload through the same code path, then let the heap settle.
  await (await streamingUpload(url, a.access_token, cid, 64 * 1024, 255)).text();
  Bun.gc(true);
  await Bun.sleep(500);
  const idle = rssOf(pid);

  const uploads = [];
  for (let i = 0; i < runs; i++) uploads.push(await measureUpload(url, pid, a.access_token, cid, i));

  const plain = await twelveMegapixel(false);
  const exif = await twelveMegapixel(true);
  const serverPlain: number[] = [];
  const serverExif: number[] = [];
  for (let i = 0; i < runs; i++) {
    serverPlain.push(await uploadImage(url, a.access_token, cid, i ? Buffer.concat([plain, Buffer.from([i])]) : plain));
    serverExif.push(await uploadImage(url, a.access_token, cid, i ? Buffer.concat([exif, Buffer.from([i])]) : exif));
  }
  const local = await thumbnailInProcess(plain);

  const figures = {
    server: useBinary ? "dist/confab" : "bun cli/index.ts",
    upload: {
      size_mb: sizeMb,
      runs: uploads.map((u) => ({ seconds: +u.seconds.toFixed(2), mb_per_s: +u.mbPerSecond.toFixed(1), peak_rss_mb: +(u.peakRss / MB).toFixed(1) })),
      median_mb_per_s: +median(uploads.map((u) => u.mbPerSecond)).toFixed(1),
      idle_rss_mb: +(idle / MB).toFixed(1),
      max_rss_above_idle_mb: +((Math.max(...uploads.map((u) => u.peakRss)) - idle) / MB).toFixed(1),
      goal_mb: 100,
    },
    thumbnail_12mp: {
      jpeg_mb: +(plain.length / MB).toFixed(2),
      sharp_thumbnail_ms: Math.round(local.ms),
      image_processing_ms: Math.round(local.processMs),
      upload_with_processing_ms_median: Math.round(median(serverPlain)),
      upload_with_exif_reencode_ms_median: Math.round(median(serverExif)),
    },
  };
  if (opt.json) console.log(JSON.stringify(figures, null, 2));
  else {
    const u = figures.upload;
    const t = figures.thumbnail_12mp;
    console.log(`server: ${figures.server}`);
    console.log(`upload of ${u.size_mb} MB (streamed multipart, ${runs} runs): ${u.runs.map((r) => `${r.mb_per_s} MB/s`).join(", ")}; median ${u.median_mb_per_s} MB/s`);
    console.log(`server RSS: idle ${u.idle_rss_mb} MB, peak during uploads ${Math.max(...u.runs.map((r) => r.peak_rss_mb))} MB → ${u.max_rss_above_idle_mb} MB above idle (goal < ${u.goal_mb} MB)`);
    console.log(`12 MP JPEG (${t.jpeg_mb} MB): sharp thumbnail ${t.sharp_thumbnail_ms} ms; measure + thumbnail ${t.image_processing_ms} ms in process`);
    console.log(`  whole upload incl. processing, median: ${t.upload_with_processing_ms_median} ms; with GPS EXIF to strip (re-encode): ${t.upload_with_exif_reencode_ms_median} ms`);
  }
  server?.kill("SIGTERM");
  await server?.exited;
} finally {
  cleanup();
}

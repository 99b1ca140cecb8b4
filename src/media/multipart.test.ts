/**
 * The streaming multipart reader on bodies cut into chunks at every possible place: a boundary
 * split across chunks must still be found, and bytes that merely look like one must not be.
 */
import { describe, expect, test } from "bun:test";
import { boundaryOf, MultipartError, MultipartReader } from "./multipart";

const B = "----WebKitFormBoundary7MA4YWxkTrZu0gW";

/** A stream delivering `body` in chunks of the given sizes (the rest in one). */
function chunked(body: Buffer, sizes: number[]): ReadableStream<Uint8Array> {
  const parts: Buffer[] = [];
  let at = 0;
  for (const n of sizes) {
    if (at >= body.length) break;
    parts.push(body.subarray(at, at + n));
    at += n;
  }
  if (at < body.length) parts.push(body.subarray(at));
  return new ReadableStream({
    pull(c) {
      const next = parts.shift();
      if (next) c.enqueue(new Uint8Array(next));
      else c.close();
    },
  });
}

async function readAll(stream: ReadableStream<Uint8Array>, boundary = B) {
  const form = new MultipartReader(stream, boundary);
  const out: { name: string; filename: string | null; type: string | null; data: Buffer }[] = [];
  for (let p = await form.next(), n = 0; p && n < 100; p = await form.next(), n++) {
    const chunks: Uint8Array[] = [];
    await form.pipe((c) => void chunks.push(Buffer.from(c)));
    out.push({ name: p.name, filename: p.filename, type: p.contentType, data: Buffer.concat(chunks) });
  }
  return out;
}

// File bytes that contain a CRLF, dashes and most of the boundary, but not the delimiter itself.
const tricky = Buffer.concat([Buffer.from("\r\n--"), Buffer.from(B.slice(0, -1)), Buffer.from("\r\n\r\n--x"), Buffer.alloc(300, 0xff)]);
const body = Buffer.concat([
  Buffer.from(`preamble to ignore\r\n--${B}\r\nContent-Disposition: form-data; name="conversation_id"\r\n\r\n42\r\n`),
  Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="file"; filename="a \\"quoted\\" name.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`),
  tricky,
  Buffer.from(`\r\n--${B}\r\ncontent-disposition: form-data; name="message_type"\r\n\r\nfile\r\n--${B}--\r\nepilogue`),
]);

describe("MultipartReader", () => {
  test("reads fields and file bytes exactly, whatever the chunking (every split point, 1-byte chunks)", async () => {
    const expected = [
      { name: "conversation_id", filename: null, type: null, data: Buffer.from("42") },
      { name: "file", filename: 'a "quoted" name.bin', type: "application/octet-stream", data: tricky },
      { name: "message_type", filename: null, type: null, data: Buffer.from("file") },
    ];
    expect(await readAll(chunked(body, [body.length]))).toEqual(expected);
    expect(await readAll(chunked(body, new Array(body.length).fill(1)))).toEqual(expected);
    for (let split = 1; split < body.length; split++) expect(await readAll(chunked(body, [split]))).toEqual(expected);
    // Mixed tiny and large chunks, seeded: a delimiter may straddle three or more of them.
    let seed = 42;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n) + 1;
    for (let round = 0; round < 300; round++) {
      const sizes = Array.from({ length: 200 }, () => (rand(4) === 1 ? rand(3) : rand(120)));
      expect(await readAll(chunked(body, sizes))).toEqual(expected);
    }
  });

  test("an unread part is skipped by next()", async () => {
    const form = new MultipartReader(chunked(body, [7, 13]), B);
    const names: string[] = [];
    for (let p = await form.next(), n = 0; p && n < 10; p = await form.next(), n++) names.push(p.name);
    expect(names).toEqual(["conversation_id", "file", "message_type"]);
  });

  test("text() bounds a field", async () => {
    const form = new MultipartReader(chunked(body, [64]), B);
    await form.next();
    expect(await form.text(2)).toBe("42");
    await form.next();
    await expect(form.text(10)).rejects.toBeInstanceOf(MultipartError);
  });

  test("RFC 5987 filename* wins over filename", async () => {
    const b = Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="file"; filename="x.txt"; filename*=UTF-8''%C3%A9t%C3%A9.txt\r\n\r\nhi\r\n--${B}--\r\n`);
    expect((await readAll(chunked(b, [5])))[0]!.filename).toBe("été.txt");
  });

  test("malformed bodies are MultipartErrors, never hangs", async () => {
    const bad = [
      `--${B}\r\nContent-Disposition: form-data; name="a"\r\n\r\nno closing boundary`,
      `--${B}\r\nContent-Type: text/plain\r\n\r\nno disposition\r\n--${B}--\r\n`,
      `--${B}\r\nContent-Disposition: attachment; name="a"\r\n\r\nx\r\n--${B}--\r\n`,
      `--${B}\r\nContent-Disposition: form-data; name="a"`,
      `--${B}\r\nno colon here\r\n\r\nx\r\n--${B}--\r\n`,
      "no boundary at all",
    ];
    for (const text of bad) await expect(readAll(chunked(Buffer.from(text), [3]))).rejects.toBeInstanceOf(MultipartError);
  });

  test("an aborted stream is a MultipartError (the upload was interrupted)", async () => {
    let sent = false;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (!sent) {
          sent = true;
          c.enqueue(new Uint8Array(Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\npartial`)));
        } else c.error(new DOMException("The connection was closed.", "AbortError"));
      },
    });
    await expect(readAll(stream)).rejects.toThrow("interrupted");
  });
});

describe("boundaryOf", () => {
  test("plain and quoted; only multipart/form-data", () => {
    expect(boundaryOf(`multipart/form-data; boundary=${B}`)).toBe(B);
    expect(boundaryOf(`multipart/form-data; charset=utf-8; boundary="a b"`)).toBe("a b");
    expect(boundaryOf("Multipart/Form-Data;boundary=x")).toBe("x");
    expect(boundaryOf("multipart/mixed; boundary=x")).toBeNull();
    expect(boundaryOf("application/json")).toBeNull();
    expect(boundaryOf(null)).toBeNull();
    expect(boundaryOf("multipart/form-data")).toBeNull();
  });
});

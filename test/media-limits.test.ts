/**
 * Upload limits and failures on a real server with a small --max-upload-bytes: the size is
 * checked while the body streams in (not after buffering it), a refused or interrupted upload
 * leaves no file in the media store or its temp dir, and an upload exactly at the limit works.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { join } from "node:path";
import { eventually, expectError, startTestServer, type TestServer, type TestUser } from "./harness";
import { directConversation, filesUnder, makeMp4, upload } from "./media-fixtures";

const LIMIT = 256 * 1024;

let s: TestServer;
let alice: TestUser;
let conv: number;
let mediaDir: string;
let tmpDir: string;

beforeAll(async () => {
  s = await startTestServer({ registration: "open", maxUploadBytes: LIMIT });
  alice = await s.register();
  conv = await directConversation(s, alice, await s.register());
  mediaDir = join(s.dataDir, "media");
  tmpDir = join(mediaDir, "tmp");
});
afterAll(() => s?.stop());

/** A multipart body around `file`, fields first or last. */
function multipart(file: Uint8Array, boundary = "----confab-test-boundary") {
  const field = (name: string, value: string) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  const head = Buffer.from(
    field("conversation_id", String(conv)) +
      field("message_type", "video") +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\nContent-Type: video/mp4\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return { head, tail, contentType: `multipart/form-data; boundary=${boundary}` };
}

describe("--max-upload-bytes", () => {
  test("a file exactly at the limit is accepted", async () => {
    const r = await upload(s, alice, makeMp4(LIMIT - makeMp4(0).length), { conversationId: conv, messageType: "video" });
    expect(r.status, r.text).toBe(201);
    expect(r.body.file_size).toBe(LIMIT);
  });

  test("one byte over, found while streaming (the body's length is within the multipart allowance) → 413, no partial file", async () => {
    const before = filesUnder(mediaDir);
    const r = await upload(s, alice, makeMp4(LIMIT + 1 - makeMp4(0).length), { conversationId: conv, messageType: "video" });
    expectError(r, 413, "PAYLOAD_TOO_LARGE");
    expect(filesUnder(mediaDir)).toEqual(before);
  });

  test("a chunked body (no Content-Length) far over the limit is cut off while streaming → 413, no partial file", async () => {
    const before = filesUnder(mediaDir);
    const { head, tail, contentType } = multipart(new Uint8Array(0));
    const total = 8 * LIMIT;
    let sent = 0;
    // Bounded: the generator ends after `total` bytes whatever the server does.
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent === 0) c.enqueue(head);
        if (sent >= total) {
          c.enqueue(tail);
          return c.close();
        }
        const chunk = new Uint8Array(16 * 1024).fill(7);
        sent += chunk.length;
        c.enqueue(chunk);
      },
    });
    const res = await fetch(`${s.url}/api/v1/media/upload`, {
      method: "POST",
      headers: { authorization: `Bearer ${alice.token}`, "content-type": contentType },
      body,
      duplex: "half",
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(((await res.json()) as any).error.code).toBe("PAYLOAD_TOO_LARGE");
    expect(sent).toBeLessThan(total); // it stopped reading well before the end
    await eventually(() => (JSON.stringify(filesUnder(mediaDir)) === JSON.stringify(before) ? true : undefined), 3000, "no partial file");
  });

  test("a Content-Length far over the limit → 413 before a byte is read", async () => {
    // A raw socket: fetch would correct a Content-Length that does not match the body it sends.
    const r = await rawRequest({ contentLength: 100 * LIMIT, send: [Buffer.from("--x\r\n")], waitForResponse: true });
    expect(r).toStartWith("HTTP/1.1 413");
  });
});

describe("interrupted uploads", () => {
  test("a client that goes away mid-file leaves nothing behind", async () => {
    const before = filesUnder(mediaDir);
    const { head } = multipart(new Uint8Array(0));
    // Announce the whole file, send part of it, wait until it is being written, then vanish.
    const partial = Buffer.alloc(LIMIT / 2, 9);
    await rawRequest({
      contentLength: head.length + LIMIT - 100,
      send: [head, partial],
      before: () => eventually(() => (filesUnder(tmpDir).some((f) => f.startsWith("upload-")) ? true : undefined), 3000, "the upload to reach a temp file"),
    });
    await eventually(() => (JSON.stringify(filesUnder(mediaDir)) === JSON.stringify(before) ? true : undefined), 5000, "the temp file to be removed");
    // And the server is fine afterwards.
    const ok = await upload(s, alice, makeMp4(1000), { conversationId: conv, messageType: "video" });
    expect(ok.status).toBe(201);
  });
});

/**
 * One upload over a raw socket: headers with `contentLength`, then the `send` buffers. Without
 * `waitForResponse` the socket is destroyed after `before()` resolves, mid-body.
 */
function rawRequest(o: { contentLength: number; send: Buffer[]; before?: () => Promise<unknown>; waitForResponse?: boolean }): Promise<string> {
  const { contentType } = multipart(new Uint8Array(0));
  return new Promise((resolve, reject) => {
    let response = "";
    const sock = connect({ host: "127.0.0.1", port: s.server.port }, async () => {
      sock.write(
        [
          "POST /api/v1/media/upload HTTP/1.1",
          `Host: 127.0.0.1:${s.server.port}`,
          `Authorization: Bearer ${alice.token}`,
          `Content-Type: ${contentType}`,
          `Content-Length: ${o.contentLength}`,
          "",
          "",
        ].join("\r\n"),
      );
      for (const b of o.send) sock.write(b);
      if (o.waitForResponse) return;
      try {
        await o.before?.();
      } catch (e) {
        sock.destroy();
        return reject(e);
      }
      sock.destroy();
      resolve("");
    });
    sock.setTimeout(10_000, () => sock.destroy(new Error("raw upload timed out")));
    sock.on("data", (d: Buffer) => {
      response += d.toString("latin1");
      if (o.waitForResponse && response.includes("\r\n\r\n")) {
        sock.destroy();
        resolve(response);
      }
    });
    sock.on("error", (e) => (o.waitForResponse ? reject(e) : resolve("")));
  });
}

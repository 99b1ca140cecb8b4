/**
 * A streaming multipart/form-data reader (RFC 7578), so an upload goes to disk as it arrives and
 * never sits whole in memory: Elysia's own form parsing buffers the entire body first. Only the
 * few bytes that might begin a boundary are held back between chunks.
 *
 * @example
 *   const form = new MultipartReader(request.body, boundaryOf(contentType)!);
 *   for (let part = await form.next(); part; part = await form.next()) {
 *     if (part.filename !== null) await form.pipe((chunk) => file.write(chunk));
 *     else fields.set(part.name, await form.text(1024));
 *   }
 */

export interface PartHeaders {
  name: string;
  /** Present (possibly "") for file parts, null for plain fields. */
  filename: string | null;
  contentType: string | null;
}

/** The body is not well-formed multipart: a 400 for the client. */
export class MultipartError extends Error {
  override name = "MultipartError";
}

const CRLF = Buffer.from("\r\n");
const HEADER_END = Buffer.from("\r\n\r\n");
/** Part headers are a few hundred bytes; anything much longer is not a form. */
const MAX_HEADER_BYTES = 16 * 1024;
/** Preamble and parts nobody read: a form that is mostly that is not one of ours. */
const MAX_SKIPPED_BYTES = 64 * 1024;

/** The boundary parameter of a multipart/form-data Content-Type, or null. */
export function boundaryOf(contentType: string | null | undefined): string | null {
  if (!contentType || !/^multipart\/form-data\s*(;|$)/i.test(contentType)) return null;
  const m = /;\s*boundary=(?:"([^"]{1,70})"|([^;\s]{1,70}))/i.exec(contentType);
  return m ? (m[1] ?? m[2]!) : null;
}

export class MultipartReader {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  /** "\r\n--boundary": every delimiter but the first, which the CRLF put in front makes one too. */
  private readonly delimiter: Buffer;
  private buf: Buffer = CRLF;
  private ended = false;
  private skipped = 0;
  private state: "preamble" | "body" | "between" | "done" = "preamble";

  constructor(stream: ReadableStream<Uint8Array>, boundary: string) {
    this.reader = stream.getReader();
    this.delimiter = Buffer.from(`\r\n--${boundary}`);
  }

  /** The next part's headers, or null after the last one. An unread body is skipped first. */
  async next(): Promise<PartHeaders | null> {
    if (this.state === "preamble" || this.state === "body") await this.pipe((c) => this.skip(c));
    if (this.state === "done") return null;
    // After a delimiter: "--" ends the form; otherwise optional padding, then CRLF.
    await this.fillTo(2);
    if (this.buf[0] === 0x2d && this.buf[1] === 0x2d) {
      this.state = "done";
      return null;
    }
    const headerBlock = await this.readUntil(HEADER_END, MAX_HEADER_BYTES);
    const lines = headerBlock.toString("utf8").split("\r\n");
    if (lines.shift()?.trim() !== "") throw new MultipartError("garbage after a boundary");
    this.state = "body";
    return parseHeaders(lines);
  }

  /**
   * Hand the current part's body to `sink` chunk by chunk (awaiting it: backpressure). Chunks
   * are passed on as views of what the network delivered, never copied: only the few bytes held
   * back at a chunk's end are looked at again with the start of the next.
   */
  async pipe(sink: (chunk: Uint8Array) => void | Promise<void>): Promise<void> {
    const d = this.delimiter;
    for (;;) {
      const at = this.buf.indexOf(d);
      if (at >= 0) {
        if (at > 0) await sink(this.buf.subarray(0, at));
        this.buf = this.buf.subarray(at + d.length);
        this.state = "between";
        return;
      }
      // Keep what could be the start of a delimiter split across chunks; pass on the rest.
      const safe = this.buf.length - (d.length - 1);
      if (safe > 0) {
        await sink(this.buf.subarray(0, safe));
        this.buf = this.buf.subarray(safe);
      }
      const next = await this.read();
      if (!next) throw new MultipartError("the body ended inside a part");
      if (!this.buf.length || next.length < d.length - 1) {
        this.buf = this.buf.length ? Buffer.concat([this.buf, next]) : next;
        continue;
      }
      // Does a delimiter start in the held-back bytes? It would end within the next chunk's first bytes.
      const w = Buffer.concat([this.buf, next.subarray(0, d.length - 1)]).indexOf(d);
      if (w >= 0) {
        if (w > 0) await sink(this.buf.subarray(0, w));
        this.buf = next.subarray(w + d.length - this.buf.length);
        this.state = "between";
        return;
      }
      await sink(this.buf);
      this.buf = next;
    }
  }

  /** The current part's body as text, refusing more than `max` bytes. */
  async text(max: number): Promise<string> {
    const chunks: Uint8Array[] = [];
    let size = 0;
    await this.pipe((c) => {
      size += c.byteLength;
      if (size > max) throw new MultipartError(`a form field is longer than ${max} bytes`);
      chunks.push(c);
    });
    return Buffer.concat(chunks).toString("utf8");
  }

  /** Stop reading: the rest of the body is not wanted (an error answer, an abort). */
  async cancel(reason?: unknown) {
    await this.reader.cancel(reason).catch(() => {});
  }

  private skip(chunk: Uint8Array) {
    this.skipped += chunk.byteLength;
    if (this.skipped > MAX_SKIPPED_BYTES) throw new MultipartError("too much data outside the expected fields");
  }

  /** The next chunk from the network, or null at the end of the body. */
  private async read(): Promise<Buffer | null> {
    if (this.ended) return null;
    let r: Awaited<ReturnType<typeof this.reader.read>>;
    try {
      r = await this.reader.read();
    } catch {
      // The client went away mid-body (Bun rejects the read with an AbortError).
      throw new MultipartError("the upload was interrupted");
    }
    if (r.done) {
      this.ended = true;
      return null;
    }
    return Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
  }

  /** Append the next chunk to what is buffered (headers and small fields only). */
  private async fill(): Promise<boolean> {
    const chunk = await this.read();
    if (!chunk) return false;
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    return true;
  }

  private async fillTo(n: number) {
    while (this.buf.length < n) if (!(await this.fill())) throw new MultipartError("the body ended early");
  }

  private async readUntil(marker: Buffer, max: number): Promise<Buffer> {
    for (;;) {
      const at = this.buf.indexOf(marker);
      if (at >= 0) {
        const out = this.buf.subarray(0, at);
        this.buf = this.buf.subarray(at + marker.length);
        return out;
      }
      if (this.buf.length > max) throw new MultipartError("part headers are too long");
      if (!(await this.fill())) throw new MultipartError("the body ended inside part headers");
    }
  }
}

function parseHeaders(lines: string[]): PartHeaders {
  let disposition = "";
  let contentType: string | null = null;
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon < 0) throw new MultipartError("a part header without a colon");
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === "content-disposition") disposition = value;
    else if (name === "content-type") contentType = value;
  }
  if (!/^form-data\s*(;|$)/i.test(disposition)) throw new MultipartError("a part without Content-Disposition: form-data");
  const params = dispositionParams(disposition);
  const name = params.get("name");
  if (name === undefined) throw new MultipartError("a part without a name");
  return { name, filename: params.get("filename*") ?? params.get("filename") ?? null, contentType };
}

/** `form-data; name="file"; filename="a.png"` → name, filename (RFC 5987 `filename*` decoded). */
function dispositionParams(value: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /;\s*([^=;\s]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))/g;
  for (let m = re.exec(value), guard = 0; m && guard < 32; m = re.exec(value), guard++) {
    const key = m[1]!.toLowerCase();
    let v = m[2] !== undefined ? m[2].replace(/\\(.)/g, "$1") : m[3]!.trim();
    if (key === "filename*") {
      const ext = /^UTF-8''(.*)$/i.exec(v);
      if (!ext) continue;
      try {
        v = decodeURIComponent(ext[1]!);
      } catch {
        continue;
      }
    }
    out.set(key, v);
  }
  return out;
}

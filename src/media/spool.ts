/**
 * Receiving an upload form: the small text fields are kept in memory (each bounded), the one file
 * part is streamed into a temp file as it arrives, hashed and counted on the way. Past the size
 * limit, on a malformed body or when the client goes away, the temp file is deleted before the
 * error leaves here: a failed upload leaves nothing behind.
 */
import { open, rm } from "node:fs/promises";
import { basename, join } from "node:path";
import { AppError, invalidField } from "../lib/errors";
import { boundaryOf, MultipartError, MultipartReader, type PartHeaders } from "./multipart";

export interface SpooledFile {
  /** A temp file the caller now owns (and must move or delete). */
  path: string;
  size: number;
  sha256: string;
  /** The client's file name without any directory part; null when it sent none. */
  fileName: string | null;
}

export interface UploadForm {
  fields: Map<string, string>;
  file: SpooledFile | null;
}

export interface ReceiveOptions {
  tmpDir: string;
  maxFileBytes: number;
  /** The part that carries the file. */
  fileField: string;
  /** Text fields to keep; other parts are skipped. */
  textFields: readonly string[];
  /** Runs with the fields seen so far just before the file's bytes are read, to refuse early. */
  beforeFile?: (fields: Map<string, string>) => void;
}

/** conversation_id, message_type: a few bytes each. */
const MAX_FIELD_BYTES = 1024;
const MAX_PARTS = 16;
const MAX_FILE_NAME = 200;

export async function receiveForm(body: ReadableStream<Uint8Array> | null, contentType: string | null, o: ReceiveOptions): Promise<UploadForm> {
  const boundary = boundaryOf(contentType);
  if (!boundary || !body) throw invalidField("file", "Send multipart/form-data with a `file` part");
  const form = new MultipartReader(body, boundary);
  const fields = new Map<string, string>();
  let file: SpooledFile | null = null;
  try {
    for (let part = await form.next(), n = 1; part; part = await form.next(), n++) {
      if (n > MAX_PARTS) throw new MultipartError("too many parts");
      if (part.name === o.fileField && part.filename !== null) {
        if (file) throw invalidField("file", "Send one file per upload");
        o.beforeFile?.(fields);
        file = await spool(form, part, o);
      } else if (o.textFields.includes(part.name)) {
        fields.set(part.name, (await form.text(MAX_FIELD_BYTES)).trim());
      }
    }
  } catch (e) {
    if (file) await rm(file.path, { force: true });
    await form.cancel();
    throw e instanceof MultipartError ? invalidField("file", `Malformed upload: ${e.message}`) : e;
  }
  return { fields, file };
}

/** Stream the current part into a new temp file; on any failure the file is gone. */
async function spool(form: MultipartReader, part: PartHeaders, o: ReceiveOptions): Promise<SpooledFile> {
  const path = join(o.tmpDir, `upload-${crypto.randomUUID()}`);
  const fh = await open(path, "wx", 0o600);
  const hash = new Bun.CryptoHasher("sha256");
  let size = 0;
  try {
    await form.pipe(async (chunk) => {
      size += chunk.byteLength;
      // Checked per chunk, before writing it: the limit is never exceeded on disk either.
      if (size > o.maxFileBytes) throw new AppError("PAYLOAD_TOO_LARGE", `The file is larger than the limit of ${o.maxFileBytes} bytes`);
      hash.update(chunk);
      for (let off = 0; off < chunk.byteLength; ) off += (await fh.write(chunk, off)).bytesWritten;
    });
    await fh.close();
  } catch (e) {
    await fh.close().catch(() => {});
    await rm(path, { force: true });
    throw e;
  }
  return { path, size, sha256: hash.digest("hex"), fileName: cleanFileName(part.filename) };
}

/** Only the last path segment, no control characters, bounded: it ends up in a response header. */
export function cleanFileName(name: string | null): string | null {
  if (name === null) return null;
  const base = basename(name.replace(/\\/g, "/")).replace(/[\p{Cc}\p{Cf}]/gu, "").trim().slice(0, MAX_FILE_NAME);
  return base && base !== "." && base !== ".." ? base : null;
}

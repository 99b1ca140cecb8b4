/**
 * The rules of media (CONTRACT §6, §10): uploads go to a conversation the uploader is in, their
 * type is sniffed from the bytes and must fit the message type; images are measured, cleaned of
 * metadata and thumbnailed; downloads need a valid, unexpired signature; profile pictures are
 * square copies only their owner sets. Transport-agnostic: bodies arrive as web streams.
 */
import { rm } from "node:fs/promises";
import { fileTypeFromBlob } from "file-type";
import { AppError, forbidden, invalidField, notFound } from "../lib/errors";
import type { Logger } from "../lib/log";
import type { BatchedWriter } from "../db/batched-writer";
import type { ConversationService } from "../conversations/service";
import type { UserService } from "../users/service";
import type { UserProfile } from "../users/model";
import type { ImageProcessor } from "./images";
import type { MediaStorage } from "./storage";
import type { UrlSigner, Variant } from "./signing";
import type { MediaRow, MediaStore } from "./store";
import { receiveForm, type SpooledFile } from "./spool";
import { fits, isImage, isInline, looksLikeMarkup, MEDIA_MESSAGE_TYPES, UNKNOWN_TYPE, type MediaMessageType } from "./types";

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The upload response: the seed's fields plus the file name. */
export interface UploadView {
  file_id: string;
  file_type: string;
  file_size: number;
  file_url: string;
  thumbnail_url: string | null;
  dimensions: { width: number; height: number } | null;
  processing_status: "completed" | "failed";
  file_name: string | null;
}

/** What a download serves; the HTTP adapter adds ranges and caching. */
export interface Download {
  blob: Blob;
  size: number;
  /** Strong: the storage key is the sha256 of exactly these bytes. */
  etag: string;
  mime: string;
  fileName: string | null;
  /** Shown in place (images, audio, video) rather than downloaded. */
  inline: boolean;
  /** Seconds the link stays valid: no cache may keep it longer. */
  maxAge: number;
}

export interface MediaOptions {
  tmpDir: string;
  maxUploadBytes: number;
}

/** Bytes as stored: key (sha256), size, and the image facts when it is one. */
interface Persisted {
  blob: string;
  size: number;
  thumbBlob: string | null;
  width: number | null;
  height: number | null;
  status: "completed" | "failed";
}

export class MediaService {
  constructor(
    private readonly store: MediaStore,
    private readonly storage: MediaStorage,
    private readonly signer: UrlSigner,
    private readonly images: ImageProcessor,
    private readonly conversations: ConversationService,
    private readonly users: UserService,
    private readonly writer: BatchedWriter,
    private readonly log: Logger,
    private readonly o: MediaOptions,
  ) {}

  /** POST /media/upload: the multipart body is streamed to a temp file, then checked and stored. */
  async upload(userId: number, body: ReadableStream<Uint8Array> | null, contentType: string | null): Promise<UploadView> {
    const form = await receiveForm(body, contentType, {
      tmpDir: this.o.tmpDir,
      maxFileBytes: this.o.maxUploadBytes,
      fileField: "file",
      textFields: ["conversation_id", "message_type"],
      // Fields sent before the file are checked before a byte of it is read.
      beforeFile: (fields) => {
        if (fields.has("conversation_id")) this.requireConversation(userId, fields);
      },
    });
    try {
      const { conversationId, messageType } = this.requireTarget(userId, form.fields);
      const file = requireFile(form.file);
      const mime = await sniff(file.path);
      if (!fits(mime, messageType))
        throw new AppError("UNSUPPORTED_MEDIA_TYPE", `The file's content is ${mime === UNKNOWN_TYPE ? "of an unrecognised type" : mime}, which cannot be sent as ${messageType}`);
      const stored = await this.persist(file, mime);
      const row: MediaRow = {
        id: crypto.randomUUID(),
        uploader_id: userId,
        conversation_id: conversationId,
        purpose: "message",
        message_type: messageType,
        mime,
        size: stored.size,
        blob: stored.blob,
        thumb_blob: stored.thumbBlob,
        width: stored.width,
        height: stored.height,
        file_name: file.fileName,
        status: stored.status,
        created_at: Date.now(),
        released_at: null,
      };
      await this.writer.run(() => this.store.insertMedia(row));
      return this.uploadView(row);
    } finally {
      if (form.file) await rm(form.file.path, { force: true });
    }
  }

  /** PUT /users/{id}/picture: a square copy of an image becomes the user's picture. */
  async setProfilePicture(actorId: number, userId: number, body: ReadableStream<Uint8Array> | null, contentType: string | null): Promise<UserProfile> {
    this.requireSelf(actorId, userId);
    const form = await receiveForm(body, contentType, { tmpDir: this.o.tmpDir, maxFileBytes: this.o.maxUploadBytes, fileField: "file", textFields: [] });
    const temps = form.file ? [form.file.path] : [];
    try {
      const file = requireFile(form.file);
      const mime = await sniff(file.path);
      if (!isImage(mime)) throw new AppError("UNSUPPORTED_MEDIA_TYPE", "A profile picture must be a JPEG, PNG, GIF, WebP or AVIF image");
      const square = await this.images.avatar(file.path);
      temps.push(square);
      const { key, size } = await hashFile(square);
      await this.storage.put(key, { path: square });
      const now = Date.now();
      const row: MediaRow = {
        id: crypto.randomUUID(),
        uploader_id: userId,
        conversation_id: null,
        purpose: "avatar",
        message_type: null,
        mime: "image/webp",
        size,
        blob: key,
        thumb_blob: null,
        width: null,
        height: null,
        file_name: "profile.webp",
        status: "completed",
        created_at: now,
        released_at: null,
      };
      await this.writer.run((after) => {
        this.store.insertMedia(row);
        this.swapPicture(userId, row.id, now, after);
      });
    } finally {
      await Promise.all(temps.map((p) => rm(p, { force: true })));
    }
    return this.users.getProfile(actorId, userId);
  }

  /** DELETE /users/{id}/picture. */
  async clearProfilePicture(actorId: number, userId: number): Promise<UserProfile> {
    this.requireSelf(actorId, userId);
    await this.writer.run((after) => this.swapPicture(userId, null, Date.now(), after));
    return this.users.getProfile(actorId, userId);
  }

  /** GET /media/{id}[/thumbnail]: 403 unless signed and unexpired, 404 once released. */
  async download(fileId: string, variant: Variant, exp: string | undefined, sig: string | undefined): Promise<Download> {
    const verdict = this.signer.verify(fileId, variant, exp, sig);
    if (verdict === "expired") throw new AppError("FORBIDDEN", "This media link has expired; load the message again for a fresh one");
    if (verdict !== "ok") throw new AppError("FORBIDDEN", "This media link is not valid");
    const row = UUID_RE.test(fileId) ? this.store.selectMedia(fileId) : null;
    if (!row || row.released_at !== null) throw notFound("File");
    const key = variant === "file" ? row.blob : row.thumb_blob;
    if (!key) throw notFound("Thumbnail");
    const stored = await this.storage.open(key);
    if (!stored) {
      this.log.error("a stored media object is missing", { file_id: fileId, key });
      throw notFound("File");
    }
    const mime = variant === "file" ? row.mime : "image/webp";
    return {
      ...stored,
      etag: `"${key}"`,
      mime,
      fileName: variant === "file" ? row.file_name : `thumbnail-${fileId}.webp`,
      inline: isInline(mime),
      maxAge: this.signer.secondsLeft(exp!),
    };
  }

  /** conversation_id and message_type of an upload form; 404 unless the caller is in that conversation. */
  private requireTarget(userId: number, fields: Map<string, string>): { conversationId: number; messageType: MediaMessageType } {
    const conversationId = this.requireConversation(userId, fields);
    const messageType = fields.get("message_type") as MediaMessageType | undefined;
    if (!messageType || !MEDIA_MESSAGE_TYPES.includes(messageType)) throw invalidField("message_type", "message_type must be image, video, audio or file");
    return { conversationId, messageType };
  }

  private requireConversation(userId: number, fields: Map<string, string>): number {
    const rawId = fields.get("conversation_id");
    if (!rawId || !/^[1-9]\d{0,15}$/.test(rawId)) throw invalidField("conversation_id", "conversation_id must be a positive integer");
    this.conversations.requireMember(userId, Number(rawId));
    return Number(rawId);
  }

  private requireSelf(actorId: number, userId: number) {
    if (actorId !== userId) throw forbidden("Only the user themself may change their profile picture");
    this.users.requireUser(userId);
  }

  /** Inside a write: point the user at `fileId`, release the picture it replaces, announce after commit. */
  private swapPicture(userId: number, fileId: string | null, now: number, after: (fn: () => void) => void) {
    const previous = this.users.replaceProfilePicture(userId, fileId);
    if (previous && previous !== fileId) this.store.release(previous, now);
    if (previous !== fileId) after(() => this.users.announceUpdated(userId));
  }

  /** Move the bytes into storage; images are cleaned and thumbnailed first. */
  private async persist(file: SpooledFile, mime: string): Promise<Persisted> {
    if (!isImage(mime)) {
      await this.storage.put(file.sha256, { path: file.path });
      return { blob: file.sha256, size: file.size, thumbBlob: null, width: null, height: null, status: "completed" };
    }
    const img = await this.images.process(file.path, mime);
    try {
      const served = img.servedPath === file.path ? { key: file.sha256, size: file.size } : await hashFile(img.servedPath);
      await this.storage.put(served.key, { path: img.servedPath });
      let thumbBlob: string | null = null;
      if (img.thumbnailPath) {
        thumbBlob = (await hashFile(img.thumbnailPath)).key;
        await this.storage.put(thumbBlob, { path: img.thumbnailPath });
      }
      return { blob: served.key, size: served.size, thumbBlob, width: img.width, height: img.height, status: img.status };
    } finally {
      await Promise.all([img.servedPath, img.thumbnailPath].map((p) => (p ? rm(p, { force: true }) : null)));
    }
  }

  private uploadView(r: MediaRow): UploadView {
    return {
      file_id: r.id,
      file_type: r.mime,
      file_size: r.size,
      file_url: this.signer.url(r.id, "file"),
      thumbnail_url: r.thumb_blob ? this.signer.url(r.id, "thumbnail") : null,
      dimensions: r.width !== null && r.height !== null ? { width: r.width, height: r.height } : null,
      processing_status: r.status,
      file_name: r.file_name,
    };
  }
}

function requireFile(file: SpooledFile | null): SpooledFile {
  if (!file) throw invalidField("file", "A `file` part with the file's bytes is required");
  if (file.size === 0) throw invalidField("file", "The file is empty");
  return file;
}

/** The type the bytes say they are; unrecognised bytes are application/octet-stream. */
async function sniff(path: string): Promise<string> {
  // fileTypeFromFile fails inside the compiled executable; a Blob works everywhere (TOOLCHAIN.md).
  const type = await fileTypeFromBlob(Bun.file(path));
  if (type) return type.mime;
  return looksLikeMarkup(new Uint8Array(await Bun.file(path).slice(0, 1024).arrayBuffer())) ? "text/html" : UNKNOWN_TYPE;
}

/** sha256 and size of a file, read as a stream. */
async function hashFile(path: string): Promise<{ key: string; size: number }> {
  const hash = new Bun.CryptoHasher("sha256");
  let size = 0;
  for await (const chunk of Bun.file(path).stream()) {
    hash.update(chunk);
    size += chunk.byteLength;
  }
  return { key: hash.digest("hex"), size };
}

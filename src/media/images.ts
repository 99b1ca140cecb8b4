/**
 * What we do to images (CONTRACT §10): read their dimensions, make a thumbnail, and make sure
 * what we serve carries no metadata. A phone photo's EXIF holds where it was taken (GPS), the
 * device and often the owner's name; once sent to a group, it must not leak that. An image with
 * any metadata (EXIF, XMP, IPTC, comments) is re-encoded with its orientation applied and nothing
 * else kept; an image without any is served byte for byte as uploaded.
 *
 * `status` is honest: `failed` when the pixels could not be decoded for a thumbnail. An image
 * that needs cleaning but cannot be cleaned is refused, never stored with its metadata.
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { Metadata, SharpOptions } from "sharp";
import { AppError } from "../lib/errors";
import type { Logger } from "../lib/log";
import { loadSharp, type Sharp } from "./sharp-loader";

/** Longest edge of a thumbnail (px): a chat bubble on a 3× screen. */
export const THUMBNAIL_SIZE = 320;
/** Edge of the square profile picture (px). */
export const AVATAR_SIZE = 512;
/**
 * Larger images are refused before decoding: a small compressed file can claim a gigapixel
 * canvas (a decompression bomb). 100 MP is above any phone camera and panoramas of note.
 */
export const MAX_IMAGE_PIXELS = 100_000_000;

/** What sharp calls each image type we accept. */
const FORMAT_OF: Record<string, Metadata["format"]> = {
  "image/jpeg": "jpeg",
  "image/png": "png",
  "image/gif": "gif",
  "image/webp": "webp",
  "image/avif": "heif",
};

/** Abort on corrupt or truncated pixel data, tolerate mere warnings; refuse bombs. */
const INPUT: SharpOptions = { failOn: "error", limitInputPixels: MAX_IMAGE_PIXELS };

export interface ProcessedImage {
  /** The bytes to serve: the upload itself, or a cleaned copy (a new temp file). */
  servedPath: string;
  width: number;
  height: number;
  /** A WebP thumbnail in a new temp file, or null when it could not be made. */
  thumbnailPath: string | null;
  status: "completed" | "failed";
}

export class ImageProcessor {
  constructor(
    private readonly tmpDir: string,
    private readonly log: Logger,
    private readonly load: () => Sharp = loadSharp,
  ) {}

  /** `mime` is the sniffed type; the decoder must agree with it. */
  async process(path: string, mime: string): Promise<ProcessedImage> {
    const sharp = this.sharp();
    const meta = await readMetadata(sharp, path);
    if (FORMAT_OF[mime] !== meta.format) throw new AppError("UNSUPPORTED_MEDIA_TYPE", "The file is not a readable image");
    const animated = (meta.pages ?? 1) > 1;
    let servedPath = path;
    let width = meta.autoOrient?.width ?? meta.width!;
    let height = animated && meta.pageHeight ? meta.pageHeight : (meta.autoOrient?.height ?? meta.height!);
    if (carriesMetadata(meta)) {
      servedPath = this.tempPath("clean");
      try {
        const info = await reencode(sharp(path, { ...INPUT, animated }).autoOrient(), meta.format).toFile(servedPath);
        width = info.width;
        height = animated && meta.pageHeight ? meta.pageHeight : info.height;
      } catch (e) {
        await rm(servedPath, { force: true });
        this.log.warn("image metadata could not be removed; upload refused", { error: String(e) });
        throw new AppError("UNSUPPORTED_MEDIA_TYPE", "The image could not be processed");
      }
    }
    const thumbnailPath = await this.thumbnail(sharp, servedPath);
    return { servedPath, width, height, thumbnailPath, status: thumbnailPath ? "completed" : "failed" };
  }

  /** A square, centred on what matters, resized copy for a profile picture (a new temp file). */
  async avatar(path: string): Promise<string> {
    const sharp = this.sharp();
    await readMetadata(sharp, path);
    const out = this.tempPath("avatar");
    try {
      await sharp(path, INPUT).autoOrient().resize(AVATAR_SIZE, AVATAR_SIZE, { fit: "cover", position: "attention" }).webp({ quality: 85 }).toFile(out);
      return out;
    } catch {
      await rm(out, { force: true });
      throw new AppError("UNSUPPORTED_MEDIA_TYPE", "The image could not be decoded");
    }
  }

  private async thumbnail(sharp: Sharp, path: string): Promise<string | null> {
    const out = this.tempPath("thumb");
    try {
      await sharp(path, INPUT)
        .autoOrient()
        .resize(THUMBNAIL_SIZE, THUMBNAIL_SIZE, { fit: "inside", withoutEnlargement: true })
        .webp({ quality: 80 })
        .toFile(out);
      return out;
    } catch (e) {
      await rm(out, { force: true });
      this.log.info("thumbnail failed", { error: String(e) });
      return null;
    }
  }

  private sharp(): Sharp {
    try {
      return this.load();
    } catch (e) {
      this.log.error("sharp could not be loaded; images cannot be processed", { error: String(e) });
      throw new AppError("SERVICE_UNAVAILABLE", "Image processing is unavailable on this server");
    }
  }

  private tempPath(kind: string): string {
    return join(this.tmpDir, `${kind}-${crypto.randomUUID()}`);
  }
}

/** The header, or a refusal: bytes that look like an image but cannot be read as one. */
async function readMetadata(sharp: Sharp, path: string): Promise<Metadata> {
  let meta: Metadata;
  try {
    meta = await sharp(path, INPUT).metadata();
  } catch {
    throw new AppError("UNSUPPORTED_MEDIA_TYPE", "The file is not a readable image");
  }
  if (!meta.width || !meta.height) throw new AppError("UNSUPPORTED_MEDIA_TYPE", "The file is not a readable image");
  if (meta.width * meta.height > MAX_IMAGE_PIXELS)
    throw new AppError("PAYLOAD_TOO_LARGE", `The image has more than ${MAX_IMAGE_PIXELS / 1_000_000} megapixels`);
  return meta;
}

/** Anything beyond pixels and colour profile, or an orientation still to apply. */
function carriesMetadata(m: Metadata): boolean {
  return !!(m.exif || m.xmp || m.iptc || m.comments?.length || (m.orientation ?? 1) !== 1);
}

/** Same format out as in (so the sniffed type stays true); sharp writes no metadata by default. */
function reencode(img: ReturnType<Sharp>, format: Metadata["format"]) {
  switch (format) {
    case "jpeg":
      return img.jpeg({ quality: 90 });
    case "png":
      return img.png();
    case "webp":
      return img.webp({ quality: 90 });
    case "gif":
      return img.gif();
    case "heif":
      return img.avif({ quality: 70 });
    default:
      throw new Error(`cannot re-encode ${format}`);
  }
}

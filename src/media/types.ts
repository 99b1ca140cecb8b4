/**
 * Which sniffed types we accept, and for which message_type (CONTRACT §10). The type comes
 * from the bytes (file-type), never from the client's Content-Type or file name. Nothing a
 * browser would run is on the list: no HTML, SVG, XML or scripts, whatever the extension says.
 */

export type MediaMessageType = "image" | "video" | "audio" | "file";

export const MEDIA_MESSAGE_TYPES: readonly MediaMessageType[] = ["image", "video", "audio", "file"];

/** Images we decode for dimensions and thumbnails (sharp's prebuilt libvips reads all of them). */
export const IMAGE_TYPES = ["image/jpeg", "image/png", "image/gif", "image/webp", "image/avif"] as const;

const VIDEO_TYPES = ["video/mp4", "video/quicktime", "video/webm"];

// Browsers record voice notes as WebM or MP4 with only an audio track; file-type cannot tell
// those from video by the container, so video/webm and video/mp4 count as audio too.
const AUDIO_TYPES = [
  "audio/mpeg",
  "audio/ogg",
  "audio/opus",
  "audio/x-m4a",
  "audio/mp4",
  "audio/aac",
  "audio/wav",
  "audio/x-wav",
  "audio/flac",
  "audio/webm",
  "video/webm",
  "video/mp4",
];

const DOCUMENT_TYPES = [
  "application/pdf",
  "application/zip",
  "application/gzip",
  "application/x-7z-compressed",
  "application/x-tar",
  "application/epub+zip",
  "application/rtf",
  "application/x-cfb", // legacy .doc/.xls/.ppt
  "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  "application/vnd.openxmlformats-officedocument.presentationml.presentation",
  "application/vnd.oasis.opendocument.text",
  "application/vnd.oasis.opendocument.spreadsheet",
  "application/vnd.oasis.opendocument.presentation",
];

/**
 * A `file` whose type nothing recognises (plain text, CSV, an unknown format). It is served as
 * this type with `Content-Disposition: attachment`, so a browser downloads it and never renders it.
 */
export const UNKNOWN_TYPE = "application/octet-stream";

const ALLOWED: Record<MediaMessageType, ReadonlySet<string>> = {
  image: new Set(IMAGE_TYPES),
  video: new Set(VIDEO_TYPES),
  audio: new Set(AUDIO_TYPES),
  file: new Set([...IMAGE_TYPES, ...VIDEO_TYPES, ...AUDIO_TYPES, ...DOCUMENT_TYPES, UNKNOWN_TYPE]),
};

/** Whether bytes of `mime` may be sent as a `messageType` message. */
export function fits(mime: string, messageType: MediaMessageType): boolean {
  return ALLOWED[messageType].has(mime);
}

export function isImage(mime: string): boolean {
  return (IMAGE_TYPES as readonly string[]).includes(mime);
}

/** Rendered in place by a browser (an `<img>`, `<video>`, `<audio>`); everything else downloads. */
export function isInline(mime: string): boolean {
  return isImage(mime) || mime.startsWith("video/") || mime.startsWith("audio/");
}

/** Every type some message_type accepts, for the docs. */
export function allowedTypes(): Record<MediaMessageType, string[]> {
  return { image: [...ALLOWED.image], video: [...ALLOWED.video], audio: [...ALLOWED.audio], file: [...ALLOWED.file] };
}

/**
 * Markup a browser could run: HTML (the WHATWG MIME-sniffing patterns), XML and SVG. file-type
 * does not recognise text formats, so an HTML page would otherwise pass as an unknown `file`.
 * It would still only ever be downloaded (octet-stream, attachment, nosniff), but it is refused
 * outright: nothing we store should be a page.
 */
export function looksLikeMarkup(head: Uint8Array): boolean {
  const text = Buffer.from(head.subarray(0, 1024)).toString("latin1").replace(/^\xef\xbb\xbf/, "").replace(/^[\t\n\f\r ]+/, "");
  return MARKUP.test(text);
}

const MARKUP = /^(<!doctype html|<(html|head|script|iframe|h1|div|font|table|a|style|title|b|body|br|p|svg)[ >\t\n\r\f/]|<!--|<\?xml)/i;

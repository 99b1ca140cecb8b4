/**
 * REST adapter for media (CONTRACT §6, §10). Upload bodies are not parsed by Elysia (its form
 * parser buffers the whole body): `parse: "none"` here, and src/app.ts lists these paths as raw
 * for the envelope's parser, so the service reads the stream itself. Downloads sit at /media/,
 * outside /api: they are authorised by their signature, not a bearer token.
 */
import { Elysia, t } from "elysia";
import type { authGuard } from "../http/auth-guard";
import { parseId } from "../http/params";
import type { MediaService } from "./service";
import type { Variant } from "./signing";
import { mediaResponse } from "./download";
import { allowedTypes } from "./types";

/** Upload paths whose bodies the media service streams itself. */
export const MEDIA_RAW_BODY_PATHS = [/^\/api\/v1\/media\/upload$/, /^\/api\/v1\/users\/[^/]+\/picture$/];

const multipart = (properties: Record<string, object>, required: string[]) => ({
  required: true,
  content: { "multipart/form-data": { schema: { type: "object" as const, properties, required } } },
});

const uploadBody = multipart(
  {
    file: { type: "string", format: "binary", description: "The file. Its type is sniffed from the bytes; name and Content-Type are not trusted." },
    conversation_id: { type: "integer", description: "A conversation the caller is in" },
    message_type: { type: "string", enum: ["image", "video", "audio", "file"], description: "What the file will be sent as; its sniffed type must fit" },
  },
  ["file", "conversation_id", "message_type"],
);

const uploadResponse = t.Object({
  file_id: t.String({ format: "uuid" }),
  file_type: t.String({ description: "Sniffed from the bytes" }),
  file_size: t.Integer({ description: "Bytes served (after metadata was stripped from images)" }),
  file_url: t.String({ description: "Signed, expiring; works without a token" }),
  thumbnail_url: t.Nullable(t.String({ description: "Images only; a WebP of at most 320×320" })),
  dimensions: t.Nullable(t.Object({ width: t.Integer(), height: t.Integer() })),
  processing_status: t.Union([t.Literal("completed"), t.Literal("failed")]),
  file_name: t.Nullable(t.String()),
});

const signedQuery = t.Object(
  {
    exp: t.Optional(t.String({ description: "Expiry, unix seconds (part of the signed URL)" })),
    sig: t.Optional(t.String({ description: "HMAC signature (part of the signed URL)" })),
  },
  { additionalProperties: true },
);

const downloadDetail = (what: string) => ({
  summary: `Download ${what} (signed URL; no token)`,
  description:
    "Use the URL exactly as an API response gave it. Supports Range (206), If-None-Match (304). 403 FORBIDDEN when the signature is wrong or expired, 404 once the file was removed.",
  security: [],
  responses: { 200: { description: "The bytes" }, 206: { description: "One byte range" }, 304: { description: "Not modified" }, 403: { description: "Bad or expired signature" } },
});

export function mediaRoutes(media: MediaService, guard: ReturnType<typeof authGuard>) {
  const types = allowedTypes();
  const download = (variant: Variant) => async ({ params, query, request }: { params: { file_id: string }; query: { exp?: string; sig?: string }; request: Request }) =>
    mediaResponse(await media.download(params.file_id, variant, query.exp, query.sig), request);

  return new Elysia({ detail: { tags: ["Media"] } })
    .use(guard)
    .post(
      "/api/v1/media/upload",
      async ({ identity, request, set }) => {
        const view = await media.upload(identity.userId, request.body, request.headers.get("content-type"));
        set.status = 201;
        return view;
      },
      {
        auth: true,
        parse: "none",
        response: { 201: uploadResponse },
        detail: {
          summary: "Upload a file to a conversation (multipart), then send it with media_attachments [{file_id}]",
          description: [
            "Streamed to disk; larger than --max-upload-bytes → 413 PAYLOAD_TOO_LARGE. The type is sniffed from the bytes and must fit message_type, else 415 UNSUPPORTED_MEDIA_TYPE.",
            `Accepted: image: ${types.image.join(", ")}; video: ${types.video.join(", ")}; audio: ${types.audio.join(", ")}; file: those and documents (${types.file.filter((x) => x.startsWith("application/")).join(", ")}).`,
            "Images get dimensions and a thumbnail; EXIF/XMP/IPTC metadata (GPS included) is removed from what is served. 404 unless the caller is in the conversation.",
          ].join("\n\n"),
          requestBody: uploadBody,
        },
      },
    )
    .put(
      "/api/v1/users/:user_id/picture",
      async ({ identity, params, request }) => ({
        success: true,
        user: await media.setProfilePicture(identity.userId, parseId(params.user_id, "user_id"), request.body, request.headers.get("content-type")),
      }),
      {
        auth: true,
        parse: "none",
        detail: {
          tags: ["Users"],
          summary: "Set the caller's profile picture (multipart `file`, an image): stored as a 512×512 square WebP",
          requestBody: multipart({ file: { type: "string", format: "binary" } }, ["file"]),
        },
      },
    )
    .delete(
      "/api/v1/users/:user_id/picture",
      async ({ identity, params }) => ({ success: true, user: await media.clearProfilePicture(identity.userId, parseId(params.user_id, "user_id")) }),
      { auth: true, detail: { tags: ["Users"], summary: "Remove the caller's profile picture" } },
    )
    .get("/media/:file_id", download("file"), { query: signedQuery, detail: downloadDetail("a file") })
    .get("/media/:file_id/thumbnail", download("thumbnail"), { query: signedQuery, detail: downloadDetail("an image's thumbnail") });
}

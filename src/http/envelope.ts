/**
 * The contract's error envelope on every path (CONTRACT §3), request ids, and body limits.
 * Elysia's own errors are translated: schema failures become 400 VALIDATION_ERROR with a
 * `details` entry per field (Elysia's default is 422), unparsable JSON 400 INVALID_JSON,
 * unknown routes 404 NOT_FOUND, and anything unexpected a 500 without a stack trace.
 */
import { Elysia, type ValidationError } from "elysia";
import { AppError, type FieldError } from "../lib/errors";
import type { Logger } from "../lib/log";
import { requestIdFrom, type RequestContexts } from "./request-context";

export interface EnvelopeOptions {
  contexts: RequestContexts;
  log: Logger;
  /** Largest JSON body. */
  maxBodyBytes: number;
  /** Largest upload body, for the paths that take uploads. */
  maxUploadBytes: number;
  uploadPaths: RegExp[];
  /** Routes that read their body themselves (GraphQL hands the Request to yoga, uploads stream it) and bound it. */
  rawBodyPaths: (string | RegExp)[];
  /** Client IP; behind a trusted reverse proxy, the first X-Forwarded-For hop. */
  clientIp: (request: Request, socketIp: string | undefined) => string;
}

/** Multipart framing around an upload: boundaries, part headers, the small form fields. */
const MULTIPART_OVERHEAD = 64 * 1024;

export function errorBody(requestId: string, e: { code: string; message: string; details?: FieldError[] }) {
  return {
    error: {
      code: e.code,
      message: e.message,
      ...(e.details ? { details: e.details } : {}),
      request_id: requestId,
      timestamp: new Date().toISOString(),
    },
  };
}

export function envelope(o: EnvelopeOptions) {
  const isUpload = (path: string) => o.uploadPaths.some((re) => re.test(path));
  const isRaw = (path: string) => o.rawBodyPaths.some((p) => (typeof p === "string" ? p === path : p.test(path)));
  const limitFor = (path: string) => (isUpload(path) ? o.maxUploadBytes + MULTIPART_OVERHEAD : o.maxBodyBytes);

  return new Elysia({ name: "envelope" })
    .onRequest(({ request, set, server }) => {
      const id = requestIdFrom(request);
      set.headers["x-request-id"] = id;
      // The client IP is looked up on first use (~1 µs): only anonymous callers and the auth
      // endpoints' bucket need it, not an authenticated request.
      let ip: string | undefined;
      o.contexts.set(request, {
        id,
        start: performance.now(),
        get ip() {
          return (ip ??= o.clientIp(request, server?.requestIP(request)?.address));
        },
        identity: null,
        authError: null,
      });
      // Refuse a body that says it is too big before reading a byte of it (a GET has none: no
      // URL to parse).
      const length = Number(request.headers.get("content-length") ?? 0);
      if (length > 0 && length > limitFor(new URL(request.url).pathname)) throw tooLarge();
    })
    .onParse({ as: "global" }, async ({ request, contentType, path }) => {
      // A value (not undefined) ends Elysia's parser chain without touching the stream.
      if (isRaw(path)) return {};
      const json = contentType?.startsWith("application/json") ?? false;
      // A body without Content-Length escaped the check on arrival, and Elysia's own parsers
      // (text, forms) would buffer all of it: read it within the limit whatever its type.
      // Uploads are left to the multipart parser.
      if (!json && (request.headers.has("content-length") || isUpload(path))) return;
      const text = await readBounded(request, limitFor(path));
      if (!json) return text;
      if (text.trim() === "") return undefined;
      try {
        return JSON.parse(text);
      } catch {
        throw new AppError("INVALID_JSON", "The request body is not valid JSON");
      }
    })
    .onError({ as: "global" }, ({ code, error, request, set }) => {
      const meta = o.contexts.get(request);
      const id = meta?.id ?? String(set.headers["x-request-id"] ?? crypto.randomUUID());
      set.headers["x-request-id"] = id;
      const e = toAppError(code, error);
      if (e.status >= 500 && e.code === "INTERNAL_ERROR") {
        o.log.error("unhandled error", { request_id: id, path: new URL(request.url).pathname, error: String(error), stack: (error as Error)?.stack });
      }
      set.status = e.status;
      if (e.retryAfter !== undefined) set.headers["retry-after"] = String(e.retryAfter);
      if (e.status === 401) set.headers["www-authenticate"] = bearerChallenge(e);
      set.headers["content-type"] = "application/json";
      return errorBody(id, e);
    });
}

/**
 * RFC 6750 challenge. `error="invalid_token"` tells a client to drop and refresh its token, so it
 * is only for a presented token that failed; a failed login (INVALID_CREDENTIALS) or a missing
 * token gets the bare challenge.
 */
function bearerChallenge(e: AppError): string {
  if (e.code !== "INVALID_TOKEN" && e.code !== "TOKEN_EXPIRED") return 'Bearer realm="confab"';
  return `Bearer realm="confab", error="invalid_token", error_description="${e.message}"`;
}

function tooLarge() {
  return new AppError("PAYLOAD_TOO_LARGE", "The request body is too large");
}

/** Read a body of unknown length (chunked) without ever holding more than `limit` bytes. */
export async function readBounded(request: Request, limit: number): Promise<string> {
  if (request.headers.has("content-length")) return request.text(); // already checked on arrival
  if (!request.body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of request.body) {
    size += chunk.byteLength;
    if (size > limit) throw tooLarge();
    chunks.push(chunk);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

/** Map whatever was thrown to the contract's vocabulary. */
function toAppError(code: string | number, error: unknown): AppError {
  if (error instanceof AppError) return error;
  switch (code) {
    case "VALIDATION":
      return new AppError("VALIDATION_ERROR", "Invalid request parameters", validationDetails(error as ValidationError));
    case "PARSE":
      // Elysia wraps whatever a parser throws in a ParseError: keep our own verdict (413, 400).
      if ((error as Error).cause instanceof AppError) return (error as Error).cause as AppError;
      return new AppError("INVALID_JSON", "The request body could not be parsed");
    case "NOT_FOUND":
      return new AppError("NOT_FOUND", "No such endpoint");
    case "INVALID_COOKIE_SIGNATURE":
    case "INVALID_FILE_TYPE":
      return new AppError("VALIDATION_ERROR", "Invalid request", []);
    default:
      return new AppError("INTERNAL_ERROR", "Something went wrong on our side; the error was logged");
  }
}

/** One detail per field: `/privacy_settings/show_last_seen` → `privacy_settings.show_last_seen`. */
function validationDetails(error: ValidationError): FieldError[] {
  const seen = new Set<string>();
  const out: FieldError[] = [];
  for (const issue of error.all as any[]) {
    const field = String(issue.path ?? "").replace(/^\//, "").replace(/\//g, ".") || String(error.type ?? "body");
    if (seen.has(field)) continue;
    seen.add(field);
    out.push({ field, message: issue.schema?.error ?? issue.summary ?? issue.message ?? "Invalid value" });
  }
  return out;
}

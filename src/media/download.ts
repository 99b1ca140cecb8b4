/**
 * A media download as HTTP (CONTRACT §10): Range (206, one range), ETag / If-None-Match (304),
 * Content-Type from the sniffed type, Content-Disposition, and headers that keep a browser from
 * ever treating the bytes as a page: nosniff, a sandboxing CSP, attachment for anything that is
 * not an image, audio or video.
 */
import type { Download } from "./service";

/** Even opened directly, the response is an inert document: no script, no plugins, no forms. */
const SANDBOX = "sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'";

export function mediaResponse(d: Download, request: Request): Response {
  const headers = new Headers({
    "content-type": d.mime,
    etag: d.etag,
    "accept-ranges": "bytes",
    // Content-addressed, so the bytes behind a URL never change; the URL itself expires.
    "cache-control": `private, max-age=${d.maxAge}, immutable`,
    "content-disposition": disposition(d),
    "x-content-type-options": "nosniff",
    "content-security-policy": SANDBOX,
    // The signature in the URL is a credential: never pass it on in a Referer.
    "referrer-policy": "no-referrer",
    // Web clients on another origin show these in <img>/<video>.
    "cross-origin-resource-policy": "cross-origin",
  });
  if (etagMatches(request.headers.get("if-none-match"), d.etag)) return new Response(null, { status: 304, headers });
  const range = wantedRange(request, d);
  if (range === "unsatisfiable") {
    headers.set("content-range", `bytes */${d.size}`);
    return new Response(null, { status: 416, headers });
  }
  if (range) {
    headers.set("content-range", `bytes ${range.start}-${range.end}/${d.size}`);
    return new Response(d.blob.slice(range.start, range.end + 1), { status: 206, headers });
  }
  return new Response(d.blob, { status: 200, headers });
}

/** `If-None-Match: "a", W/"b"` or `*`; weak comparison, as RFC 9110 says for this header. */
function etagMatches(header: string | null, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === "*") return true;
  return header.split(",").some((t) => t.trim().replace(/^W\//, "") === etag);
}

/**
 * One byte range (`bytes=a-b`, `bytes=a-`, `bytes=-n`), null for the whole file. Several ranges,
 * a malformed header, or an If-Range that no longer matches get the whole file, as RFC 9110
 * allows; a range starting past the end is unsatisfiable (416).
 */
function wantedRange(request: Request, d: Download): { start: number; end: number } | "unsatisfiable" | null {
  const header = request.headers.get("range");
  if (!header) return null;
  const ifRange = request.headers.get("if-range");
  if (ifRange && ifRange.trim() !== d.etag) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return null;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0) return "unsatisfiable";
    return { start: Math.max(0, d.size - suffix), end: d.size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? d.size - 1 : Math.min(Number(m[2]), d.size - 1);
  if (start >= d.size) return "unsatisfiable";
  if (end < start) return null;
  return { start, end };
}

/** inline for what a browser shows in place, attachment for the rest; the name both ways. */
function disposition(d: Download): string {
  const kind = d.inline ? "inline" : "attachment";
  if (!d.fileName) return kind;
  // An ASCII stand-in for old clients, the exact UTF-8 name for the others (RFC 6266).
  const ascii = d.fileName.replace(/[^\x20-\x7e]|["\\%]/g, "_");
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(d.fileName).replace(/['()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase())}`;
}

/**
 * Signed, expiring media URLs (CONTRACT §10): `<public-url>/media/<file_id>?exp=<unix s>&sig=…`
 * work without an Authorization header, so `<img src>` works, and only for a while. The HMAC
 * key is derived from the server secret, so URLs survive restarts and die with a new secret.
 *
 * Expiry times are rounded up to a step: every URL minted for a file within one step is the same
 * string, so browsers and proxies can cache it instead of seeing a new URL on every page load.
 *
 * @example
 *   const signer = new UrlSigner(secrets.jwtSecret, "https://chat.example.org", 3600);
 *   signer.url(fileId, "file"); // https://chat.example.org/media/<id>?exp=…&sig=…
 *   signer.verify(fileId, "file", exp, sig); // "ok" | "expired" | "invalid"
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export type Variant = "file" | "thumbnail";

export type Verdict = "ok" | "expired" | "invalid";

/** Domain separation: this key signs media URLs and nothing else (the JWT key signs tokens). */
const KEY_LABEL = "media-url-signing";

export class UrlSigner {
  private readonly key: Buffer;
  private base: string;

  constructor(
    serverSecret: Uint8Array,
    /** Public base URL without a trailing slash; may change once the port is known. */
    base: string,
    /** How long a minted URL works (seconds, before rounding up to the step). */
    private readonly ttlSeconds: number,
    private readonly now: () => number = Date.now,
  ) {
    this.key = createHmac("sha256", serverSecret).update(KEY_LABEL).digest();
    this.base = base.replace(/\/+$/, "");
  }

  /** Where clients reach us, once the server knows its port (public URL unset). */
  setBase(base: string) {
    this.base = base.replace(/\/+$/, "");
  }

  /** The step expiry times are rounded up to: a tenth of the lifetime, at most 10 minutes. */
  private get step(): number {
    return Math.max(1, Math.min(600, Math.floor(this.ttlSeconds / 10)));
  }

  url(fileId: string, variant: Variant): string {
    const step = this.step;
    const exp = Math.ceil((Math.floor(this.now() / 1000) + this.ttlSeconds) / step) * step;
    const path = variant === "file" ? `/media/${fileId}` : `/media/${fileId}/thumbnail`;
    return `${this.base}${path}?exp=${exp}&sig=${this.sign(fileId, variant, exp)}`;
  }

  /** Check a URL's `exp` and `sig` (strings as they arrived) for this file and variant. */
  verify(fileId: string, variant: Variant, exp: string | undefined, sig: string | undefined): Verdict {
    if (!exp || !sig || !/^\d{1,12}$/.test(exp) || !/^[A-Za-z0-9_-]{43}$/.test(sig)) return "invalid";
    const expected = Buffer.from(this.sign(fileId, variant, Number(exp)));
    if (!timingSafeEqual(expected, Buffer.from(sig))) return "invalid";
    return Number(exp) * 1000 < this.now() ? "expired" : "ok";
  }

  /** Seconds until `exp` (for Cache-Control), never negative. */
  secondsLeft(exp: string): number {
    return Math.max(0, Number(exp) - Math.floor(this.now() / 1000));
  }

  private sign(fileId: string, variant: Variant, exp: number): string {
    return createHmac("sha256", this.key).update(`${variant}\n${fileId}\n${exp}`).digest("base64url");
  }
}

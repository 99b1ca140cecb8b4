/**
 * Access tokens: HS256 JWTs signed with the data dir's secret, naming their session (`sid`) so
 * that revoking the session kills them before they expire. Refresh tokens: 256 random bits,
 * opaque to clients, stored only as SHA-256 hashes.
 *
 * jose is used directly rather than through @elysiajs/jwt because the WebSocket gateway and
 * GraphQL verify the same tokens outside any Elysia context. jose signs; verification, which
 * runs on every authenticated request, is done here synchronously (Bun's keyed CryptoHasher is
 * HMAC): jose's jwtVerify goes through async WebCrypto and cost ~27 µs a token against ~2.5 µs
 * for this (bench/http-users.ts), the largest single item of the request path.
 */
import { timingSafeEqual } from "node:crypto";
import { SignJWT } from "jose";
import { AppError } from "../lib/errors";
import type { Role } from "../users/model";

export interface AccessClaims {
  userId: number;
  sessionId: string;
  role: Role;
}

const ISSUER = "confab";
const KIND = "access";
/** The protected header signAccess writes: `{"alg":"HS256","typ":"JWT"}`, base64url. */
const OWN_HEADER = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url");

export class TokenSigner {
  private readonly key: Uint8Array;

  constructor(secret: Uint8Array, readonly accessTtlSeconds: number) {
    this.key = secret;
  }

  signAccess(c: AccessClaims): Promise<string> {
    return new SignJWT({ sid: c.sessionId, role: c.role, typ: KIND })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setSubject(String(c.userId))
      .setIssuer(ISSUER)
      .setIssuedAt()
      .setExpirationTime(`${this.accessTtlSeconds}s`)
      .sign(this.key);
  }

  /**
   * Check signature, algorithm, issuer, kind and expiry. Throws INVALID_TOKEN or TOKEN_EXPIRED.
   * The rules are jose's jwtVerify with `algorithms: ["HS256"]` and `issuer`, plus a required
   * `exp`: the header must say HS256 (alg=none and every other algorithm are refused) and carry
   * no `crit`; the MAC is always HMAC-SHA-256, compared in constant time; claims are looked at
   * only once the signature holds, so a forged expired token is INVALID_TOKEN, not TOKEN_EXPIRED.
   */
  verifyAccess(token: string): AccessClaims {
    const invalid = () => new AppError("INVALID_TOKEN", "The access token is not valid");
    const dot1 = token.indexOf(".");
    const dot2 = token.indexOf(".", dot1 + 1);
    if (dot1 <= 0 || dot2 <= dot1 + 1 || token.indexOf(".", dot2 + 1) !== -1) throw invalid();

    // The header every token we issue carries is known good; any other is parsed and checked.
    if (token.slice(0, dot1) !== OWN_HEADER) {
      const header = decodeJson(token.slice(0, dot1));
      if (header?.alg !== "HS256" || "crit" in header) throw invalid();
    }

    // Compare base64url text, not decoded bytes: a non-canonical encoding of the right MAC is
    // refused too. Lengths are public (43 characters), the contents are compared in constant time.
    const given = Buffer.from(token.slice(dot2 + 1));
    const expected = Buffer.from(new Bun.CryptoHasher("sha256", this.key).update(token.slice(0, dot2)).digest("base64url"));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid();

    const p = decodeJson(token.slice(dot1 + 1, dot2));
    if (!p) throw invalid();
    const now = Math.floor(Date.now() / 1000);
    if (typeof p.exp !== "number" || (p.iat !== undefined && typeof p.iat !== "number") || (p.nbf !== undefined && (typeof p.nbf !== "number" || p.nbf > now)))
      throw invalid();
    if (p.iss !== ISSUER || p.typ !== KIND || typeof p.sid !== "string" || typeof p.sub !== "string") throw invalid();
    const userId = Number(p.sub);
    if (!Number.isInteger(userId)) throw invalid();
    if (p.exp <= now) throw new AppError("TOKEN_EXPIRED", "The access token has expired");
    return { userId, sessionId: p.sid, role: p.role === "admin" ? "admin" : "user" };
  }
}

/** A base64url JSON object (a JWT header or claims set), or null when it is anything else. */
function decodeJson(part: string): Record<string, any> | null {
  try {
    const v = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
    return typeof v === "object" && v !== null && !Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}

/** A fresh refresh token and the hash under which it is stored. */
export function newRefreshToken(): { token: string; hash: Uint8Array } {
  const token = "rt_" + Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
  return { token, hash: hashRefreshToken(token) };
}

export function hashRefreshToken(token: string): Uint8Array {
  return new Bun.CryptoHasher("sha256").update(token).digest();
}

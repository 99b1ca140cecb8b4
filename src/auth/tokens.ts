/**
 * Access tokens: HS256 JWTs signed with the data dir's secret, naming their session (`sid`) so
 * that revoking the session kills them before they expire. Refresh tokens: 256 random bits,
 * opaque to clients, stored only as SHA-256 hashes.
 *
 * jose is used directly rather than through @elysiajs/jwt because the WebSocket gateway and
 * GraphQL verify the same tokens outside any Elysia context.
 */
import { SignJWT, jwtVerify, errors } from "jose";
import { AppError } from "../lib/errors";
import type { Role } from "../users/model";

export interface AccessClaims {
  userId: number;
  sessionId: string;
  role: Role;
}

const ISSUER = "confab";
const KIND = "access";

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

  /** Check signature, algorithm, issuer, kind and expiry. Throws INVALID_TOKEN or TOKEN_EXPIRED. */
  async verifyAccess(token: string): Promise<AccessClaims> {
    try {
      // `algorithms` pins HS256: alg=none and every other algorithm are refused.
      const { payload } = await jwtVerify(token, this.key, { algorithms: ["HS256"], issuer: ISSUER });
      const userId = Number(payload.sub);
      if (payload.typ !== KIND || !Number.isInteger(userId) || typeof payload.sid !== "string") throw new Error("wrong kind");
      return { userId, sessionId: payload.sid, role: payload.role === "admin" ? "admin" : "user" };
    } catch (e) {
      if (e instanceof errors.JWTExpired) throw new AppError("TOKEN_EXPIRED", "The access token has expired");
      throw new AppError("INVALID_TOKEN", "The access token is not valid");
    }
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

/**
 * The synchronous HS256 check of access tokens (tokens.ts) against jose's jwtVerify with the
 * options we used to pass it: every crafted token must get the same verdict from both, except
 * that we also refuse a token without `exp`.
 */
import { describe, expect, test } from "bun:test";
import { SignJWT, jwtVerify, errors } from "jose";
import { createHmac } from "node:crypto";
import { TokenSigner } from "./tokens";
import { AppError } from "../lib/errors";

const secret = crypto.getRandomValues(new Uint8Array(32));
const otherSecret = crypto.getRandomValues(new Uint8Array(32));
const signer = new TokenSigner(secret, 3600);
const now = Math.floor(Date.now() / 1000);
const claims = { sub: "42", sid: "0192f0e0-0000-7000-8000-000000000000", role: "user", typ: "access", iss: "confab", iat: now, exp: now + 600 };

const b64 = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
const mac = (input: string, key = secret) => createHmac("sha256", key).update(input).digest("base64url");
/** A compact JWS from any header and payload, HMAC-SHA-256 signed with `key`. */
const craft = (header: unknown, payload: unknown, key = secret) => {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${mac(input, key)}`;
};
const sign = (payload: Record<string, unknown>, alg = "HS256", key = secret) => new SignJWT(payload).setProtectedHeader({ alg, typ: "JWT" }).sign(key);

type Verdict = "ok" | "INVALID_TOKEN" | "TOKEN_EXPIRED";

function ours(token: string): Verdict {
  try {
    signer.verifyAccess(token);
    return "ok";
  } catch (e) {
    if (!(e instanceof AppError)) throw e;
    return e.code as Verdict;
  }
}

/** What the previous implementation answered: jose plus our checks of kind, subject and session. */
async function jose(token: string): Promise<Verdict> {
  try {
    const { payload } = await jwtVerify(token, secret, { algorithms: ["HS256"], issuer: "confab" });
    const ok = payload.typ === "access" && Number.isInteger(Number(payload.sub)) && typeof payload.sid === "string";
    return ok ? "ok" : "INVALID_TOKEN";
  } catch (e) {
    return e instanceof errors.JWTExpired ? "TOKEN_EXPIRED" : "INVALID_TOKEN";
  }
}

describe("verifyAccess", () => {
  test("accepts what signAccess issues, with its claims", async () => {
    const token = await signer.signAccess({ userId: 7, sessionId: "s-1", role: "admin" });
    expect(signer.verifyAccess(token)).toEqual({ userId: 7, sessionId: "s-1", role: "admin" });
    const user = await signer.signAccess({ userId: 8, sessionId: "s-2", role: "user" });
    expect(signer.verifyAccess(user).role).toBe("user");
  });

  const good = () => sign(claims);
  const cases: [string, () => string | Promise<string>, Verdict][] = [
    ["a valid token", good, "ok"],
    ["a header without typ", () => craft({ alg: "HS256" }, claims), "ok"],
    ["expired", () => sign({ ...claims, iat: now - 7200, exp: now - 3600 }), "TOKEN_EXPIRED"],
    ["exp exactly now", () => sign({ ...claims, exp: now }), "TOKEN_EXPIRED"],
    ["expired, signed with another key", () => sign({ ...claims, exp: now - 10 }, "HS256", otherSecret), "INVALID_TOKEN"],
    ["another key", () => sign(claims, "HS256", otherSecret), "INVALID_TOKEN"],
    ["HS512 with our key", () => sign(claims, "HS512"), "INVALID_TOKEN"],
    ["HS384 with our key", () => sign(claims, "HS384"), "INVALID_TOKEN"],
    ["header says HS512, MAC is HS256", () => craft({ alg: "HS512" }, claims), "INVALID_TOKEN"],
    ["alg none, empty signature", () => `${b64({ alg: "none" })}.${b64(claims)}.`, "INVALID_TOKEN"],
    ["alg none, no signature part", () => `${b64({ alg: "none" })}.${b64(claims)}`, "INVALID_TOKEN"],
    ["alg None with a valid HS256 MAC", () => craft({ alg: "None" }, claims), "INVALID_TOKEN"],
    ["alg hs256 (case)", () => craft({ alg: "hs256" }, claims), "INVALID_TOKEN"],
    ["no alg", () => craft({ typ: "JWT" }, claims), "INVALID_TOKEN"],
    ["crit header", () => craft({ alg: "HS256", crit: ["exp"] }, claims), "INVALID_TOKEN"],
    ["b64=false with crit", () => craft({ alg: "HS256", b64: false, crit: ["b64"] }, claims), "INVALID_TOKEN"],
    ["header is an array", () => craft(["HS256"], claims), "INVALID_TOKEN"],
    ["header is not JSON", () => craft("alg=HS256", claims), "INVALID_TOKEN"],
    ["payload is not JSON", () => craft({ alg: "HS256" }, "sub=42"), "INVALID_TOKEN"],
    ["payload is an array", () => craft({ alg: "HS256" }, [claims]), "INVALID_TOKEN"],
    ["payload is null", () => craft({ alg: "HS256" }, null), "INVALID_TOKEN"],
    ["wrong issuer", () => sign({ ...claims, iss: "someone-else" }), "INVALID_TOKEN"],
    ["no issuer", () => sign({ ...claims, iss: undefined }), "INVALID_TOKEN"],
    ["wrong kind", () => sign({ ...claims, typ: "refresh" }), "INVALID_TOKEN"],
    ["no session", () => sign({ ...claims, sid: undefined }), "INVALID_TOKEN"],
    ["numeric session", () => sign({ ...claims, sid: 5 }), "INVALID_TOKEN"],
    ["non-integer subject", () => sign({ ...claims, sub: "4.5" }), "INVALID_TOKEN"],
    ["non-numeric subject", () => sign({ ...claims, sub: "alice" }), "INVALID_TOKEN"],
    ["exp as a string", () => sign({ ...claims, exp: String(now + 600) }), "INVALID_TOKEN"],
    ["iat as a string", () => sign({ ...claims, iat: String(now) }), "INVALID_TOKEN"],
    ["nbf in the future", () => sign({ ...claims, nbf: now + 600 }), "INVALID_TOKEN"],
    ["nbf in the past", () => sign({ ...claims, nbf: now - 600 }), "ok"],
    ["empty string", () => "", "INVALID_TOKEN"],
    ["garbage", () => "not-a-jwt", "INVALID_TOKEN"],
    ["two dots only", () => "..", "INVALID_TOKEN"],
  ];
  for (const [name, make, expected] of cases) {
    test(`${name} → ${expected}, as jose says`, async () => {
      const token = await make();
      expect(ours(token)).toBe(expected);
      expect(await jose(token)).toBe(expected);
    });
  }

  test("no exp → INVALID_TOKEN (jose alone would accept it; every token we issue has one)", async () => {
    const { exp: _, ...rest } = claims;
    expect(ours(await sign(rest))).toBe("INVALID_TOKEN");
  });

  test("any change to a signed token is refused", async () => {
    const token = await good();
    const [h, p, s] = token.split(".") as [string, string, string];
    const admin = b64({ ...claims, role: "admin" });
    const flip = (x: string, i: number) => x.slice(0, i) + (x[i] === "A" ? "B" : "A") + x.slice(i + 1);
    for (const t of [
      `${h}.${admin}.${s}`,
      `${h}.${p}.${flip(s, 0)}`,
      `${h}.${p}.${flip(s, s.length - 1)}`,
      `${h}.${p}.${s}=`, // padding: the same MAC bytes, a different encoding
      `${h}.${p}.${s}A`,
      `${h}.${p}.${s.slice(0, -1)}`,
      `${h}.${p}.${s}.`,
      `${h}.${p}.${s}.${s}`,
      `${h}.${p}`,
      `${h}.${p}.${Buffer.from(s, "base64url").toString("base64")}`, // standard base64 alphabet
      ` ${token}`,
      `${token} `,
    ]) {
      expect(ours(t)).toBe("INVALID_TOKEN");
    }
  });
});

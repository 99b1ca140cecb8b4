/**
 * A local OpenID Connect issuer: discovery at /.well-known/openid-configuration, its RS256 keys
 * at /jwks, and `sign()` to mint id_tokens the way a real provider would (or subtly wrong ones:
 * another key, another issuer or audience, expired).
 *
 * @example
 *   const idp = await startFakeOidc();
 *   const s = await startTestServer({ oidc: { acme: { issuer: idp.issuer, clientId: "confab-test" } } });
 *   const token = await idp.sign({ sub: "u1", aud: "confab-test", given_name: "Ann" });
 */
import { SignJWT, exportJWK, generateKeyPair, type JWTPayload, type CryptoKey } from "jose";

export interface SignOptions {
  /** Default: this issuer. */
  issuer?: string;
  /** Seconds from now; negative for an expired token. Default 600. */
  expiresIn?: number;
  /** Sign with a key the issuer never published (under the published kid). */
  foreignKey?: boolean;
}

export interface FakeOidc {
  issuer: string;
  /** Requests for discovery and keys, by path. */
  hits: string[];
  sign(claims: JWTPayload & Record<string, unknown>, o?: SignOptions): Promise<string>;
  stop(): void;
}

const KID = "fake-key-1";

export async function startFakeOidc(): Promise<FakeOidc> {
  const { publicKey, privateKey } = await generateKeyPair("RS256", { extractable: true });
  const foreign = (await generateKeyPair("RS256")).privateKey;
  const jwk = { ...(await exportJWK(publicKey)), kid: KID, alg: "RS256", use: "sig" };
  const hits: string[] = [];
  let issuer = "";

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req): Response {
      const path = new URL(req.url).pathname;
      hits.push(path);
      if (path === "/.well-known/openid-configuration") {
        return Response.json({
          issuer,
          jwks_uri: `${issuer}/jwks`,
          authorization_endpoint: `${issuer}/authorize`,
          token_endpoint: `${issuer}/token`,
          response_types_supported: ["code", "id_token"],
          subject_types_supported: ["public"],
          id_token_signing_alg_values_supported: ["RS256"],
        });
      }
      if (path === "/jwks") return Response.json({ keys: [jwk] });
      return new Response("not found", { status: 404 });
    },
  });
  issuer = `http://127.0.0.1:${server.port}`;

  async function sign(claims: JWTPayload & Record<string, unknown>, o: SignOptions = {}) {
    const key: CryptoKey = o.foreignKey ? foreign : privateKey;
    const now = Math.floor(Date.now() / 1000);
    const exp = now + (o.expiresIn ?? 600);
    return new SignJWT(claims)
      .setProtectedHeader({ alg: "RS256", kid: KID, typ: "JWT" })
      .setIssuer(o.issuer ?? issuer)
      .setIssuedAt(Math.min(now, exp - 60))
      .setExpirationTime(exp)
      .sign(key);
  }

  return { issuer, hits, sign, stop: () => server.stop(true) };
}

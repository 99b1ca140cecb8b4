/**
 * Generic OpenID Connect (CONTRACT §5): the client signs in at the provider and hands us the
 * `id_token`; we verify its signature against the provider's published keys (JWKS, found via
 * discovery and cached by jose), its issuer, audience (our client id) and expiry.
 */
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from "jose";
import { AppError } from "../../lib/errors";
import type { OidcProviderConfig } from "../../config";
import { fetchJson, type ExternalProfile, type IdentityProvider } from "./provider";

export class OidcProvider implements IdentityProvider {
  readonly id: string;
  private jwks: Promise<JWTVerifyGetKey> | null = null;

  constructor(
    name: string,
    private readonly cfg: OidcProviderConfig,
  ) {
    this.id = `oidc:${name}`;
  }

  async verify(idToken: string): Promise<ExternalProfile> {
    const keys = await this.keys();
    let payload;
    try {
      ({ payload } = await jwtVerify(idToken, keys, { issuer: this.cfg.issuer, audience: this.cfg.clientId }));
    } catch {
      throw new AppError("INVALID_TOKEN", "The id_token is not valid for this provider");
    }
    if (typeof payload.sub !== "string") throw new AppError("INVALID_TOKEN", "The id_token has no subject");
    const str = (k: string) => (typeof payload[k] === "string" ? (payload[k] as string) : null);
    // Only a verified email may be linked to an account.
    const email = payload.email_verified === true ? str("email") : null;
    return {
      subject: payload.sub,
      email,
      firstName: (str("given_name") ?? str("name") ?? "User").slice(0, 64),
      lastName: (str("family_name") ?? "").slice(0, 64) || "-",
    };
  }

  /** Discovery once; on failure the next login tries again. */
  private keys(): Promise<JWTVerifyGetKey> {
    this.jwks ??= fetchJson(`${this.cfg.issuer}/.well-known/openid-configuration`)
      .then((r) => {
        if (r.status !== 200 || typeof r.body?.jwks_uri !== "string") throw new Error("no jwks_uri");
        return createRemoteJWKSet(new URL(r.body.jwks_uri));
      })
      .catch(() => {
        this.jwks = null;
        throw new AppError("SERVICE_UNAVAILABLE", "The identity provider could not be reached", undefined, 5);
      });
    return this.jwks;
  }
}

/**
 * An external identity provider (Facebook, OpenID Connect). It turns a credential the client
 * got from the provider into a verified profile; the auth service links it to a user.
 */
export interface ExternalProfile {
  /** The provider's stable user id. */
  subject: string;
  email: string | null;
  firstName: string;
  lastName: string;
}

export interface IdentityProvider {
  /** Stored in identities.provider: "facebook", "oidc:<name>". */
  readonly id: string;
  /** Verify the credential with the provider. Throws AppError INVALID_TOKEN when it is not good. */
  verify(credential: string): Promise<ExternalProfile>;
}

/** Outbound HTTP with a deadline: a slow provider must not hold a login request forever. */
export async function fetchJson(url: string, init: RequestInit = {}, timeoutMs = 10_000): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let body: any = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  return { status: res.status, body };
}

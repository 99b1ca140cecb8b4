/**
 * argon2id through Bun.password (CONTRACT §5). Parameters are OWASP's recommended minimum
 * (19 MiB, 2 passes): ~25 ms a hash here, so a login costs little and a leaked database costs
 * an attacker dearly. Hashes carry their parameters, so raising them later needs no migration.
 */
const PARAMS = { algorithm: "argon2id", memoryCost: 19_456, timeCost: 2 } as const;

export const MIN_PASSWORD_LENGTH = 8;
/** argon2 takes any length, but hashing megabytes per attempt would be a denial of service. */
export const MAX_PASSWORD_LENGTH = 256;

export function hashPassword(password: string): Promise<string> {
  return Bun.password.hash(password, PARAMS);
}

/** A fixed hash to verify against when the account does not exist: same work, same timing. */
let decoy: Promise<string> | undefined;

export async function verifyPassword(password: string, hash: string | null): Promise<boolean> {
  if (hash === null) {
    decoy ??= hashPassword(crypto.randomUUID());
    await Bun.password.verify(password, await decoy);
    return false;
  }
  return Bun.password.verify(password, hash);
}

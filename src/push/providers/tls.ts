/**
 * TLS trust for outgoing push connections: the system's roots plus CONFAB_PUSH_CA_FILE, so a
 * private CA (tests, an in-house push relay) can be added without losing the public ones.
 */
import { readFileSync } from "node:fs";
import { rootCertificates } from "node:tls";

export function pushCertificates(caFile: string | null): string[] | undefined {
  if (!caFile) return undefined;
  return [...rootCertificates, readFileSync(caFile, "utf8")];
}

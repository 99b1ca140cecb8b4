/**
 * A throw-away PKI for the local push provider fakes: a self-signed CA and a server certificate
 * for IP 127.0.0.1 (and localhost) signed by it, made with the machine's `openssl`. The server
 * under test trusts the CA through Config.push.caFile / CONFAB_PUSH_CA_FILE (CONTRACT §11);
 * nothing else does, so a push connection that ignored the setting fails its TLS handshake.
 *
 * @example
 *   const pki = makeTestPki(tempDir());
 *   Bun.serve({ tls: { key: pki.key, cert: pki.cert }, ... });
 *   startTestServer({ push: { ...defaultConfig().push, caFile: pki.caFile } });
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface TestPki {
  /** PEM file of the CA certificate: what Config.push.caFile points at. */
  caFile: string;
  /** The server certificate (SAN IP:127.0.0.1, DNS:localhost) and its key, PEM. */
  cert: string;
  key: string;
}

const OPENSSL_CNF = `[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;

function openssl(args: string[], cwd: string) {
  const r = Bun.spawnSync(["openssl", ...args], { cwd, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`openssl ${args.slice(0, 2).join(" ")} failed (${r.exitCode}): ${r.stderr.toString().slice(0, 400)}`);
}

/** Make a CA and a server certificate (EC P-256, valid 2 days) under `dir`/pki. */
export function makeTestPki(dir: string): TestPki {
  const pki = join(dir, "pki");
  mkdirSync(pki, { recursive: true });
  writeFileSync(join(pki, "openssl.cnf"), OPENSSL_CNF);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  openssl(["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=confab push test CA", "-config", "openssl.cnf", "-extensions", "ca"], pki);
  openssl(["req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1", "-config", "openssl.cnf"], pki);
  openssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "openssl.cnf", "-extensions", "server"], pki);
  return { caFile: join(pki, "ca.pem"), cert: readFileSync(join(pki, "server.pem"), "utf8"), key: readFileSync(join(pki, "server.key"), "utf8") };
}

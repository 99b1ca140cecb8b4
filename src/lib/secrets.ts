/**
 * First-start secrets, kept in the data dir with mode 0600 (CONTRACT §1): the JWT signing key
 * and the VAPID key pair for Web Push. Nothing secret has a built-in default; a copy of the
 * data dir is a complete copy of the server's identity.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface VapidKeys {
  /** Uncompressed P-256 point, base64url (what browsers take as applicationServerKey). */
  publicKey: string;
  /** The private scalar d, base64url. */
  privateKey: string;
}

export interface Secrets {
  jwtSecret: Uint8Array;
  vapid: VapidKeys;
}

export const JWT_SECRET_FILE = "jwt-secret.key";
export const VAPID_FILE = "vapid-keys.json";

/** The data dir cannot be used as one (a file is in the way, no permission): bad input, not a bug. */
export class DataDirError extends Error {
  override name = "DataDirError";
}

/** Create the data dir (0700) if needed; owner-only, since it holds the database and keys. */
export function ensureDataDir(dataDir: string) {
  let stat;
  try {
    stat = statSync(dataDir, { throwIfNoEntry: false });
    if (!stat) mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  } catch (e) {
    // A file where a parent folder should be, no permission: say which path, not a bare errno.
    throw new DataDirError(`cannot use data dir ${dataDir}: ${(e as Error).message}`);
  }
  // Otherwise the first file written inside would fail with an ENOTDIR naming that file.
  if (stat && !stat.isDirectory()) throw new DataDirError(`data dir ${dataDir} exists and is not a directory`);
}

/** Read the secrets, creating any that are missing. */
export async function loadOrCreateSecrets(dataDir: string): Promise<Secrets> {
  ensureDataDir(dataDir);
  const jwtPath = join(dataDir, JWT_SECRET_FILE);
  if (!existsSync(jwtPath)) writePrivate(jwtPath, Buffer.from(crypto.getRandomValues(new Uint8Array(64))).toString("base64url"));
  const jwtSecret = new Uint8Array(Buffer.from(readFileSync(jwtPath, "utf8").trim(), "base64url"));
  if (jwtSecret.length < 32) throw new Error(`${jwtPath} holds fewer than 32 bytes of key`);

  const vapidPath = join(dataDir, VAPID_FILE);
  if (!existsSync(vapidPath)) writePrivate(vapidPath, JSON.stringify(await generateVapidKeys(), null, 2));
  const vapid = JSON.parse(readFileSync(vapidPath, "utf8")) as VapidKeys;
  return { jwtSecret, vapid };
}

async function generateVapidKeys(): Promise<VapidKeys> {
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  const jwk = await crypto.subtle.exportKey("jwk", pair.privateKey);
  return { publicKey: Buffer.from(raw).toString("base64url"), privateKey: jwk.d! };
}

/** Write a file only its owner can read; `wx` refuses to clobber one a concurrent start just made. */
function writePrivate(path: string, content: string) {
  try {
    writeFileSync(path, content + "\n", { mode: 0o600, flag: "wx" });
  } catch (e: any) {
    if (e?.code !== "EEXIST") throw e;
  }
  chmodSync(path, 0o600);
}

/**
 * Backup and restore of a data dir (CONTRACT §12). A backup is one SQLite file made with
 * `VACUUM INTO` — a consistent snapshot even while the server writes (WAL readers see one
 * point in time) — with the server's secret files stored in a table inside it, so a restore
 * brings back working tokens and Web Push keys. Media files are plain files: copy media/.
 *
 * VACUUM INTO runs in a worker thread so the caller can report progress while it works.
 */
import { Database } from "bun:sqlite";
import { chmodSync, closeSync, copyFileSync, existsSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { DATABASE_FILE } from "../db/open";
import { JWT_SECRET_FILE, VAPID_FILE, ensureDataDir } from "../lib/secrets";
import { runningServerPid } from "./pidfile";

const SECRET_FILES = [JWT_SECRET_FILE, VAPID_FILE];

export class BackupError extends Error {
  override name = "BackupError";
}

const VACUUM_WORKER = `
import { Database } from "bun:sqlite";
self.onmessage = (e) => {
  const { src, dst } = e.data;
  try {
    const db = new Database(src, { readonly: true });
    db.exec("PRAGMA busy_timeout = 5000");
    db.prepare("VACUUM INTO ?").run(dst);
    db.close();
    postMessage({ ok: true });
  } catch (err) {
    postMessage({ ok: false, error: String(err && err.message || err) });
  }
};`;

/** Copy the database of `dataDir` into `target` (which must not exist). */
export async function backup(dataDir: string, target: string, onProgress?: (bytes: number, estimate: number) => void): Promise<{ path: string; bytes: number }> {
  const src = join(dataDir, DATABASE_FILE);
  if (!existsSync(src)) throw new BackupError(`no confab database in ${dataDir}`);
  const dst = resolve(target);
  const estimate = databaseBytes(src);
  claim(dst);
  await vacuumInto(src, dst, (bytes) => onProgress?.(bytes, estimate));
  // Put the secrets beside the data they protect, readable only by the owner.
  try {
    const copy = new Database(dst);
    try {
      copy.exec("CREATE TABLE _backup_files (name TEXT PRIMARY KEY, content BLOB NOT NULL) STRICT");
      const put = copy.prepare("INSERT INTO _backup_files (name, content) VALUES (?, ?)");
      for (const name of SECRET_FILES) {
        const p = join(dataDir, name);
        if (existsSync(p)) put.run(name, readFileSync(p));
      }
    } finally {
      copy.close();
    }
  } catch (e) {
    rmSync(dst, { force: true }); // half a backup must not look like a whole one
    throw new BackupError(`backup failed while storing the secrets: ${(e as Error).message}`);
  }
  return { path: dst, bytes: statSync(dst).size };
}

/**
 * Create `dst` empty and owner-only before anything is written to it: a backup holds every
 * message and the JWT signing key, so it must never exist readable by others, not even for a
 * moment. Creating it exclusively also refuses an existing file without a check-then-write race.
 * (VACUUM INTO accepts an empty file as its target.)
 */
function claim(dst: string) {
  try {
    closeSync(openSync(dst, "wx", 0o600));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST") throw new BackupError(`${dst} exists already; choose a new file name`);
    if (code === "ENOENT") throw new BackupError(`cannot create ${dst}: its directory does not exist`);
    throw new BackupError(`cannot create ${dst}: ${(e as Error).message}`);
  }
}

/** Replace the database (and secrets) of `dataDir` with a backup. Refuses while a server runs there. */
export function restore(dataDir: string, file: string): { restored: string; secrets: string[] } {
  const pid = runningServerPid(dataDir);
  if (pid !== null) throw new BackupError(`a confab server (pid ${pid}) is running on ${dataDir}; stop it before restoring`);
  const src = resolve(file);
  if (!existsSync(src)) throw new BackupError(`no such file: ${src}`);
  checkBackup(src);
  ensureDataDir(dataDir);
  const dbPath = join(dataDir, DATABASE_FILE);
  const staging = `${dbPath}.restoring`;
  copyFileSync(src, staging);
  const db = new Database(staging);
  let secrets: string[] = [];
  try {
    const files = db.query<{ name: string; content: Uint8Array }, []>("SELECT name, content FROM _backup_files").all();
    for (const f of files) {
      if (!SECRET_FILES.includes(f.name)) continue;
      writeFileSync(join(dataDir, f.name), f.content, { mode: 0o600 });
    }
    secrets = files.map((f) => f.name).filter((n) => SECRET_FILES.includes(n));
    db.exec("DROP TABLE _backup_files");
  } finally {
    db.close();
  }
  // The old WAL belongs to the old database: it must not be replayed onto the restored one.
  for (const suffix of ["-wal", "-shm"]) rmSync(dbPath + suffix, { force: true });
  renameSync(staging, dbPath);
  for (const name of [DATABASE_FILE, ...secrets]) chmodSync(join(dataDir, name), 0o600);
  return { restored: dbPath, secrets };
}

/** A backup must be a confab database that passes SQLite's integrity check. */
function checkBackup(path: string) {
  let db: Database | null = null;
  try {
    db = new Database(path, { readonly: true });
    const ok = db.query<{ integrity_check: string }, []>("PRAGMA integrity_check").get()?.integrity_check;
    if (ok !== "ok") throw new BackupError(`${path} is damaged: ${ok}`);
    const hasTables = db.query("SELECT 1 FROM sqlite_master WHERE name IN ('_migrations', '_backup_files')").all().length === 2;
    if (!hasTables) throw new BackupError(`${path} is not a confab backup`);
  } catch (e) {
    if (e instanceof BackupError) throw e;
    throw new BackupError(`${path} is not a confab backup: ${(e as Error).message}`);
  } finally {
    db?.close();
  }
}

/** The progress bar's 100%: the database file's size (pages in the WAL are mostly updates of those). */
function databaseBytes(path: string): number {
  return statSync(path).size;
}

async function vacuumInto(src: string, dst: string, onBytes: (n: number) => void) {
  const worker = new Worker(URL.createObjectURL(new Blob([VACUUM_WORKER], { type: "application/javascript" })));
  const poll = setInterval(() => onBytes(existsSync(dst) ? statSync(dst).size : 0), 100);
  try {
    const result = await new Promise<{ ok: boolean; error?: string }>((done) => {
      worker.onmessage = (e) => done(e.data);
      worker.onerror = (e) => done({ ok: false, error: e.message });
      worker.postMessage({ src, dst });
    });
    if (!result.ok) {
      rmSync(dst, { force: true });
      throw new BackupError(`backup failed: ${result.error}`);
    }
    onBytes(statSync(dst).size);
  } finally {
    clearInterval(poll);
    worker.terminate();
  }
}

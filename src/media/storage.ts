/**
 * Where media bytes live (ARCHITECTURE rule 8). Callers see only this interface, so an
 * S3-compatible backend (Bun's S3 client: its files are Blobs with `slice()` too) can replace
 * the disk one without touching them. Keys are content hashes: equal keys mean equal bytes,
 * which makes `put` idempotent and lets identical uploads share one stored object.
 */
import { mkdir, open as openFile, readdir, rename, rm, stat, utimes } from "node:fs/promises";
import { join } from "node:path";

export interface StoredObject {
  key: string;
  size: number;
  /** Last time the object was written or re-put (ms): gc spares recent ones. */
  modifiedAt: number;
}

/** What `put` stores: a finished local file (moved, not copied, when possible) or a stream. */
export type PutSource = { path: string } | { stream: ReadableStream<Uint8Array> };

export interface MediaStorage {
  /**
   * Store `source` under `key`. A key already present is kept (same key, same bytes) and
   * counts as fresh again, so gc cannot remove it between this call and the row that uses it.
   * A `path` source is consumed: it no longer exists afterwards.
   */
  put(key: string, source: PutSource): Promise<void>;
  /** The object as a lazily read Blob (slice it for range reads) and its size, or null when absent. */
  open(key: string): Promise<{ blob: Blob; size: number } | null>;
  stat(key: string): Promise<StoredObject | null>;
  /** Remove the object; absent is fine. */
  delete(key: string): Promise<void>;
  /** Every stored object, in no particular order. */
  list(): AsyncIterable<StoredObject>;
}

const KEY_RE = /^[0-9a-f]{64}$/;

/**
 * Files under `root`, fanned out by the first two hex digits (`ab/abcd…`) so no directory
 * grows past a few thousand entries. `tmpDir` must be on the same filesystem: a finished upload
 * is renamed into place, so a reader never sees half a file.
 */
export class DiskStorage implements MediaStorage {
  constructor(
    private readonly root: string,
    private readonly tmpDir: string,
  ) {}

  private pathOf(key: string): string {
    // Keys come from our own hashes; refusing anything else rules out path tricks for good.
    if (!KEY_RE.test(key)) throw new Error(`invalid media key: ${key}`);
    return join(this.root, key.slice(0, 2), key);
  }

  async put(key: string, source: PutSource): Promise<void> {
    const target = this.pathOf(key);
    let local: string;
    if ("path" in source) local = source.path;
    else {
      local = join(this.tmpDir, `put-${crypto.randomUUID()}`);
      await Bun.write(local, new Response(source.stream));
    }
    try {
      if (await stat(target).catch(() => null)) {
        const now = new Date();
        await utimes(target, now, now);
        return;
      }
      const shard = join(this.root, key.slice(0, 2));
      await mkdir(shard, { recursive: true, mode: 0o700 });
      // On disk before its row commits (SQLite syncs every commit): after a power cut, a file
      // a message names is there in full, not an empty inode.
      await fsync(local);
      await rename(local, target);
      await fsync(shard);
    } finally {
      await rm(local, { force: true });
    }
  }

  async open(key: string): Promise<{ blob: Blob; size: number } | null> {
    const path = this.pathOf(key);
    const s = await stat(path).catch(() => null);
    // Bun sends a file Blob (or a slice of one) with sendfile: no bytes pass through JS.
    return s ? { blob: Bun.file(path), size: s.size } : null;
  }

  async stat(key: string): Promise<StoredObject | null> {
    const s = await stat(this.pathOf(key)).catch(() => null);
    return s ? { key, size: s.size, modifiedAt: s.mtimeMs } : null;
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }

  async *list(): AsyncIterable<StoredObject> {
    const shards = await readdir(this.root).catch(() => [] as string[]);
    for (const shard of shards) {
      if (!/^[0-9a-f]{2}$/.test(shard)) continue;
      for (const name of await readdir(join(this.root, shard)).catch(() => [] as string[])) {
        if (!KEY_RE.test(name)) continue;
        const s = await this.stat(name);
        if (s) yield s;
      }
    }
  }
}

/** Flush a file's data, or a directory's entries, to stable storage. */
async function fsync(path: string) {
  const fh = await openFile(path, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

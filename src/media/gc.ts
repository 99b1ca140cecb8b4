/**
 * `confab media gc`: remove what nothing references. Three sweeps, each safe to interrupt:
 *  1. upload rows nothing uses: released ones (their message deleted, the picture replaced) and
 *     uploads older than `minAge` that were never sent;
 *  2. stored objects no row uses as file or thumbnail, untouched for `minAge` (a running server
 *     stores an object just before the row that uses it: the age spares that moment);
 *  3. temp files older than `minAge` and never less than an hour (crash leftovers: a live upload
 *     is writing to its temp file).
 */
import { readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { MediaStorage } from "./storage";
import type { MediaStore } from "./store";

export interface GcOptions {
  /** Milliseconds something must have been unreferenced (or untouched) before it goes. */
  minAgeMs: number;
  /** Report only; remove nothing. */
  dryRun: boolean;
  now?: number;
}

export interface GcReport {
  dry_run: boolean;
  /** Upload rows removed: their file_ids, and why. */
  files: { file_id: string; reason: "released" | "never sent" | "replaced picture"; bytes: number }[];
  /** Stored objects removed (content hashes). */
  objects: { key: string; bytes: number }[];
  /** Leftover temp files removed. */
  temp_files: string[];
  bytes_freed: number;
}

const BATCH = 500;
/** Bounds every loop: a million rows per run is far beyond a small server's day. */
const MAX_BATCHES = 2000;
const MIN_TEMP_AGE_MS = 3600_000;

export class MediaCollector {
  constructor(
    private readonly store: MediaStore,
    private readonly storage: MediaStorage,
    private readonly tmpDir: string,
  ) {}

  async collect(o: GcOptions): Promise<GcReport> {
    const now = o.now ?? Date.now();
    const cutoff = now - o.minAgeMs;
    const report: GcReport = { dry_run: o.dryRun, files: [], objects: [], temp_files: [], bytes_freed: 0 };
    this.collectRows(cutoff, o.dryRun, report);
    await this.collectObjects(cutoff, o.dryRun, report);
    await this.collectTemp(now - Math.max(o.minAgeMs, MIN_TEMP_AGE_MS), o.dryRun, report);
    return report;
  }

  private collectRows(cutoff: number, dryRun: boolean, report: GcReport) {
    for (let i = 0; i < MAX_BATCHES; i++) {
      const rows = dryRun ? this.store.selectCollectable(cutoff, BATCH * MAX_BATCHES) : this.store.deleteCollectable(cutoff, BATCH);
      for (const r of rows) {
        const reason = r.released_at === null ? "never sent" : r.purpose === "avatar" ? "replaced picture" : "released";
        report.files.push({ file_id: r.id, reason, bytes: r.size });
      }
      if (dryRun || rows.length < BATCH) return;
    }
  }

  private async collectObjects(cutoff: number, dryRun: boolean, report: GcReport) {
    for await (const obj of this.storage.list()) {
      if (obj.modifiedAt > cutoff || this.store.blobInUse(obj.key)) continue;
      // Look again right before deleting: an upload of the same bytes may have just refreshed it.
      const fresh = await this.storage.stat(obj.key);
      if (!fresh || fresh.modifiedAt > cutoff) continue;
      if (!dryRun) await this.storage.delete(obj.key);
      report.objects.push({ key: obj.key, bytes: fresh.size });
      report.bytes_freed += fresh.size;
    }
  }

  private async collectTemp(cutoff: number, dryRun: boolean, report: GcReport) {
    for (const name of await readdir(this.tmpDir).catch(() => [] as string[])) {
      const path = join(this.tmpDir, name);
      const s = await stat(path).catch(() => null);
      if (!s?.isFile() || s.mtimeMs > cutoff) continue;
      if (!dryRun) await rm(path, { force: true });
      report.temp_files.push(name);
      report.bytes_freed += s.size;
    }
  }
}

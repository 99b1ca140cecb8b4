/** `confab media gc`: remove media files nothing references (README: Media). */
import type { Command } from "commander";
import { withCore, type DataDirFlags } from "../context";
import { CliError, EXIT_USAGE, printJson, printTable, processIo as io } from "../output";

interface GcFlags extends DataDirFlags {
  minAge: string;
  dryRun?: boolean;
}

/** A day: an upload not sent within it is abandoned, and no upload in flight is that old. */
const DEFAULT_MIN_AGE_SECONDS = 86_400;

export function registerMedia(program: Command) {
  const media = program.command("media").description("manage stored media");
  media
    .command("gc")
    .description("remove uploads nothing references (deleted messages, replaced pictures, never sent) and stored files no upload uses")
    .option("--data-dir <dir>", "data directory (default ./data)")
    .option("--config <file>", "config file")
    .option("--min-age <seconds>", "only what has been unused this long; 0 is safe only while no server runs", String(DEFAULT_MIN_AGE_SECONDS))
    .option("--dry-run", "list what would go, remove nothing")
    .option("--json", "machine-readable output")
    .action(async (f: GcFlags) => {
      if (!/^\d{1,10}$/.test(f.minAge)) throw new CliError("--min-age must be a number of seconds", EXIT_USAGE);
      await withCore(f, async (core) => {
        const report = await core.media.collector.collect({ minAgeMs: Number(f.minAge) * 1000, dryRun: !!f.dryRun });
        if (f.json) return printJson(io, report);
        const verb = f.dryRun ? "would remove" : "removed";
        if (report.files.length) printTable(io, ["file_id", "reason", "bytes"], report.files.map((x) => [x.file_id, x.reason, x.bytes]));
        for (const o of report.objects) io.out(`${verb} stored object ${o.key} (${o.bytes} bytes)`);
        for (const t of report.temp_files) io.out(`${verb} temp file ${t}`);
        io.out(`${verb} ${report.files.length} uploads, ${report.objects.length} stored objects, ${report.temp_files.length} temp files: ${report.bytes_freed} bytes`);
      });
    });
}

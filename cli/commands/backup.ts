/** `confab backup FILE` and `confab restore FILE` (CONTRACT §12). */
import type { Command } from "commander";
import { loadConfig } from "../../src/config";
import { backup, restore, BackupError } from "../../src/ops/backup";
import { CliError, printJson, processIo as io } from "../output";
import type { DataDirFlags } from "../context";

/** A one-line bar redrawn in place; only on a terminal, never in --json or a pipe. */
function progressBar(): (bytes: number, estimate: number) => void {
  if (!process.stderr.isTTY) return () => {};
  return (bytes, estimate) => {
    const share = estimate > 0 ? Math.min(1, bytes / estimate) : 0;
    const width = 30;
    const filled = Math.round(share * width);
    process.stderr.write(`\r[${"#".repeat(filled)}${" ".repeat(width - filled)}] ${(bytes / 1048576).toFixed(1)} MiB`);
  };
}

function rethrow(e: unknown): never {
  if (e instanceof BackupError) throw new CliError(e.message);
  throw e;
}

export function registerBackup(program: Command) {
  program
    .command("backup")
    .description("write a consistent copy of the database (and its secrets) to FILE, also while the server runs")
    .argument("<file>", "the backup file to create")
    .option("--data-dir <dir>", "data directory (default ./data)")
    .option("--json", "machine-readable output")
    .action(async (file: string, f: DataDirFlags) => {
      const config = loadConfig({ dataDir: f.dataDir });
      const r = await backup(config.dataDir, file, f.json ? undefined : progressBar()).catch(rethrow);
      if (process.stderr.isTTY && !f.json) process.stderr.write("\n");
      if (f.json) printJson(io, r);
      else io.out(`backup written to ${r.path} (${(r.bytes / 1048576).toFixed(1)} MiB); copy ${config.dataDir}/media too`);
    });

  program
    .command("restore")
    .description("replace the database (and secrets) of the data dir with a backup; the server must be stopped")
    .argument("<file>", "a file made by confab backup")
    .option("--data-dir <dir>", "data directory (default ./data)")
    .option("--json", "machine-readable output")
    .action((file: string, f: DataDirFlags) => {
      const config = loadConfig({ dataDir: f.dataDir });
      let r;
      try {
        r = restore(config.dataDir, file);
      } catch (e) {
        rethrow(e);
      }
      if (f.json) printJson(io, r);
      else io.out(`restored ${r.restored}${r.secrets.length ? ` with ${r.secrets.join(", ")}` : ""}`);
    });
}

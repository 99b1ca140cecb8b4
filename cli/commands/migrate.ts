/** `confab migrate`: apply pending migrations (the server also does this at start). */
import type { Command } from "commander";
import { Database } from "bun:sqlite";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { withCore, type DataDirFlags } from "../context";
import { loadConfig } from "../../src/config";
import { DATABASE_FILE } from "../../src/app";
import { appliedMigrations } from "../../src/db/migrate";
import { printJson, processIo as io } from "../output";

export function registerMigrate(program: Command) {
  program
    .command("migrate")
    .description("apply pending database migrations")
    .option("--data-dir <dir>", "data directory (default ./data)")
    .option("--config <file>", "config file")
    .option("--json", "machine-readable output")
    .action(async (flags: DataDirFlags) => {
      const { dataDir } = loadConfig({ dataDir: flags.dataDir, config: flags.config });
      const before = recordedMigrations(join(dataDir, DATABASE_FILE));
      // Opening the core applies what is pending; the difference is what this run applied.
      await withCore(flags, (core) => {
        const all = appliedMigrations(core.db);
        const applied = all.filter((name) => !before.includes(name));
        if (flags.json) return printJson(io, { applied, migrations: all });
        if (applied.length) io.out(`applied ${applied.join(", ")}`);
        io.out(`database is up to date (${all.length} migrations: ${all.join(", ")})`);
      }, { create: true });
    });
}

/** What the database had recorded before this run; read-only, so looking changes nothing. */
function recordedMigrations(path: string): string[] {
  if (!existsSync(path)) return [];
  const db = new Database(path, { readonly: true });
  try {
    return appliedMigrations(db);
  } finally {
    db.close();
  }
}

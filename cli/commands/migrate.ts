/** `confab migrate`: apply pending migrations (the server also does this at start). */
import type { Command } from "commander";
import { withCore, type DataDirFlags } from "../context";
import { appliedMigrations } from "../../src/db/migrate";
import { printJson, processIo as io } from "../output";

export function registerMigrate(program: Command) {
  program
    .command("migrate")
    .description("apply pending database migrations")
    .option("--data-dir <dir>", "data directory (default ./data)")
    .option("--json", "machine-readable output")
    .action(async (flags: DataDirFlags) => {
      // Opening the core applies what is pending; report what the database now has.
      await withCore(flags, (core) => {
        const applied = appliedMigrations(core.db);
        if (flags.json) printJson(io, { applied });
        else io.out(`database is up to date (${applied.length} migrations: ${applied.join(", ")})`);
      });
    });
}

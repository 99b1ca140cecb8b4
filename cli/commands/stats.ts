/** `confab stats`: the admin dashboard's figures, on the terminal. */
import type { Command } from "commander";
import { withCore, type DataDirFlags } from "../context";
import { printJson, printTable, processIo as io } from "../output";

export function registerStats(program: Command) {
  program
    .command("stats")
    .description("users, conversations, messages, storage and push queue figures")
    .option("--data-dir <dir>", "data directory (default ./data)")
    .option("--json", "machine-readable output")
    .action(async (f: DataDirFlags) => {
      await withCore(f, (core) => {
        const s = core.admin.stats();
        if (f.json) return printJson(io, s);
        printTable(
          io,
          ["figure", "value"],
          [
            ["users", `${s.users.total} (${s.users.admins} admins, ${s.users.disabled} disabled)`],
            ["conversations", s.conversations],
            ["messages", `${s.messages.total} (${s.messages.today} today)`],
            ["live sessions", s.sessions],
            ["push devices", s.devices],
            ["push queue", `${s.push.queued} queued, ${s.push.failed} failed`],
            ["database", `${(s.storage.database_bytes / 1048576).toFixed(1)} MiB`],
            ["media", `${(s.storage.media_bytes / 1048576).toFixed(1)} MiB`],
          ],
        );
      });
    });
}

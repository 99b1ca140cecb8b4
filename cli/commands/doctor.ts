/** `confab doctor`: check the data dir, database, port and push providers; exit 1 if any check fails. */
import type { Command } from "commander";
import { loadConfig } from "../../src/config";
import { runChecks } from "../../src/ops/doctor";
import { CliError, printJson, printTable, processIo as io } from "../output";

export function registerDoctor(program: Command) {
  program
    .command("doctor")
    .description("check data dir permissions, database integrity, the port and push providers")
    .option("--data-dir <dir>", "data directory (default ./data)")
    .option("--config <file>", "config file")
    .option("--port <n>", "the port serve would use")
    .option("--json", "machine-readable output")
    .action(async (f: { dataDir?: string; config?: string; port?: string; json?: boolean }) => {
      const checks = await runChecks(loadConfig({ dataDir: f.dataDir, config: f.config, port: f.port }));
      if (f.json) printJson(io, checks);
      else printTable(io, ["check", "", "detail"], checks.map((c) => [c.name, c.ok ? "ok" : "FAIL", c.detail]));
      const failed = checks.filter((c) => !c.ok).length;
      if (failed) throw new CliError(`${failed} check${failed > 1 ? "s" : ""} failed`);
    });
}

/** `confab config show`: the effective settings after flags, environment and file, secrets masked. */
import type { Command } from "commander";
import { loadConfig, maskedConfig } from "../../src/config";
import { printJson, processIo as io } from "../output";

export function registerConfig(program: Command) {
  const config = program.command("config").description("inspect settings");
  config
    .command("show")
    .description("print the effective settings (secrets masked)")
    .option("--data-dir <dir>", "data directory (default ./data)")
    .option("--config <file>", "config file")
    .option("--json", "machine-readable output (the default is JSON too, indented)")
    .action((f: { dataDir?: string; config?: string }) => {
      printJson(io, maskedConfig(loadConfig({ dataDir: f.dataDir, config: f.config })));
    });
}

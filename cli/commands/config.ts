/** `confab config show`: the effective settings after flags, environment and file, secrets masked. */
import type { Command } from "commander";
import { loadConfig, maskedConfig } from "../../src/config";
import { printJson, printTable, processIo as io } from "../output";

/** `{ a: { b: 1 } }` → `[["a.b", "1"]]`: one row per setting, nested names joined with dots. */
function flatten(value: Record<string, unknown>, prefix = ""): [string, string][] {
  return Object.entries(value).flatMap(([k, v]): [string, string][] =>
    v !== null && typeof v === "object" && !Array.isArray(v) ? flatten(v as Record<string, unknown>, `${prefix}${k}.`) : [[`${prefix}${k}`, v === null ? "-" : typeof v === "string" ? v : JSON.stringify(v)]],
  );
}

export function registerConfig(program: Command) {
  const config = program.command("config").description("inspect settings");
  config
    .command("show")
    .description("print the effective settings (secrets masked)")
    .option("--data-dir <dir>", "data directory (default ./data)")
    .option("--config <file>", "config file")
    .option("--json", "machine-readable output")
    .action((f: { dataDir?: string; config?: string; json?: boolean }) => {
      const settings = maskedConfig(loadConfig({ dataDir: f.dataDir, config: f.config }));
      if (f.json) return printJson(io, settings);
      printTable(io, ["setting", "value"], flatten(settings as unknown as Record<string, unknown>));
    });
}

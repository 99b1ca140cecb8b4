/** Opening the data dir for a CLI command: the same core the server builds, quiet on stdout. */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { loadConfig, type ConfigFlags } from "../src/config";
import { DATABASE_FILE, openCore, type Core } from "../src/app";
import { Logger } from "../src/lib/log";
import { CliError } from "./output";

/** Flags every data-dir command accepts. */
export interface DataDirFlags {
  dataDir?: string;
  config?: string;
  json?: boolean;
}

/**
 * Run `fn` with an open core and always close it. Logs go to stderr so stdout stays parseable.
 * Only commands that may start a server's data (`migrate`, `user add`) pass `create`; the others
 * refuse a data dir without a database, so a mistyped --data-dir is an error rather than a new,
 * empty server identity.
 */
export async function withCore<T>(flags: DataDirFlags & ConfigFlags, fn: (core: Core) => Promise<T> | T, o: { create?: boolean } = {}): Promise<T> {
  const config = loadConfig({ dataDir: flags.dataDir, config: flags.config });
  if (!o.create && !existsSync(join(config.dataDir, DATABASE_FILE))) {
    throw new CliError(`no confab database in ${config.dataDir}: check --data-dir (serve, migrate and user add create one)`);
  }
  const log = new Logger("warn", {}, (line) => process.stderr.write(line + "\n"));
  const core = await openCore(config, log);
  try {
    return await fn(core);
  } finally {
    core.close();
  }
}

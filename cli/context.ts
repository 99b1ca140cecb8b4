/** Opening the data dir for a CLI command: the same core the server builds, quiet on stdout. */
import { loadConfig, type ConfigFlags } from "../src/config";
import { openCore, type Core } from "../src/app";
import { Logger } from "../src/lib/log";

/** Flags every data-dir command accepts. */
export interface DataDirFlags {
  dataDir?: string;
  config?: string;
  json?: boolean;
}

/** Run `fn` with an open core and always close it. Logs go to stderr so stdout stays parseable. */
export async function withCore<T>(flags: DataDirFlags & ConfigFlags, fn: (core: Core) => Promise<T> | T): Promise<T> {
  const config = loadConfig({ dataDir: flags.dataDir, config: flags.config });
  const log = new Logger("warn", {}, (line) => process.stderr.write(line + "\n"));
  const core = await openCore(config, log);
  try {
    return await fn(core);
  } finally {
    core.close();
  }
}

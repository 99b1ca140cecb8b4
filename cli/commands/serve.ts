/** `confab serve`: run the server until SIGTERM/SIGINT, then shut down cleanly (CONTRACT §1). */
import type { Command } from "commander";
import { loadConfig, type ConfigFlags } from "../../src/config";
import { startServer } from "../../src/app";

/** The server must be gone within 10 s of a stop signal, whatever is in flight. */
const SHUTDOWN_DEADLINE_MS = 10_000;

export function registerServe(program: Command) {
  program
    .command("serve")
    .description("start the server (REST, WebSocket and GraphQL on one port)")
    .option("--port <n>", "port to listen on; 0 picks a free one (env CONFAB_PORT, default 8080)")
    .option("--host <addr>", "address to listen on (env CONFAB_HOST, default 0.0.0.0)")
    .option("--data-dir <dir>", "where the database, secrets and media live (env CONFAB_DATA_DIR, default ./data)")
    .option("--config <file>", "config file (env CONFAB_CONFIG, default <data-dir>/confab.toml)")
    .option("--public-url <url>", "URL clients reach this server at (env CONFAB_PUBLIC_URL)")
    .option("--registration <mode>", "open or closed (env CONFAB_REGISTRATION, default closed)")
    .option("--log-level <level>", "debug, info, warn, error or silent (env CONFAB_LOG_LEVEL, default info)")
    .option("--presence <on|off>", "presence and typing indicators (env CONFAB_PRESENCE, default on)")
    .option("--max-upload-bytes <n>", "largest media upload (env CONFAB_MAX_UPLOAD_BYTES, default 26214400)")
    .action(async (flags: ConfigFlags) => {
      const config = loadConfig(flags);
      const server = await startServer(config);
      process.stderr.write(`confab listening on ${server.url} (data in ${config.dataDir})\n`);
      let stopping = false;
      const shutdown = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        server.core.log.info("shutting down", { signal });
        const deadline = setTimeout(() => process.exit(1), SHUTDOWN_DEADLINE_MS);
        await server.stop();
        clearTimeout(deadline);
        process.exit(0);
      };
      process.on("SIGTERM", () => void shutdown("SIGTERM"));
      process.on("SIGINT", () => void shutdown("SIGINT"));
    });
}

#!/usr/bin/env bun
/**
 * The `confab` command. Parses flags, calls into src/, prints; no logic of its own.
 * Exit codes (CONTRACT §12): 0 success, 1 bad input or failure, 2 usage error; never a stack trace.
 */
import { Command, CommanderError } from "commander";
import { AppError } from "../src/lib/errors";
import { ConfigError } from "../src/config";
import { DataDirError } from "../src/lib/secrets";
import { CliError, EXIT_FAILURE, EXIT_USAGE, processIo as io } from "./output";
import { registerServe } from "./commands/serve";
import { registerMigrate } from "./commands/migrate";
import { registerUser } from "./commands/user";
import { registerDevice } from "./commands/device";
import { registerBackup } from "./commands/backup";
import { registerStats } from "./commands/stats";
import { registerConfig } from "./commands/config";
import { registerDoctor } from "./commands/doctor";
import { registerMedia } from "./commands/media";
import pkg from "../package.json" with { type: "json" };

export function buildProgram(): Command {
  const program = new Command("confab")
    .description("confab: a self-hosted messaging server in one executable")
    .version(pkg.version)
    .showHelpAfterError("(run `confab --help` for usage)")
    .exitOverride();
  registerServe(program);
  registerMigrate(program);
  registerUser(program);
  registerDevice(program);
  registerBackup(program);
  registerStats(program);
  registerConfig(program);
  registerDoctor(program);
  registerMedia(program);
  // Every subcommand reports usage errors through exitOverride, like the program itself.
  for (const cmd of allCommands(program)) cmd.exitOverride();
  return program;
}

function allCommands(c: Command): Command[] {
  return c.commands.flatMap((sub) => [sub, ...allCommands(sub)]);
}

/** The one place errors become a message and an exit code. */
export function exitCodeFor(e: unknown): { code: number; message?: string } {
  if (e instanceof CommanderError) {
    // Help and version print themselves and exit 0; everything else commander throws is usage.
    if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.exitCode === 0) return { code: 0 };
    return { code: EXIT_USAGE };
  }
  if (e instanceof CliError) return { code: e.code, message: e.message };
  if (e instanceof ConfigError) return { code: EXIT_USAGE, message: e.message };
  if (e instanceof DataDirError) return { code: EXIT_FAILURE, message: e.message };
  if (e instanceof AppError) {
    const details = e.details?.map((d) => `  ${d.field}: ${d.message}`).join("\n");
    return { code: EXIT_FAILURE, message: details ? `${e.message}\n${details}` : e.message };
  }
  const err = e as NodeJS.ErrnoException;
  if (err?.code === "EADDRINUSE") return { code: EXIT_FAILURE, message: "the port is already in use" };
  if (err?.code === "EACCES" || err?.code === "EPERM") return { code: EXIT_FAILURE, message: `permission denied: ${err.message}` };
  return { code: EXIT_FAILURE, message: `unexpected error: ${err?.message ?? String(e)}` };
}

export async function main(argv: string[]) {
  // `confab user list | head`: the reader left, so nothing more can be said; end quietly, as
  // Unix tools do, instead of dying with a stack trace about EPIPE.
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(0);
  });
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
    const { code, message } = exitCodeFor(e);
    if (message) io.err(`confab: ${message}`);
    process.exit(code);
  }
}

if (import.meta.main) await main(process.argv);

/** Getting a password into the CLI without leaving it in shell history when possible. */
import { CliError, EXIT_USAGE } from "./output";

export async function readPassword(f: { password?: string; passwordStdin?: boolean }): Promise<string> {
  if (f.password !== undefined && f.passwordStdin) throw new CliError("give either --password or --password-stdin, not both", EXIT_USAGE);
  if (f.password !== undefined) return f.password;
  if (f.passwordStdin) return (await Bun.stdin.text()).replace(/\r?\n$/, "");
  if (process.stdin.isTTY) return promptHidden("Password: ");
  throw new CliError("no password given: use --password-stdin (or --password)", EXIT_USAGE);
}

/** Read one line from the terminal without echoing it. */
function promptHidden(label: string): Promise<string> {
  return new Promise((resolve, reject) => {
    process.stderr.write(label);
    const stdin = process.stdin;
    stdin.setRawMode(true);
    stdin.resume();
    let value = "";
    const onData = (buf: Buffer) => {
      for (const ch of buf.toString("utf8")) {
        if (ch === "\r" || ch === "\n") return finish(() => resolve(value));
        if (ch === "\u0003") return finish(() => reject(new CliError("cancelled")));
        if (ch === "\u007f") value = value.slice(0, -1);
        else value += ch;
      }
    };
    const finish = (then: () => void) => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write("\n");
      then();
    };
    stdin.on("data", onData);
  });
}

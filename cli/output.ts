/** How the CLI talks: tables for people, JSON for scripts, one-line errors, fixed exit codes (CONTRACT §12). */

export const EXIT_OK = 0;
/** Bad input or a failed operation. */
export const EXIT_FAILURE = 1;
/** Wrong usage: unknown command or option, missing argument. */
export const EXIT_USAGE = 2;

/** An error the CLI reports as one line on stderr, then exits with `code`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code = EXIT_FAILURE,
  ) {
    super(message);
  }
}

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

export const processIo: Io = {
  out: (t) => process.stdout.write(t.endsWith("\n") ? t : t + "\n"),
  err: (t) => process.stderr.write(t.endsWith("\n") ? t : t + "\n"),
};

export function printJson(io: Io, value: unknown) {
  io.out(JSON.stringify(value, null, 2));
}

/** A plain aligned table: header row, then one row per item. */
export function printTable(io: Io, columns: string[], rows: (string | number | boolean | null)[][]) {
  const cells = [columns, ...rows.map((r) => r.map((c) => (c === null ? "-" : String(c))))];
  const widths = columns.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  for (const r of cells) io.out(r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd());
}

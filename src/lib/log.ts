/**
 * Structured logging: one JSON object per line on stdout, so an operator can pipe it into
 * jq, journald or Loki. `log.tag("push").with({ userId }).info("sent", { n })` adds context
 * without string building. Instances are made by the composition root; nothing is global.
 */

export const LOG_LEVELS = ["debug", "info", "warn", "error", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

type Fields = Record<string, unknown>;
type Sink = (line: string) => void;

export class Logger {
  constructor(
    private readonly level: LogLevel,
    private readonly context: Fields = {},
    private readonly sink: Sink = (line) => process.stdout.write(line + "\n"),
  ) {}

  /** A child logger whose lines carry `tag`. */
  tag(tag: string): Logger {
    return this.with({ tag });
  }

  /** A child logger whose lines carry these fields. */
  with(fields: Fields): Logger {
    return new Logger(this.level, { ...this.context, ...fields }, this.sink);
  }

  enabled(level: LogLevel): boolean {
    return RANK[level] >= RANK[this.level];
  }

  debug(msg: string, fields?: Fields) {
    this.write("debug", msg, fields);
  }
  info(msg: string, fields?: Fields) {
    this.write("info", msg, fields);
  }
  warn(msg: string, fields?: Fields) {
    this.write("warn", msg, fields);
  }
  error(msg: string, fields?: Fields) {
    this.write("error", msg, fields);
  }

  private write(level: LogLevel, msg: string, fields?: Fields) {
    if (!this.enabled(level)) return;
    const line = { time: new Date().toISOString(), level, msg, ...this.context, ...fields };
    // A replacer makes JSON.stringify ~3× slower (~1 µs a line: the access log writes one per
    // request). Only an object value can be or hold an Error, so lines of plain values skip it.
    this.sink(JSON.stringify(line, hasObjectValue(this.context) || hasObjectValue(fields) ? errorReplacer : undefined));
  }
}

function hasObjectValue(fields: Fields | undefined): boolean {
  for (const k in fields) {
    const v = fields[k];
    if (typeof v === "object" && v !== null) return true;
  }
  return false;
}

/** Errors serialise as their name and message only: stack traces stay out of shipped logs unless debugging. */
function errorReplacer(_key: string, value: unknown) {
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}

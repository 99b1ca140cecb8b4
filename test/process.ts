/**
 * Running confab as a real child process (the CLI from source, or the compiled executable),
 * for tests that must see what an operator sees: exit codes, stdout/stderr, signals.
 * Every process started here is tracked, so `killAll()` in afterAll leaves none behind even
 * when a test failed halfway.
 *
 * @example
 *   const r = await runCli(["user", "list", "--json", "--data-dir", dir]);
 *   const s = await spawnServer([BUN, CLI, "serve", "--port", "0", "--data-dir", dir]);
 *   expect(await s.stop()).toBe(0);
 */
import type { Subprocess } from "bun";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dir, "..");
/** The Bun running the tests: the same one as node_modules/.bin/bun. */
export const BUN = process.execPath;
export const CLI = join(ROOT, "cli", "index.ts");

/** How long one CLI command may take before it counts as hung. */
const CLI_TIMEOUT_MS = 15_000;
/** How long a server may take to print its port. */
const START_TIMEOUT_MS = 15_000;

const children = new Set<Subprocess>();

/** SIGKILL every child still running; for afterAll. */
export function killAll() {
  for (const p of children) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  children.clear();
}

/** The environment without the developer's CONFAB_* settings, so a test sees only what it sets. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("CONFAB_")) env[k] = v;
  return { ...env, ...extra };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `confab <args>` from source; `stdin` is piped in when given, `env` added to a clean environment. */
export async function runCli(args: string[], o: { stdin?: string; cwd?: string; cmd?: string[]; env?: Record<string, string> } = {}): Promise<CliResult> {
  const p = Bun.spawn([...(o.cmd ?? [BUN, CLI]), ...args], {
    cwd: o.cwd ?? ROOT,
    env: cleanEnv(o.env),
    stdin: o.stdin === undefined ? "ignore" : new TextEncoder().encode(o.stdin),
    stdout: "pipe",
    stderr: "pipe",
    timeout: CLI_TIMEOUT_MS,
  });
  children.add(p);
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  children.delete(p);
  if (p.signalCode) throw new Error(`confab ${args.join(" ")} was killed (${p.signalCode}) after ${CLI_TIMEOUT_MS} ms\nstderr: ${stderr}`);
  return { code, stdout, stderr };
}

/** A JS stack frame (`at f (file:1:2)`) or Bun's source excerpt of an uncaught error (`12 | code`). */
export function hasStackTrace(text: string): boolean {
  return /^\s*at\s.*(:\d+:\d+\)?|\(native\))\s*$/m.test(text) || /^\s*\d+\s\|\s/m.test(text);
}

export interface ServerProcess {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  port: number;
  url: string;
  /** stdout lines seen so far (JSON log lines). */
  lines: string[];
  /** stderr so far, for failure messages. */
  stderr(): string;
  /** Send `signal` and wait (bounded) for the exit: the exit code and the milliseconds it took. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<{ code: number | null; ms: number }>;
}

/** Start `cmd` (a `serve` command with `--port 0`) and wait for its `"port":N` log line. */
export async function spawnServer(cmd: string[], o: { cwd?: string; env?: Record<string, string> } = {}): Promise<ServerProcess> {
  const proc = Bun.spawn(cmd, { cwd: o.cwd ?? ROOT, env: cleanEnv(o.env), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  children.add(proc);
  let err = "";
  void drain(proc.stderr, (line) => (err += line + "\n"));
  const lines: string[] = [];
  let onLine: ((line: string) => void) | undefined;
  // Read stdout for the whole life of the process, so a chatty server never blocks on a full pipe.
  const ended = drain(proc.stdout, (line) => {
    lines.push(line);
    onLine?.(line);
  });
  const port = await new Promise<number>((resolve, reject) => {
    const failure = (why: string) => new Error(`${why}\nstdout: ${lines.join("\n")}\nstderr: ${err}`);
    const timer = setTimeout(() => reject(failure(`no "port":N line within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    onLine = (line) => {
      const m = /"port":(\d+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    void ended.then(async () => {
      clearTimeout(timer);
      reject(failure(`the server exited (code ${await proc.exited}) before listening`));
    });
  }).catch((e) => {
    proc.kill("SIGKILL");
    throw e;
  });
  return {
    proc,
    port,
    url: `http://127.0.0.1:${port}`,
    lines,
    stderr: () => err,
    async stop(signal = "SIGTERM", timeoutMs = 10_000) {
      const t0 = performance.now();
      proc.kill(signal);
      let timer: Timer | undefined;
      const timeout = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), timeoutMs)));
      const outcome = await Promise.race([proc.exited, timeout]);
      clearTimeout(timer);
      const ms = performance.now() - t0;
      if (outcome === "timeout") {
        proc.kill("SIGKILL");
        return { code: null, ms };
      }
      children.delete(proc);
      await ended; // the pipe closed with the process: every line it wrote is in `lines`
      return { code: outcome, ms };
    },
  };
}

/** Call `onLine` for each complete line of `stream`; resolves when it ends. */
async function drain(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void) {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of stream) {
    buffer += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      onLine(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
    }
  }
  if (buffer) onLine(buffer);
}

export interface Http {
  status: number;
  body: any;
  text: string;
}

/** One JSON request to a server started here. */
export async function http(base: string, method: string, path: string, body?: unknown, token?: string): Promise<Http> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers["content-type"] = "application/json";
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let parsed: any;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, body: parsed, text };
}

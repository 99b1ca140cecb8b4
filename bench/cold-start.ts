/**
 * Cold start of the shipped executable: the time from spawning `dist/confab serve --port 0` to
 * the first 200 from GET /healthz, the wait a supervisor (systemd, Docker) sees at each restart.
 *
 *   npm run bench:cold-start               # 10 runs of each kind
 *   bun bench/cold-start.ts --runs 30
 *
 * Two kinds of start, reported separately:
 *   - fresh data dir: first start, so it also creates the JWT secret, the VAPID key pair and
 *     the database, and applies every migration;
 *   - existing data dir: a restart, which only opens what is there.
 * One untimed `--help` run first puts the executable in the page cache, as on a server that
 * has run it before. Figures, not pass/fail; the target is p50 and p99 under 300 ms.
 */
import { spawn, spawnSync, type Subprocess } from "bun";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

const BINARY = join(resolve(import.meta.dir, ".."), "dist", "confab");
const TARGET_MS = 300;
/** A start slower than this is a failure to report, not a figure. */
const START_TIMEOUT_MS = 10_000;
const MAX_RUNS = 200;

const { values: opt } = parseArgs({ options: { runs: { type: "string", default: "10" } } });
const runs = Number(opt.runs);
if (!Number.isInteger(runs) || runs < 1 || runs > MAX_RUNS) {
  console.error(`--runs must be an integer from 1 to ${MAX_RUNS}`);
  process.exit(2);
}
if (!existsSync(BINARY)) {
  console.error(`${BINARY} is missing: run \`npm run build\` first`);
  process.exit(1);
}

const scratch = mkdtempSync(join(tmpdir(), "confab-cold-start-"));
let child: Subprocess<"ignore", "pipe", "ignore"> | undefined;
// Whatever happens, leave no server behind and no temp dirs.
const cleanup = () => {
  child?.kill("SIGKILL");
  rmSync(scratch, { recursive: true, force: true });
};
process.on("SIGINT", () => {
  cleanup();
  process.exit(130);
});

/** Spawn the server and return the milliseconds until /healthz first answers 200. */
async function startOnce(dataDir: string): Promise<number> {
  const t0 = performance.now();
  child = spawn([BINARY, "serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", dataDir, "--log-level", "info"], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "ignore",
  });
  try {
    const port = await readPort(child);
    const deadline = t0 + START_TIMEOUT_MS;
    // The port line is logged once the socket listens, so the first try normally answers.
    for (;;) {
      const r = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null);
      if (r?.status === 200) return performance.now() - t0;
      if (performance.now() > deadline) throw new Error(`/healthz did not answer 200 within ${START_TIMEOUT_MS} ms`);
      await Bun.sleep(1);
    }
  } finally {
    await stop(child);
    child = undefined;
  }
}

/** Read stdout up to the `"port":N` log line, within the start timeout. */
async function readPort(p: Subprocess<"ignore", "pipe", "ignore">): Promise<number> {
  const reader = p.stdout.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const timer = setTimeout(() => p.kill("SIGKILL"), START_TIMEOUT_MS);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the server exited (code ${await p.exited}) before listening:\n${text}`);
      text += decoder.decode(value, { stream: true });
      const m = /"port":(\d+)/.exec(text);
      if (m) return Number(m[1]);
    }
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
  }
}

/** SIGTERM, then SIGKILL if it has not exited within 10 s (the contract's shutdown bound). */
async function stop(p: Subprocess<"ignore", "pipe", "ignore">) {
  p.kill("SIGTERM");
  const timer = setTimeout(() => p.kill("SIGKILL"), 10_000);
  void p.stdout.cancel().catch(() => {}); // nothing more to read; never let the pipe fill
  await p.exited;
  clearTimeout(timer);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function report(label: string, times: number[]) {
  const sorted = [...times].sort((a, b) => a - b);
  const [p50, p99] = [percentile(sorted, 50), percentile(sorted, 99)];
  const verdict = p99 < TARGET_MS ? `under the ${TARGET_MS} ms target` : `OVER the ${TARGET_MS} ms target`;
  const f = (ms: number) => `${ms.toFixed(1)} ms`;
  console.log(`${label.padEnd(18)} runs ${times.length}  p50 ${f(p50)}  p99 ${f(p99)}  min ${f(sorted[0]!)}  max ${f(sorted.at(-1)!)}  (${verdict})`);
}

try {
  spawnSync([BINARY, "--help"], { stdout: "ignore", stderr: "ignore" });
  console.log(`cold start of ${BINARY}: spawn → first 200 on /healthz`);

  const fresh: number[] = [];
  for (let i = 0; i < runs; i++) fresh.push(await startOnce(join(scratch, `fresh-${i}`)));
  report("fresh data dir", fresh);

  const existing = join(scratch, "existing");
  await startOnce(existing); // creates it: not counted
  const again: number[] = [];
  for (let i = 0; i < runs; i++) again.push(await startOnce(existing));
  report("existing data dir", again);
} finally {
  cleanup();
}

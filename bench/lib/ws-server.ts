/**
 * The server side of bench/ws-load.ts: start confab (dist/confab, or the sources through
 * bench/lib/ws-probe.ts) pinned to one core on 127.0.0.1 port 0 with a temp data dir, read its
 * CPU time and memory from /proc, count rows in its database, and stop it.
 */
import { spawn, type Subprocess } from "bun";
import { Database } from "bun:sqlite";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { BUN, ROOT, BINARY, hasTaskset } from "./load";

export { BINARY, ROOT, cpuSeconds, ensureFreshBinary as ensureBinary, hasTaskset, rss, schedstat, writtenBytes } from "./load";

/**
 * `cmd` run with the hard fd limit as soft limit, pinned to `cpu` when taskset exists, at
 * niceness `nice` when not 0 (negative values need root: they keep other work on a shared
 * machine from taking the benchmark's cores).
 */
export function pinnedWithFds(cpu: string, cmd: string[], nice = 0): string[] {
  const prefix = `${nice ? `nice -n ${nice} ` : ""}${hasTaskset ? `taskset -c ${cpu} ` : ""}`;
  return ["sh", "-c", `ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec ${prefix}"$@"`, "sh", ...cmd];
}

export interface ServerOptions {
  cpu: string;
  /** Run the sources through bench/lib/ws-probe.ts (writer batch statistics) instead of dist/confab. */
  source: boolean;
  /** A directory: run from source under Bun's CPU profiler, markdown output. */
  cpuProf?: string;
  profName?: string;
  nice?: number;
  env: Record<string, string>;
}

/** Writer statistics the probe prints (source mode only). */
export interface ProbeStats {
  batches: number;
  jobs: number;
  maxBatch: number;
  /** Milliseconds of the event loop spent on batches: BEGIN … COMMIT, then the after-commit
   * callbacks once the batch's sync returned. */
  commitMs: number;
  /** Of which: BEGIN up to the COMMIT statement (the jobs), and the COMMIT statement itself. */
  jobsMs: number;
  commitStmtMs: number;
}

export interface BenchServer {
  proc: Subprocess<"ignore", "ignore", "pipe">;
  pid: number;
  url: string;
  wsUrl: string;
  dataDir: string;
  /** Latest writer statistics (source mode), else null. */
  probe: () => ProbeStats | null;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export async function startServer(o: ServerOptions): Promise<BenchServer> {
  const dataDir = mkdtempSync(join(tmpdir(), "confab-wsbench-"));
  const prof = o.cpuProf ? ["--cpu-prof-md", `--cpu-prof-dir=${resolve(o.cpuProf)}`, `--cpu-prof-name=${o.profName ?? `confab-ws-${Date.now()}`}.md`] : [];
  const cmd = o.source || o.cpuProf ? [BUN, ...prof, join(ROOT, "bench/lib/ws-probe.ts")] : [BINARY, "serve"];
  const proc = spawn(pinnedWithFds(o.cpu, [...cmd, "--host", "127.0.0.1", "--port", "0", "--data-dir", dataDir, "--registration", "open"], o.nice), {
    cwd: dataDir,
    env: { ...process.env, CONFAB_LOG_LEVEL: "warn", ...o.env },
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  let latest: ProbeStats | null = null;
  const reader = proc.stderr.getReader();
  const decoder = new TextDecoder();
  let seen = "";
  let url: string | null = null;
  const deadline = Date.now() + 20_000;
  while (!url && Date.now() < deadline) {
    const chunk = await Promise.race([reader.read(), Bun.sleep(20_000).then(() => null)]);
    if (!chunk || chunk.done) break;
    seen += decoder.decode(chunk.value, { stream: true });
    url = /listening on (http:\/\/\S+)/.exec(seen)?.[1] ?? null;
  }
  if (!url) {
    proc.kill("SIGKILL");
    rmSync(dataDir, { recursive: true, force: true });
    throw new Error(`the server did not start:\n${seen}`);
  }
  // Keep reading stderr: probe lines update the stats, anything else (warnings) is echoed.
  (async () => {
    let buf = seen;
    for (;;) {
      const lines = buf.split("\n");
      buf = lines.pop()!;
      for (const line of lines) {
        if (line.startsWith("PROBE ")) latest = JSON.parse(line.slice(6));
        else if (line.trim() && !line.includes("listening on")) process.stderr.write(`  [server] ${line.slice(0, 300)}\n`);
      }
      const { done, value } = await reader.read();
      if (done) return;
      buf += decoder.decode(value, { stream: true });
    }
  })().catch(() => {});
  const pid = proc.pid;
  return {
    proc,
    pid,
    url,
    wsUrl: url.replace(/^http/, "ws") + "/v1/connect",
    dataDir,
    probe: () => latest,
    async stop(signal = "SIGTERM") {
      proc.kill(signal);
      const exited = await Promise.race([proc.exited.then(() => true), Bun.sleep(12_000).then(() => false)]);
      if (!exited) proc.kill("SIGKILL");
      await proc.exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Ask the probe for fresh statistics (it answers on stderr) and wait for them. */
export async function freshProbe(s: BenchServer): Promise<ProbeStats | null> {
  if (s.probe() === null) return null;
  const before = s.probe();
  process.kill(s.pid, "SIGUSR2");
  const until = performance.now() + 1000;
  while (s.probe() === before && performance.now() < until) await Bun.sleep(5);
  return s.probe();
}

/** Rows in the messages table, read with a separate read-only handle (what is on disk). */
export function countMessages(dataDir: string): number {
  const db = new Database(join(dataDir, "confab.db"), { readonly: true });
  try {
    return db.query<{ n: number }, []>("SELECT count(*) AS n FROM messages").get()!.n;
  } finally {
    db.close();
  }
}

/** Which of `ids` are in the messages table (after a crash: durability of acknowledged sends). */
export function missingMessages(dataDir: string, ids: string[]): string[] {
  const db = new Database(join(dataDir, "confab.db"));
  try {
    const q = db.query<{ id: string }, [string]>("SELECT id FROM messages WHERE id = ?");
    return ids.filter((id) => !q.get(id));
  } finally {
    db.close();
  }
}

/** The 1-minute load average: other work on the machine skews every figure. */
export function loadAverage(): string {
  try {
    return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  } catch {
    return "?";
  }
}

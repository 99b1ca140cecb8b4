/**
 * Benchmark plumbing: the server under test (dist/confab or `bun cli/index.ts`, pinned to a core
 * with taskset), process figures from /proc (RSS, CPU time, device flushes), Prometheus text,
 * and the load generator: wrk with a Lua script that rotates over a list of requests, or
 * autocannon (an npm dependency) when wrk is not there.
 */
import { spawn, spawnSync, type Subprocess } from "bun";
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dir, "../..");
export const BINARY = join(ROOT, "dist", "confab");
export const BUN = process.execPath;

export function which(cmd: string): boolean {
  return spawnSync(["sh", "-c", `command -v ${cmd}`]).exitCode === 0;
}

export const hasTaskset = which("taskset");

/** Niceness for the server and the load generator (null: inherit), e.g. -10 on a shared machine. */
let niceness: number | null = null;
export function setNiceness(n: number | null) {
  niceness = n;
}

/** `cmd` pinned to `cpu` with taskset (null: not pinned), at the niceness set. */
export function pin(cpu: string | null, cmd: string[]): string[] {
  const pinned = cpu !== null && hasTaskset ? ["taskset", "-c", cpu, ...cmd] : cmd;
  return niceness !== null ? ["nice", "-n", String(niceness), ...pinned] : pinned;
}

export function ensureWrk(log: (s: string) => void): boolean {
  if (which("wrk")) return true;
  if (process.getuid?.() !== 0 || !which("apt-get")) return false;
  log("wrk is missing: installing it with apt-get (running as root)…");
  const quiet = { stdout: "ignore", stderr: "inherit" } as const;
  spawnSync(["apt-get", "update", "-qq"], quiet);
  spawnSync(["apt-get", "install", "-y", "-qq", "wrk"], { ...quiet, env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  return which("wrk");
}

/** Newest modification time under the server's sources. */
function sourcesMtime(): number {
  const newest = (p: string): number => {
    const s = statSync(p);
    if (!s.isDirectory()) return s.mtimeMs;
    let t = 0;
    for (const e of readdirSync(p)) t = Math.max(t, newest(join(p, e)));
    return t;
  };
  return Math.max(...["src", "cli", "migrations", "package.json"].map((p) => join(ROOT, p)).filter(existsSync).map(newest));
}

function build(log: (s: string) => void) {
  log("building dist/confab (npm run build)…");
  const r = spawnSync([BUN, "run", "build"], { cwd: ROOT, stdout: "ignore", stderr: "inherit" });
  if (r.exitCode !== 0) throw new Error("build failed");
}

/** dist/confab: built when missing (or when `rebuild`); a warning when older than the sources. */
export function ensureBinary(rebuild: boolean, log: (s: string) => void) {
  if (existsSync(BINARY) && !rebuild) {
    if (statSync(BINARY).mtimeMs < sourcesMtime()) log("note: dist/confab is older than the sources; --rebuild rebuilds it, --source runs the sources");
    return;
  }
  build(log);
}

/** dist/confab: rebuilt when missing or older than any source file, unless `noBuild`. */
export function ensureFreshBinary(noBuild: boolean, log: (s: string) => void) {
  if (existsSync(BINARY) && statSync(BINARY).mtimeMs >= sourcesMtime()) return;
  if (noBuild) {
    if (!existsSync(BINARY)) throw new Error("dist/confab is missing and --no-build was given");
    log("note: dist/confab is older than the sources (--no-build given, using it anyway)");
    return;
  }
  build(log);
}

export interface Server {
  proc: Subprocess<"ignore", "ignore", "pipe">;
  /** The server process itself: proc.pid, or its descendant when the command is wrapped (strace). */
  pid: number;
  url: string;
  stderr: string[];
}

/** The first descendant of `pid` whose command line contains "serve" (or pid itself). */
function serverProcess(pid: number): number {
  const queue = [pid];
  while (queue.length) {
    const p = queue.shift()!;
    try {
      if (readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0").includes("serve") && !readFileSync(`/proc/${p}/cmdline`, "utf8").startsWith("strace")) return p;
      for (const t of readdirSync(`/proc/${p}/task`)) {
        const children = readFileSync(`/proc/${p}/task/${t}/children`, "utf8").trim();
        if (children) queue.push(...children.split(/\s+/).map(Number));
      }
    } catch {}
  }
  return pid;
}

export interface ServerOptions {
  dataDir: string;
  cpu: string | null;
  /** Run `bun cli/index.ts` from this checkout (or another copy of it) instead of dist/confab. */
  sourceRoot?: string | null;
  /** Extra arguments for bun before the script, e.g. --cpu-prof. */
  bunArgs?: string[];
  env?: Record<string, string>;
  /** Wrap the command, e.g. with strace. */
  wrap?: string[];
}

export async function startServer(o: ServerOptions): Promise<Server> {
  const cmd = o.sourceRoot ? [BUN, ...(o.bunArgs ?? []), join(o.sourceRoot, "cli/index.ts"), "serve"] : [BINARY, "serve"];
  const proc = spawn(pin(o.cpu, [...(o.wrap ?? []), ...cmd, "--host", "127.0.0.1", "--port", "0", "--data-dir", o.dataDir]), {
    cwd: o.dataDir,
    env: {
      ...process.env,
      CONFAB_RATE_LIMIT: "1000000000",
      CONFAB_AUTH_RATE_LIMIT: "1000000",
      CONFAB_LOG_LEVEL: "warn",
      ...o.env,
    },
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  // `confab serve` names its URL on stderr once it listens.
  const reader = proc.stderr.getReader();
  const seen: string[] = [];
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const m = /listening on (http:\/\/\S+)/.exec(seen.join(""));
    if (m) {
      void drain(reader, seen);
      return { proc, pid: o.wrap?.length ? serverProcess(proc.pid) : proc.pid, url: m[1]!, stderr: seen };
    }
    const chunk = await Promise.race([reader.read(), Bun.sleep(60_000).then(() => null)]);
    if (!chunk || chunk.done) break;
    seen.push(new TextDecoder().decode(chunk.value));
  }
  proc.kill();
  throw new Error(`the server did not start:\n${seen.join("")}`);
}

/** Keep reading stderr so the server never blocks on a full pipe; keep the last lines for errors. */
async function drain(reader: ReadableStreamDefaultReader<Uint8Array>, seen: string[]) {
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    seen.push(new TextDecoder().decode(value));
    if (seen.length > 200) seen.splice(0, seen.length - 200);
  }
}

export async function stopServer(s: Server) {
  // A wrapper (strace) would detach on SIGTERM and leave the server running: signal the server.
  if (s.pid !== s.proc.pid) {
    try {
      process.kill(s.pid, "SIGTERM");
    } catch {}
  } else s.proc.kill("SIGTERM");
  const exited = await Promise.race([s.proc.exited.then(() => true), Bun.sleep(15_000).then(() => false)]);
  if (!exited) {
    if (s.pid !== s.proc.pid) {
      try {
        process.kill(s.pid, "SIGKILL");
      } catch {}
    }
    s.proc.kill("SIGKILL");
  }
  await s.proc.exited;
}

/** Resident memory now and at its peak, MiB. */
export function rss(pid: number): { rssMb: number; peakRssMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rssMb: kb("VmRSS") / 1024, peakRssMb: kb("VmHWM") / 1024 };
}

const CLK_TCK = Number(spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100;

/** CPU seconds (user + system) a process and its threads have used. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 of the full line: 12 and 13 after "pid (comm) ".
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/**
 * Scheduler figures of the process's main (JavaScript) thread, ns: time on a CPU, and time
 * runnable but waiting for one (other work on its core). The rest of the wall time it was
 * blocked: waiting for the network, or in a system call such as fsync.
 */
export function schedstat(pid: number): { runNs: number; waitNs: number } {
  try {
    const [run, wait] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, "utf8").split(" ").map(Number);
    return { runNs: run ?? 0, waitNs: wait ?? 0 };
  } catch {
    return { runNs: 0, waitNs: 0 };
  }
}

/**
 * Seconds the process's threads spent runnable but waiting for a CPU (schedstat of every thread under /proc/<pid>/task):
 * on a machine shared with other work, how much the figures were held back by it.
 */
export function runQueueWaitSeconds(pid: number): number {
  let ns = 0;
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, "utf8").split(" ")[1]);
      } catch {}
    }
  } catch {}
  return ns / 1e9;
}

/**
 * Bytes a process has caused to be written to storage (/proc/<pid>/io write_bytes: the WAL, the
 * checkpoints into the database file, logs; not sockets), counted when the page cache is dirtied.
 */
export function writtenBytes(pid: number): number {
  try {
    return Number(/^write_bytes:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, "utf8"))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Busy jiffies (USER_HZ) of the whole machine, all cores: what else ran during a run. */
export function machineBusySeconds(): number {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice: guest time is inside user.
  const busy = f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!;
  return busy / 100;
}

/** Cache flushes the block device holding `path` has completed (one per fsync here); null if unknown. */
export function deviceFlushes(path: string): number | null {
  try {
    const dev = statSync(path).dev;
    const major = (dev >> 8) & 0xfff;
    const minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
    for (const line of readFileSync("/proc/diskstats", "utf8").split("\n")) {
      const f = line.trim().split(/\s+/);
      if (Number(f[0]) === major && Number(f[1]) === minor && f.length >= 20) return Number(f[18]);
    }
  } catch {}
  return null;
}

/** Samples of a Prometheus text exposition, by name with labels (e.g. `x_total{a="b"}`). */
export async function scrape(url: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  try {
    const text = await (await fetch(`${url}/metrics`)).text();
    for (const line of text.split("\n")) {
      if (!line || line.startsWith("#")) continue;
      const i = line.lastIndexOf(" ");
      out.set(line.slice(0, i), Number(line.slice(i + 1)));
    }
  } catch {}
  return out;
}

// ---------------------------------------------------------------- load generation

export interface Req {
  method: "GET" | "POST";
  path: string;
  token: string;
  body?: string;
}

export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  socketErrors: number;
  /** Responses with status ≥ 400 (wrk) or outside 2xx (autocannon). */
  badStatus: number;
  /** CPU seconds the load generator used. */
  loadCpuSeconds: number;
}

export interface LoadOptions {
  url: string;
  reqs: Req[];
  connections: number;
  seconds: number;
  cpu: string | null;
  tool: "wrk" | "autocannon";
  dir: string;
}

export function runLoad(o: LoadOptions): Promise<LoadResult> {
  return o.tool === "wrk" ? runWrk(o) : runAutocannon(o);
}

const lua = (s: string) => JSON.stringify(s); // a JSON string literal is a valid Lua literal for ASCII text

/** wrk -t1: every connection takes the next request of the list; done() prints one JSON line. */
function wrkScript(reqs: Req[]): string {
  const list = reqs
    .map((r) => `{ ${lua(r.method)}, ${lua(r.path)}, ${lua("Bearer " + r.token)}, ${r.body === undefined ? "nil" : lua(r.body)} }`)
    .join(",\n  ");
  return `local list = {
  ${list}
}
local reqs, i = {}, 0
function init(args)
  for k, r in ipairs(list) do
    local h = { ["Host"] = wrk.host .. ":" .. wrk.port, ["Authorization"] = r[3] }
    if r[4] then h["Content-Type"] = "application/json" end
    reqs[k] = wrk.format(r[1], r[2], h, r[4])
  end
end
function request()
  i = i % #reqs + 1
  return reqs[i]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCH {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"socket_errors":%d,"status_errors":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect + e.read + e.write + e.timeout, e.status))
end
`;
}

async function runWrk(o: LoadOptions): Promise<LoadResult> {
  const script = join(o.dir, `load-${process.pid}-${Math.random().toString(36).slice(2)}.lua`);
  writeFileSync(script, wrkScript(o.reqs));
  const proc = spawn(pin(o.cpu, ["wrk", "-t1", `-c${o.connections}`, `-d${o.seconds}s`, "--timeout", "10s", "-s", script, o.url]), {
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const line = /^BENCH (.*)$/m.exec(out);
  if (!line) throw new Error(`wrk failed:\n${out}\n${err}`);
  const r = JSON.parse(line[1]!);
  const usage = proc.resourceUsage();
  const seconds = r.duration_us / 1e6;
  return {
    requests: r.requests,
    seconds,
    rps: r.requests / seconds,
    p50Ms: r.p50_us / 1000,
    p90Ms: r.p90_us / 1000,
    p99Ms: r.p99_us / 1000,
    maxMs: r.max_us / 1000,
    socketErrors: r.socket_errors,
    badStatus: r.status_errors,
    loadCpuSeconds: usage ? Number(usage.cpuTime.total) / 1e6 : 0,
  };
}

/** autocannon in its own process (bun), cycling through the request list on each connection. */
async function runAutocannon(o: LoadOptions): Promise<LoadResult> {
  const spec = join(o.dir, `load-${process.pid}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(spec, JSON.stringify(o));
  const runner = join(import.meta.dir, "autocannon-runner.ts");
  const proc = spawn(pin(o.cpu, [BUN, runner, spec]), { stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (proc.exitCode !== 0) throw new Error(`autocannon failed:\n${out}\n${err}`);
  const r = JSON.parse(out);
  const usage = proc.resourceUsage();
  return {
    requests: r.requests.total,
    seconds: r.duration,
    rps: r.requests.total / r.duration,
    p50Ms: r.latency.p50,
    p90Ms: r.latency.p90,
    p99Ms: r.latency.p99,
    maxMs: r.latency.max,
    socketErrors: r.errors + r.timeouts,
    badStatus: r.non2xx,
    loadCpuSeconds: usage ? Number(usage.cpuTime.total) / 1e6 : 0,
  };
}

/**
 * HTTP benchmark of the authenticated hot path: `GET /api/v1/users/{id}` with a valid bearer
 * token (JWT check, session lookup, rate limit, metrics, access log, one user row).
 *
 *   npm run bench:http                      # warn and info logging, 10 s each after a 2 s warm-up
 *   bun bench/http-users.ts --levels warn --duration 5 --connections 64
 *   bun bench/http-users.ts --source        # run `bun cli/index.ts` instead of dist/confab
 *   bun bench/http-users.ts --levels warn --cpu-prof /tmp/prof   # from source, profile as markdown
 *   bun bench/http-users.ts --runs 3 --nice=-10   # on a shared machine: median of 3, ahead of other work
 *
 * The server is the shipped executable (dist/confab, rebuilt when a source file is newer),
 * started on 127.0.0.1 port 0 with a temp data dir. Server and load generator are pinned to one
 * core each (`taskset -c 0` / `-c 1`) so figures are comparable across runs and machines. The
 * load comes from wrk (installed with apt-get when missing and running as root) or, failing
 * that, autocannon. Server stdout (the access log at info level) goes to a file in the temp dir,
 * as it would to journald or a log file: a terminal would measure the terminal.
 *
 * Prints requests/s, p50/p99 latency, errors and non-2xx responses, the server's RSS, its CPU
 * time per request and how long it waited for its core (other work on a shared machine). Each
 * log level gets a fresh server: warn measures the request path, info adds the access log.
 * Figures, not pass/fail: the target on a 2-core machine is ≥ 20,000 req/s with p99 < 10 ms.
 */
import { spawn, type Subprocess } from "bun";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { BINARY as DIST_BINARY, BUN, ROOT, cpuSeconds, ensureFreshBinary, ensureWrk, hasTaskset, pin, rss, runLoad, schedstat, setNiceness, type Req } from "./lib/load";

const { values: opt } = parseArgs({
  options: {
    duration: { type: "string", default: "10" },
    warmup: { type: "string", default: "2" },
    connections: { type: "string", default: "50" },
    users: { type: "string", default: "4" },
    levels: { type: "string", default: "warn,info" },
    tool: { type: "string" }, // wrk | autocannon (default: wrk when available)
    source: { type: "boolean", default: false },
    "cpu-prof": { type: "string" }, // a directory: run from source with Bun's CPU profiler (markdown)
    "no-build": { type: "boolean", default: false },
    binary: { type: "string" }, // another build of confab to measure (no rebuild)
    runs: { type: "string", default: "1" }, // measured runs per log level; the median is reported
    "server-cpu": { type: "string", default: "0" },
    "load-cpu": { type: "string", default: "1" },
    nice: { type: "string" }, // e.g. -10: priority for server and load generator on a shared machine (root)
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (opt.help) {
  console.log(readFileSync(import.meta.path, "utf8").split("*/")[0]);
  process.exit(0);
}

const BINARY = opt.binary ? resolve(opt.binary) : DIST_BINARY;
const runs = Math.max(1, Number(opt.runs));
const duration = Number(opt.duration);
const warmup = Number(opt.warmup);
const connections = Number(opt.connections);
const userCount = Math.max(1, Number(opt.users));
if (opt["cpu-prof"]) opt.source = true;
const levels = opt.levels!.split(",").map((s) => s.trim()).filter(Boolean);
if (opt.nice !== undefined) setNiceness(Number(opt.nice));

interface Result {
  level: string;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  errors: number;
  non2xx: number;
  rssMb: number;
  peakRssMb: number;
  logBytes: number;
  /** Server CPU time (user + system) per request: steadier than req/s when the machine is shared. */
  cpuUsPerReq: number;
  /** Share of the run the server's event-loop thread spent runnable but waiting for its core. */
  runQueueWait: number;
}

// ---------------------------------------------------------------- server

interface Server {
  proc: Subprocess;
  url: string;
  dataDir: string;
  logFile: string;
}

async function startServer(level: string): Promise<Server> {
  const dataDir = mkdtempSync(join(tmpdir(), "confab-bench-"));
  const logFile = join(dataDir, "stdout.log");
  const prof = opt["cpu-prof"] ? ["--cpu-prof-md", `--cpu-prof-dir=${resolve(opt["cpu-prof"])}`, `--cpu-prof-name=confab-${level}-${Date.now()}.md`] : [];
  const cmd = opt.source ? [BUN, ...prof, join(ROOT, "cli/index.ts"), "serve"] : [BINARY, "serve"];
  const proc = spawn(pin(opt["server-cpu"]!, [...cmd, "--host", "127.0.0.1", "--port", "0", "--data-dir", dataDir, "--registration", "open", "--log-level", level]), {
    cwd: dataDir,
    env: { ...process.env, CONFAB_RATE_LIMIT: "100000000", CONFAB_AUTH_RATE_LIMIT: "100000" },
    stdout: Bun.file(logFile),
    stderr: "pipe",
  });
  // `confab serve` names its URL on stderr once it listens.
  const reader = proc.stderr.getReader();
  let seen = "";
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const m = /listening on (http:\/\/\S+)/.exec(seen);
    if (m) {
      drain(reader);
      return { proc, url: m[1]!, dataDir, logFile };
    }
    const chunk = await Promise.race([reader.read(), Bun.sleep(15_000).then(() => null)]);
    if (!chunk || chunk.done) break;
    seen += new TextDecoder().decode(chunk.value);
  }
  proc.kill();
  throw new Error(`the server did not start:\n${seen}`);
}

/** Keep reading stderr so a chatty server never blocks on a full pipe; echo what it says. */
async function drain(reader: ReadableStreamDefaultReader<Uint8Array>) {
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    process.stderr.write(value);
  }
}

async function stopServer(s: Server) {
  s.proc.kill("SIGTERM");
  const exited = await Promise.race([s.proc.exited.then(() => true), Bun.sleep(10_000).then(() => false)]);
  if (!exited) s.proc.kill("SIGKILL");
  rmSync(s.dataDir, { recursive: true, force: true });
}

interface Caller {
  token: string;
  path: string;
}

/** Register users; each caller reads another's profile (and the last one its own). */
async function setUp(url: string): Promise<Caller[]> {
  const users: { id: number; token: string }[] = [];
  const tag = Date.now().toString(36);
  for (let i = 0; i < userCount; i++) {
    const r = await fetch(`${url}/api/v1/auth/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: `b${i}-${tag}@bench.example`, username: `bench_${i}_${tag}`, password: "bench-password", first_name: "Bench", last_name: `User ${i}` }),
    });
    if (r.status !== 201) throw new Error(`register: ${r.status} ${await r.text()}`);
    const b = (await r.json()) as { access_token: string; user: { user_id: number } };
    users.push({ id: b.user.user_id, token: b.access_token });
  }
  const callers = users.map((u, i) => ({ token: u.token, path: `/api/v1/users/${users[(i + 1) % users.length]!.id}` }));
  // One request by hand: the load must measure successes, not a fast error path.
  const check = await fetch(url + callers[0]!.path, { headers: { authorization: `Bearer ${callers[0]!.token}` } });
  const body = (await check.json()) as { user_id?: number };
  if (check.status !== 200 || typeof body.user_id !== "number") throw new Error(`sanity check: ${check.status} ${JSON.stringify(body)}`);
  return callers;
}

// ---------------------------------------------------------------- main

async function benchLevel(level: string, tool: "wrk" | "autocannon"): Promise<Result[]> {
  const server = await startServer(level);
  try {
    const callers = await setUp(server.url);
    const reqs: Req[] = callers.map((c) => ({ method: "GET", path: c.path, token: c.token }));
    const run = async (seconds: number) => {
      const r = await runLoad({ url: server.url, reqs, connections, seconds, cpu: opt["load-cpu"]!, tool, dir: server.dataDir });
      return { requests: r.requests, rps: r.rps, p50Ms: r.p50Ms, p99Ms: r.p99Ms, errors: r.socketErrors, non2xx: r.badStatus };
    };
    if (warmup > 0) await run(warmup);
    const out: Result[] = [];
    for (let i = 0; i < runs; i++) {
      const logBefore = statSync(server.logFile).size;
      const cpuBefore = cpuSeconds(server.proc.pid);
      const waitBefore = schedstat(server.proc.pid).waitNs;
      const r = await run(duration);
      const cpuUsPerReq = ((cpuSeconds(server.proc.pid) - cpuBefore) * 1e6) / r.requests;
      const runQueueWait = (schedstat(server.proc.pid).waitNs - waitBefore) / 1e9 / duration;
      const logBytes = statSync(server.logFile).size - logBefore;
      out.push({ level, ...r, ...rss(server.proc.pid), logBytes, cpuUsPerReq, runQueueWait });
    }
    return out;
  } finally {
    await stopServer(server);
  }
}

const fmt = (n: number, d = 0) => n.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
const loadAverage = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

/** The run with the median req/s (of an even count, the lower middle one). */
function median(rs: Result[]): Result {
  return [...rs].sort((a, b) => a.rps - b.rps)[Math.floor((rs.length - 1) / 2)]!;
}

async function main() {
  const tool = opt.tool === "autocannon" ? "autocannon" : ensureWrk((s) => console.error(s)) ? "wrk" : "autocannon";
  if (!opt.source && !opt.binary) ensureFreshBinary(opt["no-build"]!, (s) => console.error(s));
  if (!hasTaskset) console.error("note: taskset not found; server and load generator are not pinned");
  const loadBefore = loadAverage();
  const all: Result[][] = [];
  for (const level of levels) all.push(await benchLevel(level, tool));
  const results = all.map(median);
  const serverName = opt.source ? "bun cli/index.ts" : opt.binary ? BINARY : "dist/confab";

  if (opt.json) {
    console.log(JSON.stringify({ tool, connections, duration, warmup, runs, server: serverName, results, runs_by_level: all }, null, 2));
    return;
  }
  console.log(
    `GET /api/v1/users/{id} with a bearer token — ${serverName}, ${tool}, ${connections} connections, ` +
      `${duration} s after ${warmup} s warm-up${runs > 1 ? `, median of ${runs} runs` : ""}, ${userCount} users` +
      (hasTaskset ? `, server on cpu ${opt["server-cpu"]}, load on cpu ${opt["load-cpu"]}` : ", unpinned"),
  );
  const rows = [["log level", "req/s", "p50 ms", "p99 ms", "errors", "non-2xx", "RSS MB", "peak RSS MB", "log MB/s", "server CPU µs/req", "run-queue wait"]];
  const row = (label: string, r: Result) =>
    rows.push([label, fmt(r.rps), fmt(r.p50Ms, 2), fmt(r.p99Ms, 2), fmt(r.errors), fmt(r.non2xx), fmt(r.rssMb, 1), fmt(r.peakRssMb, 1), fmt(r.logBytes / 1048576 / duration, 2), fmt(r.cpuUsPerReq, 1), `${fmt(r.runQueueWait * 100, 1)}%`]);
  for (const rs of all) {
    if (runs > 1) rs.forEach((r, i) => row(`${r.level} #${i + 1}`, r));
    row(runs > 1 ? `${rs[0]!.level} median` : rs[0]!.level, median(rs));
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  "));
  const warn = results.find((r) => r.level === "warn");
  const info = results.find((r) => r.level === "info");
  if (warn && info) {
    const change = (info.rps / warn.rps - 1) * 100;
    console.log(`info level (access log) vs warn: ${change <= 0 ? "" : "+"}${fmt(change, 1)}% req/s, ${info.cpuUsPerReq >= warn.cpuUsPerReq ? "+" : ""}${fmt(info.cpuUsPerReq - warn.cpuUsPerReq, 1)} µs server CPU per request`);
  }
  // Other work on the machine shows up as lower req/s and higher µs/req: say how busy it was.
  console.log(`load average before: ${loadBefore}, after: ${loadAverage()} (${navigator.hardwareConcurrency} cores)`);
}

await main();

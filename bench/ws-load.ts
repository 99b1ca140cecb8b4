/**
 * WebSocket load benchmark of /v1/connect: the real server, real sockets, loopback only.
 *
 *   npm run bench:ws                       # every scenario, 2–4 minutes (mostly registering
 *                                          # 1,250 users: argon2 is ~25 ms of server CPU each)
 *   bun bench/ws-load.ts A                 # one scenario (A = A100 + A500); also A100, A500, B, C, D, K
 *   bun bench/ws-load.ts B C --duration 5  # several, shorter
 *   bun bench/ws-load.ts A500 --source     # run the sources: adds the writer's batch sizes
 *   bun bench/ws-load.ts C --cpu-prof /tmp/prof   # sources under Bun's CPU profiler (markdown)
 *   bun bench/ws-load.ts A500 B --no-db           # sends write nothing: the WebSocket layer alone
 *   bun bench/ws-load.ts A B --what-if            # the report's proposals approximated (see ws-probe.ts)
 *
 * The server is dist/confab (rebuilt when a source file is newer), started on 127.0.0.1 port 0
 * with a temp data dir, open registration, rate limits out of the way and warn-level logging,
 * pinned to cpu 0; this script re-executes itself pinned to cpu 1 and is the load generator, so
 * figures are comparable between runs. Both run with the hard open-file limit as soft limit.
 * On a machine shared with other work, `--nice=-10` (root) keeps it from taking those cores;
 * the "main thread" line shows how long the server was runnable but waiting for its core.
 *
 * Scenarios (targets from issue #4, 2 cores, generator on the same machine):
 *   A100/A500  1:1 chat, 100 / 500 pairs; one sender per pair keeps 16 send_message frames in
 *              flight (the next one goes when a message_sent arrives). Target ≥ 20,000 msg/s
 *              delivered; rows in the messages table == acknowledged sends.
 *   B          500 pairs at a fixed 5,000 msg/s in total: p99 send→receive < 20 ms.
 *   C          one 50-member group, 5 senders, 16 in flight each: ≥ 100,000 deliveries/s
 *              (messages × 49 receivers; the sender's own copy is counted apart, as an echo).
 *   D          10,000 idle authenticated connections (250 users × 40): server RSS growth
 *              ≤ 100 MiB (≤ 10 KB each).
 *   K          crash check: 50 pairs sending, the server is killed with SIGKILL mid-stream; every
 *              acknowledged message_id must be in the database afterwards.
 * For each: connect rate (handshake + auth), delivered msg/s, send→receive latency p50/p95/p99
 * (send time embedded in the content), ack latency (send_message → message_sent), server CPU
 * (/proc/<pid>/stat) and RSS (/proc/<pid>/status), the generator's own CPU, and whether every
 * message reached every receiver exactly once and in order per sender (sequence numbers).
 * Each loaded scenario measures `--duration` s after `--warmup` s. "CPU cost" is server CPU per
 * acknowledged message and the rate that would allow on a whole core: the figure to compare
 * when other work shares the machine. Figures, not pass/fail: the target line says whether this
 * run met the issue's target.
 *
 * Related: bench/lib/ws-send-cost.ts (what one send costs, part by part, without sockets) and
 * bench/lib/ws-connect-touch.ts (connect rate of fresh against already-used sessions).
 */
import { spawn } from "bun";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { cpus } from "node:os";
import { connectAll, createDirect, createGroup, newStats, pool, registerUsers, Client, Sender, verify, waitFor, type BenchUser, type LoadStats, type Verdict } from "./lib/ws-clients";
import {
  countMessages,
  cpuSeconds,
  ensureBinary,
  freshProbe,
  hasTaskset,
  loadAverage,
  rss,
  missingMessages,
  pinnedWithFds,
  schedstat,
  startServer,
  writtenBytes,
  type BenchServer,
  type ProbeStats,
} from "./lib/ws-server";

const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    duration: { type: "string", default: "10" },
    warmup: { type: "string", default: "2" },
    window: { type: "string", default: "16" },
    rate: { type: "string", default: "5000" },
    idle: { type: "string", default: "10000" },
    source: { type: "boolean", default: false },
    "cpu-prof": { type: "string" },
    "no-db": { type: "boolean", default: false },
    "what-if": { type: "boolean", default: false },
    "no-build": { type: "boolean", default: false },
    "server-cpu": { type: "string", default: "0" },
    "load-cpu": { type: "string", default: "1" },
    nice: { type: "string", default: "0" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (opt.help) {
  console.log(readFileSync(import.meta.path, "utf8").split("*/")[0]);
  process.exit(0);
}

// ---------------------------------------------------------------- pin the generator

const CHILD = "CONFAB_WSBENCH_PINNED";
if (hasTaskset && !process.env[CHILD] && cpus().length > 1) {
  const proc = spawn(pinnedWithFds(opt["load-cpu"]!, [process.execPath, import.meta.path, ...process.argv.slice(2)], Number(opt.nice)), {
    env: { ...process.env, [CHILD]: "1" },
    stdio: ["inherit", "inherit", "inherit"],
  });
  process.on("SIGINT", () => proc.kill("SIGINT"));
  process.exit(await proc.exited);
}

const ALL = ["A100", "A500", "B", "C", "D", "K"] as const;
type Scenario = (typeof ALL)[number];
const wanted = new Set<Scenario>();
for (const p of positionals.length ? positionals : ["all"]) {
  const name = p.toUpperCase();
  if (name === "ALL") ALL.forEach((s) => wanted.add(s));
  else if (name === "A") ["A100", "A500"].forEach((s) => wanted.add(s as Scenario));
  else if ((ALL as readonly string[]).includes(name)) wanted.add(name as Scenario);
  else {
    console.error(`unknown scenario ${p}: one of A, ${ALL.join(", ")}, all`);
    process.exit(2);
  }
}

const DURATION = Number(opt.duration);
const WARMUP = Number(opt.warmup);
const WINDOW = Number(opt.window);
const RATE = Number(opt.rate);
const IDLE = Number(opt.idle);
const NO_DB = opt["no-db"]!;
const WHAT_IF = opt["what-if"]!;
const SOURCE = opt.source || !!opt["cpu-prof"] || NO_DB || WHAT_IF;
const log = (s: string) => process.stderr.write(`${s}\n`);
const fmt = (n: number, d = 0) => (Number.isFinite(n) ? n.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d }) : "–");

const SERVER_ENV = {
  CONFAB_RATE_LIMIT: "1000000000",
  CONFAB_AUTH_RATE_LIMIT: "1000000",
  CONFAB_LOG_LEVEL: "warn",
  // Sustained frames per second per connection: a sender here sends a few thousand.
  CONFAB_WS_FRAMES_PER_SECOND: "1000000",
  // Scenario D spreads 10,000 connections over 500 users.
  CONFAB_WS_MAX_CONNECTIONS_PER_USER: "100",
};

// ---------------------------------------------------------------- results

interface Result {
  scenario: string;
  description: string;
  connections: number;
  connectPerSecond: number;
  connectP99Ms: number;
  sentPerSecond?: number;
  deliveredPerSecond?: number;
  latency?: { p50: number; p95: number; p99: number; max: number };
  ackLatency?: { p50: number; p95: number; p99: number };
  serverCpuPercent?: number;
  /**
   * Server CPU per acknowledged message, and the message rate that cost would allow on one
   * whole core: comparable between runs even when other work takes part of the core.
   */
  serverCpuUsPerMessage?: number;
  /** Storage writes (WAL, checkpoints) per acknowledged message, KiB. */
  writtenKiBPerMessage?: number;
  capacityPerCore?: number;
  generatorCpuPercent?: number;
  rssMiB: number;
  peakRssMiB: number;
  rssGrowthMiB?: number;
  rssPerConnectionKB?: number;
  /** Server CPU per connection opened (handshake, auth, subscriptions), µs. */
  connectCpuUs?: number;
  acked?: number;
  committedRows?: number;
  errors?: number;
  errorSamples?: string[];
  abnormalCloses?: Record<string, number>;
  exactlyOnceInOrder?: boolean;
  verdict?: Verdict;
  /** Server main thread: % of the window on a CPU, and runnable but waiting for one. */
  mainThread?: { runPercent: number; waitPercent: number };
  writer?: {
    batches: number;
    meanBatch: number;
    maxBatch: number;
    commitMsPerBatch: number;
    jobsMsPerBatch: number;
    commitStmtMsPerBatch: number;
    jobUs: number;
    commitShareOfWindow: number;
  } | null;
  target: string;
  met: boolean;
  loadAvg: string;
}

const results: Result[] = [];

// ---------------------------------------------------------------- worlds

interface World {
  server: BenchServer;
  users: BenchUser[];
  /** Direct conversation of pair i: users 2i and 2i+1. */
  pairs: number[];
  group: number | null;
}

async function startWorld(name: string, userCount: number, pairCount: number, groupSize: number): Promise<World> {
  const server = await startServer({
    cpu: opt["server-cpu"]!,
    source: SOURCE,
    cpuProf: opt["cpu-prof"],
    profName: `confab-ws-${name.replace(/\W+/g, "")}-${Date.now()}`,
    nice: Number(opt.nice),
    env: { ...SERVER_ENV, ...(NO_DB ? { CONFAB_PROBE_NO_DB: "1" } : {}), ...(WHAT_IF ? { CONFAB_PROBE_WHAT_IF: "1" } : {}) },
  });
  log(`[${name}] server ${server.url} (pid ${server.pid}, ${SOURCE ? "sources" : "dist/confab"}); registering ${userCount} users…`);
  const t0 = performance.now();
  const users = await registerUsers(server.url, userCount);
  const regSeconds = (performance.now() - t0) / 1000;
  const pairs = await pool(
    Array.from({ length: pairCount }, (_, i) => i),
    16,
    (i) => createDirect(server.url, users[2 * i]!, users[2 * i + 1]!),
  );
  const group = groupSize > 0 ? await createGroup(server.url, users[0]!, users.slice(1, groupSize), "bench group") : null;
  log(`[${name}] ${userCount} users in ${fmt(regSeconds, 1)} s (${fmt(userCount / regSeconds)}/s), ${pairCount} direct conversations${group ? `, a ${groupSize}-member group` : ""}`);
  return { server, users, pairs, group };
}

const sleep = (s: number) => Bun.sleep(s * 1000);

function abnormal(stats: LoadStats): Record<string, number> | undefined {
  const out: Record<string, number> = {};
  for (const [code, n] of stats.closes) if (code !== 1000) out[code] = n;
  return Object.keys(out).length ? out : undefined;
}

/** Numbers over the measuring window: CPU of both processes, writer batches, wall time. */
async function measure(w: World, stats: LoadStats, seconds: number) {
  const probe0 = await freshProbe(w.server);
  const cpu0 = cpuSeconds(w.server.pid);
  const gen0 = process.cpuUsage();
  const sched0 = schedstat(w.server.pid);
  const written0 = writtenBytes(w.server.pid);
  const t0 = performance.now();
  stats.measuring = true;
  await sleep(seconds);
  stats.measuring = false;
  const wall = (performance.now() - t0) / 1000;
  const cpu1 = cpuSeconds(w.server.pid);
  const gen1 = process.cpuUsage(gen0);
  const sched1 = schedstat(w.server.pid);
  const written = writtenBytes(w.server.pid) - written0;
  const probe1 = await freshProbe(w.server);
  return {
    wall,
    writtenBytes: written,
    serverCpuSeconds: cpu1 - cpu0,
    serverCpuPercent: ((cpu1 - cpu0) / wall) * 100,
    mainThread: {
      runPercent: ((sched1.runNs - sched0.runNs) / 1e7 / wall),
      waitPercent: ((sched1.waitNs - sched0.waitNs) / 1e7 / wall),
    },
    generatorCpuPercent: ((gen1.user + gen1.system) / 1e6 / wall) * 100,
    writer: writerFigures(probe0, probe1, wall),
    ...rss(w.server.pid),
  };
}

function writerFigures(a: ProbeStats | null, b: ProbeStats | null, wall: number): Result["writer"] {
  if (!a || !b) return null;
  const batches = b.batches - a.batches;
  const jobs = b.jobs - a.jobs;
  const commitMs = b.commitMs - a.commitMs;
  const per = (x: number) => (batches ? x / batches : 0);
  return {
    batches,
    meanBatch: per(jobs),
    maxBatch: b.maxBatch,
    commitMsPerBatch: per(commitMs),
    jobsMsPerBatch: per(b.jobsMs - a.jobsMs),
    commitStmtMsPerBatch: per(b.commitStmtMs - a.commitStmtMs),
    jobUs: jobs ? ((b.jobsMs - a.jobsMs) * 1000) / jobs : 0,
    commitShareOfWindow: commitMs / 1000 / wall,
  };
}

const pct = (h: { percentile(p: number): number; max: number }) => ({ p50: h.percentile(50), p95: h.percentile(95), p99: h.percentile(99), max: h.max });

// ---------------------------------------------------------------- loaded scenarios

interface Plan {
  scenario: string;
  description: string;
  /** Connections: user index and conversation each sends to / lives in. */
  clients: { user: number; conversation: number }[];
  /** Indexes into clients of those that send. */
  senders: number[];
  /** Receivers (connections) of each sender, its own connection included. */
  receiversOf: (sender: number) => number[];
  /** Window per sender, or a fixed total rate. */
  mode: { window: number } | { rate: number };
  target: (r: Result) => { text: string; met: boolean };
}

/**
 * Wait (at most 30 s) until the server is nearly idle: each scenario is its own experiment, and
 * the previous one leaves work behind (WAL checkpoints of everything it wrote, garbage to
 * collect) that would otherwise be charged to this one's latency.
 */
async function settle(w: World, scenario: string) {
  const t0 = performance.now();
  // A whole second: the checkpointer copies the WAL once a second, and a shorter window can
  // fall between two of its runs while it is still working off the last scenario's writes.
  for (let busy = 100; busy > 5 && performance.now() - t0 < 60_000; ) {
    const cpu0 = cpuSeconds(w.server.pid);
    await sleep(1);
    busy = (cpuSeconds(w.server.pid) - cpu0) * 100;
  }
  log(`[${scenario}] server idle (< 5 % CPU for 1 s) after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

async function runLoaded(w: World, p: Plan): Promise<Result> {
  const stats = newStats();
  const senderUser = new Int32Array(p.senders.length);
  const clients = p.clients.map((c) => new Client(w.users[c.user]!, c.conversation, stats, senderUser));
  const senders = p.senders.map((ci, i) => {
    senderUser[i] = clients[ci]!.user.index;
    return new Sender(i, clients[ci]!, stats);
  });
  log(`[${p.scenario}] ${p.description}: connecting ${clients.length}…`);
  const conn = await connectAll(w.server.wsUrl, clients, 64);
  await settle(w, p.scenario);
  const rowsBefore = countMessages(w.server.dataDir);

  let pacer: ReturnType<typeof setTimeout> | null = null;
  let pacing = false;
  if ("window" in p.mode) {
    for (const s of senders) s.start(p.mode.window);
  } else {
    // Open loop: by time t, rate·t messages have gone out, round-robin over the senders.
    const perMs = p.mode.rate / 1000;
    const t0 = performance.now();
    let issued = 0;
    pacing = true;
    const tick = () => {
      if (!pacing) return;
      const due = Math.floor((performance.now() - t0) * perMs);
      while (issued < due) senders[issued++ % senders.length]!.send();
      pacer = setTimeout(tick, 1);
    };
    tick();
  }
  await sleep(WARMUP);
  log(`[${p.scenario}] measuring ${DURATION} s…`);
  const m = await measure(w, stats, DURATION);

  // Stop sending, let everything in flight land, then check.
  for (const s of senders) s.running = false;
  pacing = false;
  if (pacer) clearTimeout(pacer);
  const settled = await waitFor(() => senders.every((s) => s.inFlight === 0), 30_000);
  const expected = (s: Sender) => p.receiversOf(s.index).map((i) => clients[i]!);
  await waitFor(() => senders.every((s) => expected(s).every((r) => (r.seen.get(s.index)?.count ?? 0) >= s.acked)), 15_000);
  const committedRows = countMessages(w.server.dataDir) - rowsBefore;
  const verdict = verify(senders, expected);
  if (!settled) verdict.details.unshift(`${senders.reduce((n, s) => n + s.inFlight, 0)} sends never got an answer`);
  for (const c of clients) c.close();
  await waitFor(() => clients.every((c) => c.ws.readyState === 3), 5_000);

  const r: Result = {
    scenario: p.scenario,
    description: p.description,
    connections: clients.length,
    connectPerSecond: conn.perSecond,
    connectP99Ms: conn.p99Ms,
    sentPerSecond: stats.windowAcks / m.wall,
    deliveredPerSecond: stats.windowDeliveries / m.wall,
    latency: pct(stats.latency),
    ackLatency: pct(stats.ackLatency),
    serverCpuPercent: m.serverCpuPercent,
    serverCpuUsPerMessage: (m.serverCpuSeconds * 1e6) / stats.windowAcks,
    writtenKiBPerMessage: m.writtenBytes / 1024 / stats.windowAcks,
    capacityPerCore: stats.windowAcks / m.serverCpuSeconds,
    generatorCpuPercent: m.generatorCpuPercent,
    mainThread: m.mainThread,
    rssMiB: m.rssMb,
    peakRssMiB: m.peakRssMb,
    acked: stats.acks,
    committedRows,
    errors: stats.errors,
    errorSamples: stats.errorSamples.length ? stats.errorSamples : undefined,
    abnormalCloses: abnormal(stats),
    exactlyOnceInOrder: verdict.ok && settled,
    verdict,
    writer: m.writer,
    target: "",
    met: false,
    loadAvg: loadAverage(),
  };
  const t = p.target(r);
  r.target = t.text;
  r.met = t.met && r.exactlyOnceInOrder === true && (NO_DB || committedRows === stats.acks);
  if (NO_DB) r.target += " (--no-db: nothing written, not a result)";
  if (WHAT_IF) r.target += " (--what-if: proposals approximated, not the shipped code)";
  return r;
}

function pairsPlan(w: World, pairs: number, mode: Plan["mode"], scenario: string, description: string, target: Plan["target"]): Plan {
  const clients: Plan["clients"] = [];
  for (let i = 0; i < pairs; i++) {
    clients.push({ user: 2 * i, conversation: w.pairs[i]! }, { user: 2 * i + 1, conversation: w.pairs[i]! });
  }
  return {
    scenario,
    description,
    clients,
    senders: Array.from({ length: pairs }, (_, i) => 2 * i),
    receiversOf: (s) => [2 * s, 2 * s + 1],
    mode,
    target,
  };
}

function groupPlan(w: World, size: number, senderCount: number): Plan {
  return {
    scenario: "C",
    description: `one ${size}-member group, ${senderCount} senders × ${WINDOW} in flight`,
    clients: Array.from({ length: size }, (_, i) => ({ user: i, conversation: w.group! })),
    senders: Array.from({ length: senderCount }, (_, i) => i),
    receiversOf: () => Array.from({ length: size }, (_, i) => i),
    mode: { window: WINDOW },
    target: (r) => ({ text: "≥ 100,000 deliveries/s", met: r.deliveredPerSecond! >= 100_000 }),
  };
}

// ---------------------------------------------------------------- D: idle connections

async function runIdle(count: number): Promise<Result> {
  const perUser = 40;
  const userCount = Math.ceil(count / perUser);
  const w = await startWorld("D", userCount, Math.floor(userCount / 2), 0);
  try {
    await sleep(2);
    const base = rss(w.server.pid);
    const stats = newStats();
    const clients: Client[] = [];
    for (let i = 0; i < count; i++) {
      const user = w.users[i % userCount]!;
      clients.push(new Client(user, w.pairs[Math.floor(user.index / 2)] ?? null, stats, new Int32Array(0)));
    }
    log(`[D] server RSS before ${fmt(base.rssMb, 1)} MiB; opening ${count} connections…`);
    const cpu0 = cpuSeconds(w.server.pid);
    const conn = await connectAll(w.server.wsUrl, clients, 256);
    const connectCpu = cpuSeconds(w.server.pid) - cpu0;
    await sleep(3);
    const after = rss(w.server.pid);
    const open = clients.filter((c) => c.open).length;
    // Idle: the server's CPU with every connection open and nobody talking.
    const cpu1 = cpuSeconds(w.server.pid);
    await sleep(2);
    const idleCpu = ((cpuSeconds(w.server.pid) - cpu1) / 2) * 100;
    for (const c of clients) c.close();
    await waitFor(() => clients.every((c) => c.ws.readyState === 3), 15_000);
    await sleep(2);
    const closed = rss(w.server.pid);
    const growth = after.rssMb - base.rssMb;
    log(
      `[D] ${open} open: RSS ${fmt(after.rssMb, 1)} MiB (+${fmt(growth, 1)}); after closing all: ${fmt(closed.rssMb, 1)} MiB`,
    );
    return {
      scenario: "D",
      description: `${count} idle authenticated connections (${userCount} users × ${perUser})`,
      connections: open,
      connectPerSecond: conn.perSecond,
      connectP99Ms: conn.p99Ms,
      connectCpuUs: (connectCpu * 1e6) / count,
      serverCpuPercent: idleCpu,
      rssMiB: after.rssMb,
      peakRssMiB: after.peakRssMb,
      rssGrowthMiB: growth,
      rssPerConnectionKB: (growth * 1024) / count,
      abnormalCloses: abnormal(stats),
      target: "RSS growth ≤ 100 MiB (≤ 10 KB each)",
      met: open === count && growth <= 100,
      loadAvg: loadAverage(),
    };
  } finally {
    await w.server.stop();
  }
}

// ---------------------------------------------------------------- K: crash

async function runCrash(): Promise<Result> {
  const pairs = 50;
  const w = await startWorld("K", 2 * pairs, pairs, 0);
  const stats = newStats();
  stats.ackedIds = [];
  const senderUser = new Int32Array(pairs);
  const clients: Client[] = [];
  const senders: Sender[] = [];
  for (let i = 0; i < pairs; i++) {
    const a = new Client(w.users[2 * i]!, w.pairs[i]!, stats, senderUser);
    clients.push(a, new Client(w.users[2 * i + 1]!, w.pairs[i]!, stats, senderUser));
    senderUser[i] = a.user.index;
    senders.push(new Sender(i, a, stats));
  }
  const conn = await connectAll(w.server.wsUrl, clients, 64);
  for (const s of senders) s.start(WINDOW);
  await sleep(3);
  const mem = rss(w.server.pid);
  // Kill mid-stream: acknowledgements already received must all be on disk.
  w.server.proc.kill("SIGKILL");
  await w.server.proc.exited;
  const acked = [...stats.ackedIds];
  const inFlight = senders.reduce((n, s) => n + s.inFlight, 0);
  await waitFor(() => clients.every((c) => c.ws.readyState === 3), 5_000);
  const missing = missingMessages(w.server.dataDir, acked);
  const rows = countMessages(w.server.dataDir);
  await w.server.stop();
  log(`[K] killed with ${inFlight} sends in flight: ${acked.length} acknowledged, ${rows} rows on disk, ${missing.length} acknowledged messages missing`);
  return {
    scenario: "K",
    description: `SIGKILL while ${pairs} senders × ${WINDOW} in flight`,
    connections: clients.length,
    connectPerSecond: conn.perSecond,
    connectP99Ms: conn.p99Ms,
    rssMiB: mem.rssMb,
    peakRssMiB: mem.peakRssMb,
    acked: acked.length,
    committedRows: rows,
    exactlyOnceInOrder: undefined,
    target: "every acknowledged message on disk after kill -9",
    met: missing.length === 0 && acked.length > 0,
    loadAvg: loadAverage(),
  };
}

// ---------------------------------------------------------------- main

function print(r: Result) {
  const lines = [`${r.scenario}  ${r.description}   [load avg ${r.loadAvg}]`];
  const connectCpu = r.connectCpuUs !== undefined ? `, ${fmt(r.connectCpuUs)} µs server CPU each` : "";
  lines.push(`   connect        ${fmt(r.connectPerSecond)} connections/s incl. auth (p99 ${fmt(r.connectP99Ms, 1)} ms), ${fmt(r.connections)} connections${connectCpu}`);
  if (r.deliveredPerSecond !== undefined) {
    lines.push(`   throughput     ${fmt(r.sentPerSecond!)} messages/s acknowledged, ${fmt(r.deliveredPerSecond)} deliveries/s`);
    const l = r.latency!;
    const a = r.ackLatency!;
    lines.push(`   send→receive   p50 ${fmt(l.p50, 2)} ms  p95 ${fmt(l.p95, 2)} ms  p99 ${fmt(l.p99, 2)} ms  max ${fmt(l.max, 1)} ms`);
    lines.push(`   send→ack       p50 ${fmt(a.p50, 2)} ms  p95 ${fmt(a.p95, 2)} ms  p99 ${fmt(a.p99, 2)} ms`);
  }
  const idle = r.rssGrowthMiB !== undefined ? " when idle" : "";
  const cpu = r.serverCpuPercent !== undefined ? `server CPU ${fmt(r.serverCpuPercent)}% of a core${idle}` : "";
  const gen = r.generatorCpuPercent !== undefined ? `, generator CPU ${fmt(r.generatorCpuPercent)}%` : "";
  const growth = r.rssGrowthMiB !== undefined ? `, growth ${fmt(r.rssGrowthMiB, 1)} MiB = ${fmt(r.rssPerConnectionKB!, 1)} KB per connection` : "";
  lines.push(`   server         ${cpu}${gen}${cpu || gen ? ", " : ""}RSS ${fmt(r.rssMiB, 1)} MiB (peak ${fmt(r.peakRssMiB, 1)})${growth}`);
  if (r.serverCpuUsPerMessage !== undefined) {
    const per = r.deliveredPerSecond && r.sentPerSecond ? r.deliveredPerSecond / r.sentPerSecond : 1;
    lines.push(
      `   CPU cost       ${fmt(r.serverCpuUsPerMessage, 1)} µs server CPU per message → at most ${fmt(r.capacityPerCore!)} messages/s` +
        (per > 1.01 ? ` (${fmt(r.capacityPerCore! * per)} deliveries/s)` : "") +
        ` with a whole core; ${fmt(r.writtenKiBPerMessage!, 1)} KiB written to storage per message`,
    );
  }
  if (r.mainThread)
    lines.push(
      `   main thread    on a CPU ${fmt(r.mainThread.runPercent)}%, runnable but waiting for one ${fmt(r.mainThread.waitPercent)}%, blocked/idle ${fmt(Math.max(0, 100 - r.mainThread.runPercent - r.mainThread.waitPercent))}%`,
    );
  if (r.writer && !NO_DB) {
    const wr = r.writer;
    lines.push(
      `   writer         ${fmt(wr.batches)} batches, mean ${fmt(wr.meanBatch, 1)} sends (max ${wr.maxBatch}), ${fmt(wr.commitMsPerBatch, 2)} ms per batch = ` +
        `jobs ${fmt(wr.jobsMsPerBatch, 2)} (${fmt(wr.jobUs)} µs per send) + COMMIT ${fmt(wr.commitStmtMsPerBatch, 2)} + after-commit ${fmt(wr.commitMsPerBatch - wr.jobsMsPerBatch - wr.commitStmtMsPerBatch, 2)}; ` +
        `${fmt(wr.commitShareOfWindow * 100)}% of the window inside batches`,
    );
  }
  if (r.acked !== undefined) {
    const order = r.exactlyOnceInOrder === undefined ? "" : r.exactlyOnceInOrder ? ", every message exactly once and in order at every receiver" : ", DELIVERY CHECK FAILED";
    lines.push(`   durability     ${fmt(r.acked)} acknowledged, ${fmt(r.committedRows!)} rows ${r.scenario === "K" ? "on disk after SIGKILL" : "committed"}${order}`);
  }
  if (r.verdict && !r.verdict.ok) for (const d of r.verdict.details) lines.push(`     ! ${d}`);
  if (r.errors) lines.push(`   errors         ${r.errors}: ${r.errorSamples?.join(" | ")}`);
  if (r.abnormalCloses) lines.push(`   closes         ${JSON.stringify(r.abnormalCloses)}`);
  lines.push(`   target         ${r.target}: ${r.met ? "met" : "MISSED"}`);
  console.log(lines.join("\n"));
}

async function main() {
  if (!SOURCE) ensureBinary(opt["no-build"]!, log);
  const started = performance.now();
  const pinned = hasTaskset ? `server on cpu ${opt["server-cpu"]}, generator on cpu ${opt["load-cpu"]}` : "unpinned (no taskset)";
  const mode = NO_DB ? " (--no-db)" : WHAT_IF ? " (--what-if)" : "";
  console.log(`confab WebSocket load — ${SOURCE ? "sources" : "dist/confab"}${mode}, ${pinned}, ${DURATION} s after ${WARMUP} s warm-up, load avg ${loadAverage()}`);

  const needPairs = wanted.has("A500") || wanted.has("B") ? 500 : wanted.has("A100") ? 100 : 0;
  const needGroup = wanted.has("C") ? 50 : 0;
  if (needPairs || needGroup) {
    const w = await startWorld("A/B/C", Math.max(2 * needPairs, needGroup), needPairs, needGroup);
    try {
      for (const pairs of [100, 500]) {
        if (!wanted.has(`A${pairs}` as Scenario)) continue;
        const r = await runLoaded(
          w,
          pairsPlan(w, pairs, { window: WINDOW }, `A${pairs}`, `1:1, ${pairs} pairs, one sender each × ${WINDOW} in flight`, (r) => ({
            text: "≥ 20,000 messages/s delivered, rows == acks, exactly once in order",
            met: r.deliveredPerSecond! >= 20_000,
          })),
        );
        results.push(r);
        print(r);
      }
      if (wanted.has("B")) {
        const r = await runLoaded(
          w,
          pairsPlan(w, 500, { rate: RATE }, "B", `1:1, 500 pairs, fixed ${fmt(RATE)} messages/s in total`, (r) => ({
            text: `p99 send→receive < 20 ms at ${fmt(RATE)}/s`,
            met: r.latency!.p99 < 20 && r.deliveredPerSecond! >= RATE * 0.98,
          })),
        );
        results.push(r);
        print(r);
      }
      if (wanted.has("C")) {
        const r = await runLoaded(w, groupPlan(w, 50, 5));
        results.push(r);
        print(r);
      }
    } finally {
      await w.server.stop();
    }
  }
  if (wanted.has("D")) {
    const r = await runIdle(IDLE);
    results.push(r);
    print(r);
  }
  if (wanted.has("K")) {
    const r = await runCrash();
    results.push(r);
    print(r);
  }
  log(`done in ${fmt((performance.now() - started) / 1000)} s`);
  if (opt.json) console.log(JSON.stringify(results, (k, v) => (k === "verdict" ? undefined : v), 2));
}

await main();

/**
 * Messages benchmark (issue #3): durable send throughput and the read paths, on a database
 * seeded with 1,000,000 messages across 10,000 conversations.
 *
 *   npm run bench:messages                          # everything, ~3 min after the first seeding
 *   bun bench/messages.ts --only send --duration 5  # one part: send, history, list, search
 *   bun bench/messages.ts --head                    # the committed HEAD (exported, built, seeded by its
 *                                                   # own migrations), not the work tree others are editing
 *   bun bench/messages.ts --sync FULL,NORMAL        # also: sends from a source copy with each synchronous
 *   bun bench/messages.ts --strace                  # also: a send run under strace counting fsyncs
 *   bun bench/messages.ts --cpu-prof /tmp/prof      # also: a send run from source, CPU profile as markdown
 *   bun bench/messages.ts --nice=-10                # server and load generator at niceness -10 (root):
 *                                                   # a machine shared with other work disturbs less
 *   bun bench/messages.ts --json                    # figures as JSON
 *
 * Seeding goes straight into SQLite through the project's openDatabase/runMigrations and
 * stores (bench/lib/seed.ts): 2,000 users, 7,000 direct conversations and 3,000 groups (3–30
 * members), messages of 1–40 words from a Zipf vocabulary spread over a year and over the
 * conversations by a Zipf law, 0.3% deleted, 5% with reactions, watermarks consistent. The
 * result is cached in $TMPDIR/confab-bench-messages/<schema hash>/ and copied for every server.
 *
 * The server is dist/confab (built when missing; --rebuild, or --source to run the sources),
 * started with --port 0 --host 127.0.0.1 on a copy of the seeded data dir, with rate limits out
 * of the way and warn-level logs. It runs on cpu 0 (taskset) and the load generator (wrk -t1,
 * else autocannon) on cpu 1; the send run is repeated unpinned. Users log in with the seeded
 * password (argon2id, as the server stores them).
 *
 * Scenarios (each: warm-up, then a measured run):
 *   send      64 connections POST /api/v1/conversations/{id}/messages, 512 (sender, conversation)
 *             pairs in rotation; every 201 comes after COMMIT (synchronous=FULL). Reports msgs/s,
 *             p50/p99, batches (from /metrics when the server exports its writer stats, else
 *             estimated by the disk's cache flushes: one per fsync), server CPU and RSS, and
 *             checks the rows added against the 201s counted.
 *   history   GET …/messages?limit=50 (newest page, many conversations) and a `before=` page deep
 *             (50–95% back) in the largest conversation.
 *   list      GET /api/v1/conversations?limit=50 for the user in 1,000 conversations.
 *   search    GET /api/v1/messages/search?q=… for that user: a common word and a rare one; and the
 *             common word for a user in ~20 conversations (few of its matches are theirs).
 * Read paths run at 1 connection (latency of one request alone) and at 32 (under load).
 * Also printed: the database size per million messages (file + WAL after a checkpoint), seeded
 * and as grown by the sends.
 *
 * Targets on this 2-core machine: ≥ 15,000 durable msgs/s; p99 history < 5 ms, list < 10 ms,
 * search < 20 ms. Figures, not pass/fail.
 */
import { Database } from "bun:sqlite";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { runAtHead } from "./lib/head";
import { SEED_DB_FILE, emailOf, seededDatabase, type SeedMeta } from "./lib/seed";
import {
  BINARY,
  ROOT,
  cpuSeconds,
  deviceFlushes,
  ensureBinary,
  ensureWrk,
  hasTaskset,
  machineBusySeconds,
  runQueueWaitSeconds,
  setNiceness,
  writtenBytes,
  rss,
  runLoad,
  scrape,
  startServer,
  stopServer,
  type LoadResult,
  type Req,
  type Server,
  type ServerOptions,
} from "./lib/load";
import { makeVariant } from "./lib/variant";

const { values: opt } = parseArgs({
  options: {
    messages: { type: "string", default: "1000000" },
    conversations: { type: "string", default: "10000" },
    users: { type: "string", default: "2000" },
    "heavy-conversations": { type: "string", default: "1000" },
    duration: { type: "string", default: "10" },
    warmup: { type: "string", default: "2" },
    connections: { type: "string", default: "64" },
    "read-connections": { type: "string", default: "1,32" },
    only: { type: "string", default: "send,history,list,search" },
    "no-unpinned": { type: "boolean", default: false },
    "server-cpu": { type: "string", default: "0" },
    "load-cpu": { type: "string", default: "1" },
    tool: { type: "string" },
    source: { type: "boolean", default: false },
    rebuild: { type: "boolean", default: false },
    head: { type: "boolean", default: false },
    sync: { type: "string" },
    strace: { type: "boolean", default: false },
    "cpu-prof": { type: "string" },
    nice: { type: "string" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (opt.help) {
  console.log(readFileSync(import.meta.path, "utf8").split("*/")[0]);
  process.exit(0);
}

const log = (s: string) => process.stderr.write(s + "\n");

if (opt.head) await runAtHead(ROOT, "bench/messages.ts", "confab-bench-head", log);
if (opt.nice !== undefined) setNiceness(Number(opt.nice));
const seconds = Number(opt.duration);
const warmup = Number(opt.warmup);
const connections = Number(opt.connections);
const readConnections = opt["read-connections"]!.split(",").map(Number).filter((n) => n > 0);
const only = new Set(opt.only!.split(",").map((s) => s.trim()));
const SENDERS = 64;
const CONVERSATIONS_PER_SENDER = 8;

const fmt = (n: number | null | undefined, d = 0) =>
  n === null || n === undefined || Number.isNaN(n) ? "—" : n.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
const mib = (b: number) => b / 1048576;

// ---------------------------------------------------------------- fixtures from the seeded file

interface Fixtures {
  /** (user, conversation) pairs the senders rotate over. */
  sendPairs: { userId: number; conversationId: number; members: number }[];
  /** Conversations of the senders with more than a page of messages, for newest-page reads. */
  historyPairs: { userId: number; conversationId: number; members: number }[];
  /** message_ids 50–95% back in the largest conversation. */
  deepAnchors: string[];
}

function fixtures(dbPath: string, meta: SeedMeta): Fixtures {
  const db = new Database(dbPath, { readonly: true });
  try {
    const ofUser = db.query<{ conversation_id: number; type: string; members: number; messages: number }, [number]>(
      `SELECT p.conversation_id, c.type,
              (SELECT count(*) FROM participants q WHERE q.conversation_id = p.conversation_id) AS members,
              (SELECT count(*) FROM messages m WHERE m.conversation_id = p.conversation_id) AS messages
       FROM participants p JOIN conversations c ON c.id = p.conversation_id WHERE p.user_id = ? ORDER BY p.conversation_id`,
    );
    const sendPairs: Fixtures["sendPairs"] = [];
    const historyPairs: Fixtures["historyPairs"] = [];
    const users = meta.params.users;
    // Senders spread over the id range, skipping the heavy user (user 1). Each sends to 6 direct
    // conversations and 2 groups, about the seed's mix (70% of messages are in direct ones).
    for (let k = 0; k < SENDERS; k++) {
      const userId = 2 + Math.floor((k * (users - 1)) / SENDERS);
      const mine = ofUser.all(userId);
      const direct = mine.filter((c) => c.type === "direct").slice(0, 6);
      const group = mine.filter((c) => c.type === "group").slice(0, CONVERSATIONS_PER_SENDER - direct.length);
      for (const c of [...direct, ...group]) {
        sendPairs.push({ userId, conversationId: c.conversation_id, members: c.members });
        if (c.messages > 50) historyPairs.push({ userId, conversationId: c.conversation_id, members: c.members });
      }
    }
    const big = meta.bigConversation;
    const at = db.query<{ id: string }, [number, number]>("SELECT id FROM messages WHERE conversation_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?");
    const deepAnchors: string[] = [];
    for (let i = 0; i < 16; i++) deepAnchors.push(at.get(big.id, Math.floor(big.messages * (0.5 + (0.45 * i) / 15)))!.id);
    return { sendPairs, historyPairs, deepAnchors };
  } finally {
    db.close();
  }
}

/** Highest message seq in a database file (rows are never removed: seq counts inserts). */
function maxSeq(dbPath: string): number {
  const db = new Database(dbPath, { readonly: true });
  try {
    return db.query<{ s: number }, []>("SELECT coalesce(max(seq), 0) AS s FROM messages").get()!.s;
  } finally {
    db.close();
  }
}

/** File + WAL after a full checkpoint (what a backup or a disk holds at rest). */
function sizeAfterCheckpoint(dbPath: string): { db: number; wal: number; messages: number } {
  const db = new Database(dbPath);
  try {
    db.exec("PRAGMA busy_timeout = 5000");
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    const messages = db.query<{ n: number }, []>("SELECT count(*) AS n FROM messages").get()!.n;
    const wal = existsSync(dbPath + "-wal") ? statSync(dbPath + "-wal").size : 0;
    return { db: statSync(dbPath).size, wal, messages };
  } finally {
    db.close();
  }
}

// ---------------------------------------------------------------- a server on a copy of the seed

interface Run {
  server: Server;
  dataDir: string;
  dbPath: string;
  tokens: Map<number, string>;
}

async function boot(seedPath: string, o: Omit<ServerOptions, "dataDir">, userIds: number[], password: string): Promise<Run> {
  const dataDir = mkdtempSync(join(tmpdir(), "confab-bench-msg-"));
  const dbPath = join(dataDir, SEED_DB_FILE);
  copyFileSync(seedPath, dbPath);
  const server = await startServer({ ...o, dataDir });
  const tokens = new Map<number, string>();
  // Logins verify argon2id (~25 ms of server CPU each): a few at a time.
  const ids = [...new Set(userIds)];
  for (let i = 0; i < ids.length; i += 4) {
    await Promise.all(
      ids.slice(i, i + 4).map(async (id) => {
        const r = await fetch(`${server.url}/api/v1/auth/login`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ email: emailOf(id), password }),
        });
        if (r.status !== 200) throw new Error(`login of user ${id}: ${r.status} ${await r.text()}`);
        tokens.set(id, ((await r.json()) as { access_token: string }).access_token);
      }),
    );
  }
  return { server, dataDir, dbPath, tokens };
}

async function shutdown(run: Run, keep = false) {
  await stopServer(run.server);
  if (!keep) rmSync(run.dataDir, { recursive: true, force: true });
}

/** One request by hand before a load run: the load must measure successes, not a fast error path. */
async function check(url: string, r: Req, expect: number, validate: (body: any) => string | null) {
  const res = await fetch(url + r.path, {
    method: r.method,
    headers: { authorization: `Bearer ${r.token}`, ...(r.body ? { "content-type": "application/json" } : {}) },
    body: r.body,
  });
  const body = await res.json().catch(() => null);
  const problem = res.status !== expect ? `status ${res.status}` : validate(body);
  if (problem) throw new Error(`sanity check ${r.method} ${r.path}: ${problem}: ${JSON.stringify(body).slice(0, 400)}`);
  return body;
}

// ---------------------------------------------------------------- scenarios

interface ReadResult extends LoadResult {
  name: string;
  detail: string;
  connections: number;
  serverCpuPct: number;
  /** Server CPU time per request (µs): 1e6 / this is what one core could serve. */
  serverCpuUsPerReq: number;
  /** Time the server was runnable but waiting for a CPU, % of the run: > 0 means other work held it back. */
  runQueueWaitPct: number;
  /** CPU used by other processes on the machine during the run (not server, not load generator). */
  otherCpuPct: number;
}

interface SendResult extends LoadResult {
  name: string;
  pinned: boolean;
  /** Rows the server added while the measured run ran and answered (warm-up excluded). */
  rowsAdded: number;
  /** Rows added during warm-up + measured run vs 201s counted by the load generator in both. */
  rowsVsAnswers: { rows: number; answered: number };
  batches: number | null;
  batchesSource: string;
  deviceFlushes: number | null;
  serverMeanMs: number | null;
  serverCpuPct: number;
  serverCpuUsPerReq: number;
  /** Storage writes (WAL and checkpoints) per message, KiB. */
  writtenKbPerMsg: number;
  runQueueWaitPct: number;
  otherCpuPct: number;
  rssMb: number;
  peakRssMb: number;
  writerMetrics: Record<string, number>;
  fsyncs?: Record<string, number>;
}

const tool: "wrk" | "autocannon" = opt.tool === "autocannon" ? "autocannon" : ensureWrk(log) ? "wrk" : "autocannon";

async function readScenario(run: Run, name: string, detail: string, reqs: Req[], c: number): Promise<ReadResult> {
  const load = { url: run.server.url, reqs, connections: c, cpu: opt["load-cpu"]!, tool, dir: run.dataDir };
  if (warmup > 0) await runLoad({ ...load, seconds: warmup });
  const pid = run.server.pid;
  const cpu0 = cpuSeconds(pid);
  const wait0 = runQueueWaitSeconds(pid);
  const busy0 = machineBusySeconds();
  const written0 = writtenBytes(run.server.pid);
  const r = await runLoad({ ...load, seconds });
  const written = writtenBytes(run.server.pid) - written0;
  const cpu = cpuSeconds(pid) - cpu0;
  const other = machineBusySeconds() - busy0 - cpu - r.loadCpuSeconds;
  return {
    name,
    detail,
    connections: c,
    ...r,
    serverCpuPct: (cpu / r.seconds) * 100,
    serverCpuUsPerReq: (cpu / Math.max(1, r.requests)) * 1e6,
    runQueueWaitPct: ((runQueueWaitSeconds(pid) - wait0) / r.seconds) * 100,
    otherCpuPct: Math.max(0, (other / r.seconds) * 100),
  };
}

function sendReqs(run: Run, f: Fixtures): Req[] {
  const texts = ["On my way, see you at the meeting today", "Can you review the draft before friday?", "Thanks! I'll check the report and call you back", "Lunch at noon?", "Deploy done, the server looks good now"];
  return f.sendPairs.map((p, i) => ({
    method: "POST" as const,
    path: `/api/v1/conversations/${p.conversationId}/messages`,
    token: run.tokens.get(p.userId)!,
    body: JSON.stringify({ message_type: "text", content: texts[i % texts.length] }),
  }));
}

const WRITER_METRIC = /^confab_\w*(writer|batch|commit)\w*/;

async function sendScenario(run: Run, f: Fixtures, name: string, pinned: boolean): Promise<SendResult> {
  const reqs = sendReqs(run, f);
  await check(run.server.url, reqs[0]!, 201, (b) => (typeof b?.message_id === "string" ? null : "no message_id"));
  const load = { url: run.server.url, reqs, connections, cpu: pinned ? opt["load-cpu"]! : null, tool, dir: run.dataDir };
  const seq0 = maxSeq(run.dbPath);
  const w = warmup > 0 ? await runLoad({ ...load, seconds: warmup }) : null;
  const seq1 = maxSeq(run.dbPath);
  const m0 = await scrape(run.server.url);
  const f0 = deviceFlushes(run.dataDir);
  const cpu0 = cpuSeconds(run.server.pid);
  const wait0 = runQueueWaitSeconds(run.server.pid);
  const busy0 = machineBusySeconds();
  const written0 = writtenBytes(run.server.pid);
  const r = await runLoad({ ...load, seconds });
  const written = writtenBytes(run.server.pid) - written0;
  const cpu = cpuSeconds(run.server.pid) - cpu0;
  const wait = runQueueWaitSeconds(run.server.pid) - wait0;
  const other = machineBusySeconds() - busy0 - cpu - r.loadCpuSeconds;
  const f1 = deviceFlushes(run.dataDir);
  const m1 = await scrape(run.server.url);
  const seq2 = maxSeq(run.dbPath);

  const writerMetrics: Record<string, number> = {};
  for (const [k, v] of m1) if (WRITER_METRIC.test(k)) writerMetrics[k] = v - (m0.get(k) ?? 0);
  const batchKey =
    Object.keys(writerMetrics).find((k) => /batches(_total)?$/.test(k)) ?? Object.keys(writerMetrics).find((k) => /batch\w*_count$/.test(k));
  const flushes = f0 !== null && f1 !== null ? f1 - f0 : null;
  const histo = (suffix: string) => {
    for (const [k, v] of m1) if (k.startsWith(`confab_http_request_duration_seconds_${suffix}{`) && k.includes('method="POST"') && k.includes("/messages")) return v - (m0.get(k) ?? 0);
    return null;
  };
  const sum = histo("sum");
  const count = histo("count");
  return {
    name,
    pinned,
    ...r,
    rowsAdded: seq2 - seq1,
    rowsVsAnswers: { rows: seq2 - seq0, answered: r.requests + (w?.requests ?? 0) },
    batches: batchKey ? writerMetrics[batchKey]! : flushes,
    batchesSource: batchKey ? `/metrics ${batchKey}` : flushes !== null ? "≈ disk cache flushes (one per fsync; whole disk)" : "unknown",
    deviceFlushes: flushes,
    serverMeanMs: sum !== null && count ? (sum / count) * 1000 : null,
    serverCpuPct: (cpu / r.seconds) * 100,
    serverCpuUsPerReq: (cpu / Math.max(1, r.requests)) * 1e6,
    writtenKbPerMsg: written / 1024 / Math.max(1, r.requests),
    runQueueWaitPct: (wait / r.seconds) * 100,
    otherCpuPct: Math.max(0, (other / r.seconds) * 100),
    ...rss(run.server.pid),
    writerMetrics,
  };
}

/** strace -c output: calls per syscall. */
function parseStrace(file: string): Record<string, number> {
  const out: Record<string, number> = {};
  if (!existsSync(file)) return out;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$/.exec(line);
    if (m) out[m[2]!] = Number(m[1]);
  }
  return out;
}

// ---------------------------------------------------------------- main

async function main() {
  const t0 = performance.now();
  const params = {
    messages: Number(opt.messages),
    conversations: Number(opt.conversations),
    users: Number(opt.users),
    heavyConversations: Number(opt["heavy-conversations"]),
  };
  const seeded = await seededDatabase(params, log);
  const meta = seeded.meta;
  const f = fixtures(seeded.path, meta);
  if (!opt.source) ensureBinary(opt.rebuild, log);
  if (!hasTaskset) log("note: taskset not found; nothing is pinned");
  const serverKind = opt.source ? "bun cli/index.ts" : `dist/confab (built ${new Date(statSync(BINARY).mtimeMs).toISOString()})`;
  const base: Omit<ServerOptions, "dataDir"> = { cpu: opt["server-cpu"]!, sourceRoot: opt.source ? ROOT : null };
  const senderIds = [...new Set(f.sendPairs.map((p) => p.userId))];
  const heavy = meta.heavyUser.id;
  const bigMember = meta.bigConversation.memberId;
  const typical = meta.typicalUser.id;

  const reads: ReadResult[] = [];
  const sends: SendResult[] = [];
  let grown: { bytesPerMessage: number; added: number } | null = null;

  // Server A, pinned: the read paths on the seeded state, then the sends.
  const wantReads = ["history", "list", "search"].some((s) => only.has(s));
  if (wantReads || only.has("send")) {
    log("server A (pinned): logging in…");
    const run = await boot(seeded.path, base, [heavy, bigMember, typical, ...senderIds], meta.password);
    try {
      const url = run.server.url;
      if (only.has("history")) {
        const newest: Req[] = f.historyPairs.map((p) => ({ method: "GET", path: `/api/v1/conversations/${p.conversationId}/messages?limit=50`, token: run.tokens.get(p.userId)! }));
        const deep: Req[] = f.deepAnchors.map((a) => ({
          method: "GET",
          path: `/api/v1/conversations/${meta.bigConversation.id}/messages?limit=50&before=${a}`,
          token: run.tokens.get(bigMember)!,
        }));
        const fifty = (b: any) => (b?.messages?.length === 50 ? null : `expected 50 messages, got ${b?.messages?.length}`);
        await check(url, newest[0]!, 200, fifty);
        await check(url, deep[0]!, 200, fifty);
        for (const c of readConnections) {
          log(`history newest page, ${c} connection(s)…`);
          reads.push(await readScenario(run, "history newest", `${newest.length} conversations (51–${fmt(meta.bigConversation.messages)} msgs), 50 per page`, newest, c));
        }
        for (const c of readConnections) {
          log(`history before= page, ${c} connection(s)…`);
          reads.push(await readScenario(run, "history before=", `conversation of ${fmt(meta.bigConversation.messages)} msgs, 50–95% back`, deep, c));
        }
      }
      if (only.has("list")) {
        const list: Req[] = [{ method: "GET", path: "/api/v1/conversations?limit=50", token: run.tokens.get(heavy)! }];
        await check(url, list[0]!, 200, (b) => (b?.conversations?.length === 50 ? null : `expected 50 conversations, got ${b?.conversations?.length}`));
        for (const c of readConnections) {
          log(`conversation list, ${c} connection(s)…`);
          reads.push(await readScenario(run, "conversation list", `user in ${fmt(meta.heavyUser.conversations)} conversations, first 50`, list, c));
        }
      }
      if (only.has("search")) {
        const searches = [
          { word: meta.words.common, user: heavy, what: `${fmt(meta.words.common.heavyUserMessages)} in the user's ${fmt(meta.heavyUser.conversations)} convs` },
          { word: meta.words.rare, user: heavy, what: `${fmt(meta.words.rare.heavyUserMessages)} in the user's ${fmt(meta.heavyUser.conversations)} convs` },
          // The common case: a user in a few conversations, where few of the matches are theirs.
          { word: meta.words.common, user: typical, what: `user in ${fmt(meta.typicalUser.conversations)} convs` },
        ];
        for (const s of searches) {
          const req: Req[] = [{ method: "GET", path: `/api/v1/messages/search?q=${encodeURIComponent(s.word.word)}`, token: run.tokens.get(s.user)! }];
          await check(url, req[0]!, 200, (b) => (Array.isArray(b?.messages) && b.messages.length > 0 ? null : "no results"));
          for (const c of readConnections) {
            log(`search "${s.word.word}" as user ${s.user}, ${c} connection(s)…`);
            reads.push(await readScenario(run, `search "${s.word.word}"`, `in ${fmt(s.word.messages)} msgs, ${s.what}; top 20`, req, c));
          }
        }
      }
      if (only.has("send")) {
        log(`send, ${connections} connections, pinned…`);
        sends.push(await sendScenario(run, f, "send (pinned)", true));
      }
    } finally {
      await shutdown(run, true);
    }
    if (only.has("send")) {
      const after = sizeAfterCheckpoint(run.dbPath);
      const added = after.messages - params.messages;
      if (added > 0) grown = { added, bytesPerMessage: (after.db + after.wal - meta.dbBytes - meta.walBytes) / added };
    }
    rmSync(run.dataDir, { recursive: true, force: true });
  }

  // Server B, unpinned: the send run again, both processes free to use both cores.
  if (only.has("send") && !opt["no-unpinned"]) {
    log(`send, ${connections} connections, unpinned…`);
    const run = await boot(seeded.path, { ...base, cpu: null }, senderIds, meta.password);
    try {
      sends.push(await sendScenario(run, f, "send (unpinned)", false));
    } finally {
      await shutdown(run);
    }
  }

  // Investigations: synchronous FULL vs NORMAL from a source copy; fsyncs counted by strace; a CPU
  // profile. A run that fails is reported and skipped: the figures above still print.
  const variant = opt.sync || opt.strace || opt["cpu-prof"] ? makeVariant() : null;
  const investigate = async (name: string, o: Omit<ServerOptions, "dataDir">, afterStop?: (r: SendResult) => void) => {
    log(`${name}…`);
    try {
      const run = await boot(seeded.path, o, senderIds, meta.password);
      let r: SendResult;
      try {
        r = await sendScenario(run, f, name, true);
      } finally {
        await shutdown(run);
      }
      afterStop?.(r);
      sends.push(r);
    } catch (e) {
      log(`${name} failed: ${(e as Error).message}`);
    }
  };
  try {
    for (const sync of opt.sync ? opt.sync.split(",").map((s) => s.trim().toUpperCase()) : []) {
      await investigate(`send (source, synchronous=${sync}, pinned)`, { ...base, sourceRoot: variant!.root, env: { CONFAB_BENCH_SYNCHRONOUS: sync } });
    }
    if (opt.strace) {
      const straceFile = join(tmpdir(), `confab-bench-strace-${process.pid}.txt`);
      await investigate(
        "send (source, under strace, pinned)",
        { ...base, sourceRoot: variant!.root, wrap: ["strace", "-f", "-c", "-o", straceFile, "--seccomp-bpf", "-e", "trace=fsync,fdatasync,pwrite64"] },
        (r) => {
          r.fsyncs = parseStrace(straceFile);
          rmSync(straceFile, { force: true });
        },
      );
    }
    if (opt["cpu-prof"]) {
      const dir = resolve(opt["cpu-prof"]);
      await investigate("send (source, --cpu-prof, pinned)", {
        ...base,
        sourceRoot: variant!.root,
        bunArgs: ["--cpu-prof-md", `--cpu-prof-dir=${dir}`, `--cpu-prof-name=send-${Date.now()}.md`],
      });
    }
  } finally {
    variant?.dispose();
  }

  const perMillion = mib(((meta.dbBytes + meta.walBytes) * 1_000_000) / params.messages);
  const report = {
    server: serverKind,
    tool,
    pinning: hasTaskset ? { server: opt["server-cpu"], load: opt["load-cpu"] } : null,
    seconds,
    warmup,
    seed: meta,
    reads,
    sends,
    size: {
      seededMiBPerMillion: perMillion,
      seededFileBytes: meta.dbBytes,
      seededWalBytes: meta.walBytes,
      grownBytesPerMessage: grown?.bytesPerMessage ?? null,
      grownMessages: grown?.added ?? null,
    },
    totalSeconds: (performance.now() - t0) / 1000,
  };
  if (opt.json) {
    console.log(JSON.stringify(report, null, 2));
    return;
  }
  print(report, f);
}

function table(rows: string[][]) {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  for (const r of rows) console.log("  " + r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  "));
}

function print(r: {
  server: string;
  tool: string;
  pinning: { server?: string; load?: string } | null;
  seed: SeedMeta;
  reads: ReadResult[];
  sends: SendResult[];
  size: { seededMiBPerMillion: number; seededFileBytes: number; seededWalBytes: number; grownBytesPerMessage: number | null; grownMessages: number | null };
  totalSeconds: number;
}, f: Fixtures) {
  const s = r.seed;
  console.log(
    `confab messages benchmark — ${r.server}, ${r.tool}, ${seconds} s per run after ${warmup} s warm-up` +
      (r.pinning ? `, server on cpu ${r.pinning.server}, load on cpu ${r.pinning.load}` : ", unpinned") +
      (opt.nice !== undefined ? `, niceness ${opt.nice}` : ""),
  );
  console.log(
    `seed: ${fmt(s.params.messages)} messages, ${fmt(s.params.conversations)} conversations (${fmt(s.directConversations)} direct, ${fmt(s.groupConversations)} groups), ` +
      `${fmt(s.params.users)} users; largest conversation ${fmt(s.bigConversation.messages)} msgs; seeded in ${s.seedSeconds} s (cached: ${s.key})`,
  );
  if (r.sends.length) {
    const members = f.sendPairs.reduce((a, p) => a + p.members, 0) / f.sendPairs.length;
    console.log(
      `\nsend: POST /api/v1/conversations/{id}/messages, ${connections} connections, 201 after COMMIT; ${f.sendPairs.length} (sender, conversation) pairs ` +
        `of ${new Set(f.sendPairs.map((p) => p.userId)).size} users, ${fmt(members, 1)} participants per conversation on average`,
    );
    const rows = [["run", "msgs/s", "p50 ms", "p99 ms", "max ms", "errors", "batches", "msgs/batch", "srv mean ms", "srv CPU %", "CPU µs/msg", "KiB written/msg", "runq wait %", "other CPU %", "RSS MB", "peak MB"]];
    for (const x of r.sends) {
      rows.push([
        x.name,
        fmt(x.rps),
        fmt(x.p50Ms, 2),
        fmt(x.p99Ms, 2),
        fmt(x.maxMs, 1),
        fmt(x.socketErrors + x.badStatus),
        fmt(x.batches),
        x.batches ? fmt(x.rowsAdded / x.batches, 1) : "—",
        fmt(x.serverMeanMs, 2),
        fmt(x.serverCpuPct),
        fmt(x.serverCpuUsPerReq),
        fmt(x.writtenKbPerMsg, 1),
        fmt(x.runQueueWaitPct),
        fmt(x.otherCpuPct),
        fmt(x.rssMb),
        fmt(x.peakRssMb),
      ]);
    }
    table(rows);
    for (const x of r.sends) {
      const ok = x.rowsVsAnswers.rows >= x.rowsVsAnswers.answered && x.rowsVsAnswers.rows - x.rowsVsAnswers.answered <= 2 * connections;
      console.log(
        `  ${x.name}: ${fmt(x.rowsVsAnswers.rows)} rows added for ${fmt(x.rowsVsAnswers.answered)} 201s counted (warm-up included; ≤ ${2 * connections} in flight at the ends) ${ok ? "ok" : "MISMATCH"}; ` +
          `batches: ${x.batchesSource}; load generator CPU ${fmt((x.loadCpuSeconds / x.seconds) * 100)}%` +
          (x.fsyncs ? `; strace: ${Object.entries(x.fsyncs).map(([k, v]) => `${k} ${fmt(v)}`).join(", ")} (warm-up and logins included)` : ""),
      );
      if (Object.keys(x.writerMetrics).length) console.log(`    writer metrics: ${Object.entries(x.writerMetrics).map(([k, v]) => `${k} +${fmt(v)}`).join(", ")}`);
    }
  }
  if (r.reads.length) {
    console.log(`\nread paths (server pinned, load on its own core)`);
    const rows = [["path", "conns", "req/s", "p50 ms", "p99 ms", "max ms", "errors", "srv CPU %", "CPU µs/req", "runq wait %", "other CPU %", "what"]];
    for (const x of r.reads) {
      rows.push([x.name, String(x.connections), fmt(x.rps), fmt(x.p50Ms, 2), fmt(x.p99Ms, 2), fmt(x.maxMs, 1), fmt(x.socketErrors + x.badStatus), fmt(x.serverCpuPct), fmt(x.serverCpuUsPerReq), fmt(x.runQueueWaitPct), fmt(x.otherCpuPct), x.detail]);
    }
    table(rows);
  }
  console.log(
    `\nsize: ${fmt(r.size.seededMiBPerMillion, 1)} MiB per million messages as seeded (file ${fmt(mib(r.size.seededFileBytes), 1)} MiB + WAL ${fmt(mib(r.size.seededWalBytes), 1)} MiB after a checkpoint)` +
      (r.size.grownBytesPerMessage !== null
        ? `; sent through the server: ${fmt(r.size.grownBytesPerMessage)} bytes per message (${fmt(r.size.grownMessages)} messages; ${fmt((r.size.grownBytesPerMessage * 1e6) / 1048576, 1)} MiB per million)`
        : ""),
  );
  const busy = [...r.sends, ...r.reads].filter((x) => x.otherCpuPct > 10 || x.runQueueWaitPct > 5);
  if (busy.length)
    console.log(
      `WARNING: in ${busy.length} run(s) other processes used > 10% CPU or kept the server waiting for a CPU > 5% of the time ` +
        `(columns "other CPU %", "runq wait %"): req/s and latency are low there; "CPU µs/req" (1e6 / it = one core's capacity) holds up better`,
    );
  console.log(`total ${fmt(r.totalSeconds)} s`);
}

await main();
// Keep-alive sockets to the stopped servers must not hold the process open.
process.exit(0);

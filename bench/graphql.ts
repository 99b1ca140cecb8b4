/**
 * GraphQL benchmark (issue #5): the seed's GetConversations query over POST /graphql against a
 * database of 100,000 messages.
 *
 *   npm run bench:graphql                            # ~1 min after the first seeding
 *   bun bench/graphql.ts --connections 1,8,32 --duration 10
 *   bun bench/graphql.ts --rebuild                   # rebuild dist/confab first
 *   bun bench/graphql.ts --head                      # the committed HEAD (exported and built in
 *                                                    # $TMPDIR), not a work tree others are editing
 *   bun bench/graphql.ts --nice=-10                  # server and load generator at niceness -10
 *                                                    # (root): a shared machine disturbs less
 *   bun bench/graphql.ts --json                      # figures as JSON
 *
 * Seeding reuses bench/lib/seed.ts (the messages benchmark's helper: the project's
 * openDatabase/runMigrations and stores, denormalised fields — last_message_seq, activity_at,
 * read_seq, delivered_seq — left as the server leaves them), cached in $TMPDIR and copied for
 * the server. 500 users, 2,000 conversations (70% direct, groups of 3–30), user 1 in 200 of them.
 *
 * The server is dist/confab (built when missing), `serve --host 127.0.0.1 --port 0` on a copy,
 * with CONFAB_RATE_LIMIT=1000000000 and CONFAB_LOG_LEVEL=warn, pinned to cpu 0 with taskset;
 * the load generator (wrk -t1 with a Lua script that POSTs the query, else autocannon) runs
 * on cpu 1. Each run: warm-up, then a bounded measured run.
 *
 * Scenarios:
 *   graphql heavy    GetConversations(first: 20) as user 1 (200 conversations)
 *   graphql spread   the same query as 64 users taking turns (a conversation list each)
 *   rest heavy       GET /api/v1/conversations?limit=20 as user 1, for reference: the same
 *                    data through the REST route
 * Printed: requests/s, p50/p90/p99/max, server CPU (in all and per request), CPU other
 * processes used meanwhile (latencies mean little when that is high: the server waits for its
 * core), server RSS at the end. Target: p99 < 15 ms.
 * Figures, not pass/fail.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { runAtHead } from "./lib/head";
import { SEED_DB_FILE, emailOf, seededDatabase } from "./lib/seed";
import {
  ROOT,
  cpuSeconds,
  ensureBinary,
  ensureWrk,
  hasTaskset,
  machineBusySeconds,
  rss,
  runLoad,
  setNiceness,
  startServer,
  stopServer,
  type LoadResult,
  type Req,
  type Server,
} from "./lib/load";

const { values: opt } = parseArgs({
  options: {
    messages: { type: "string", default: "100000" },
    duration: { type: "string", default: "10" },
    warmup: { type: "string", default: "3" },
    connections: { type: "string", default: "1,8,32" },
    "server-cpu": { type: "string", default: "0" },
    "load-cpu": { type: "string", default: "1" },
    tool: { type: "string" },
    rebuild: { type: "boolean", default: false },
    head: { type: "boolean", default: false },
    nice: { type: "string" },
    "no-rest": { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (opt.help) {
  console.log(readFileSync(import.meta.path, "utf8").split("*/")[0]);
  process.exit(0);
}

const log = (s: string) => process.stderr.write(s + "\n");

if (opt.head) await runAtHead(ROOT, "bench/graphql.ts", "confab-bench-graphql-head", log);
if (opt.nice !== undefined) setNiceness(Number(opt.nice));
const seconds = Number(opt.duration);
const warmup = Number(opt.warmup);
const connectionCounts = opt.connections!.split(",").map(Number).filter((n) => n > 0);
const SPREAD_USERS = 64;

/** The seed's GetConversations query, verbatim but for the page size. */
const GET_CONVERSATIONS = `query GetConversations {
  conversations(first: 20) {
    edges {
      node {
        id
        type
        title
        participants {
          id
          firstName
          lastName
          profilePictureUrl
          isOnline
        }
        lastMessage {
          id
          content
          sender {
            firstName
          }
          createdAt
        }
        unreadCount
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}`;
const BODY = JSON.stringify({ operationName: "GetConversations", query: GET_CONVERSATIONS, variables: {} });

const fmt = (n: number | null | undefined, d = 0) =>
  n === null || n === undefined || Number.isNaN(n) ? "—" : n.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });

interface Row extends LoadResult {
  name: string;
  connections: number;
  serverCpuPct: number;
  /** CPU other processes used meanwhile (not the server, not the load generator), % of one core. */
  otherCpuPct: number;
  /** Server CPU per answered request: the cost of one, less disturbed by a busy machine than latency. */
  serverCpuMsPerRequest: number;
}

async function login(url: string, id: number, password: string): Promise<string> {
  const r = await fetch(`${url}/api/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: emailOf(id), password }),
  });
  if (r.status !== 200) throw new Error(`login of user ${id}: ${r.status} ${await r.text()}`);
  return ((await r.json()) as { access_token: string }).access_token;
}

/** One request by hand before loading: the run must measure full answers, not a fast error. */
async function check(url: string, r: Req, validate: (body: any) => string | null) {
  const res = await fetch(url + r.path, {
    method: r.method,
    headers: { authorization: `Bearer ${r.token}`, ...(r.body ? { "content-type": "application/json" } : {}) },
    body: r.body,
  });
  const body = await res.json().catch(() => null);
  const problem = res.status !== 200 ? `status ${res.status}` : validate(body);
  if (problem) throw new Error(`sanity check ${r.method} ${r.path}: ${problem}: ${JSON.stringify(body).slice(0, 400)}`);
}

function validGraphQL(body: any): string | null {
  if (body?.errors) return "GraphQL errors";
  const edges = body?.data?.conversations?.edges;
  if (!Array.isArray(edges) || edges.length !== 20) return `expected 20 edges, got ${edges?.length}`;
  if (!edges.every((e: any) => e.node.participants.length >= 2 && e.node.lastMessage?.sender?.firstName)) return "incomplete nodes";
  return null;
}

async function measure(server: Server, name: string, reqs: Req[], c: number, tool: "wrk" | "autocannon", dir: string): Promise<Row> {
  const load = { url: server.url, reqs, connections: c, cpu: opt["load-cpu"]!, tool, dir };
  if (warmup > 0) await runLoad({ ...load, seconds: warmup });
  const cpu0 = cpuSeconds(server.proc.pid);
  const busy0 = machineBusySeconds();
  const r = await runLoad({ ...load, seconds });
  const cpu = cpuSeconds(server.proc.pid) - cpu0;
  const other = machineBusySeconds() - busy0 - cpu - r.loadCpuSeconds;
  const row = {
    name,
    connections: c,
    ...r,
    serverCpuPct: (cpu / r.seconds) * 100,
    otherCpuPct: Math.max(0, (other / r.seconds) * 100),
    serverCpuMsPerRequest: r.requests ? (cpu * 1000) / r.requests : 0,
  };
  log(`  ${name}, ${c} conn: ${fmt(row.rps)} req/s, p50 ${fmt(row.p50Ms, 2)} ms, p99 ${fmt(row.p99Ms, 2)} ms (other processes: ${fmt(row.otherCpuPct)}% CPU)`);
  return row;
}

async function main() {
  const tool: "wrk" | "autocannon" = opt.tool === "autocannon" ? "autocannon" : ensureWrk(log) ? "wrk" : "autocannon";
  const params = { messages: Number(opt.messages), conversations: 2_000, users: 500, heavyConversations: 200 };
  const seed = await seededDatabase(params, log);
  ensureBinary(opt.rebuild!, log);

  const dataDir = mkdtempSync(join(tmpdir(), "confab-bench-graphql-"));
  copyFileSync(seed.path, join(dataDir, SEED_DB_FILE));
  const cpu = hasTaskset ? opt["server-cpu"]! : null;
  if (!hasTaskset) log("note: taskset is missing; server and load generator are not pinned");
  const server = await startServer({ dataDir, cpu });
  const rows: Row[] = [];
  let memory = { rssMb: 0, peakRssMb: 0 };
  try {
    const heavy = seed.meta.heavyUser.id;
    const heavyToken = await login(server.url, heavy, seed.meta.password);
    // Users spread over the id range (each in some conversations), logged in a few at a time.
    const spreadIds = Array.from({ length: SPREAD_USERS }, (_, k) => 2 + Math.floor((k * (params.users - 2)) / SPREAD_USERS));
    const spreadTokens: string[] = [];
    for (let i = 0; i < spreadIds.length; i += 4) spreadTokens.push(...(await Promise.all(spreadIds.slice(i, i + 4).map((id) => login(server.url, id, seed.meta.password)))));

    const gqlReq = (token: string): Req => ({ method: "POST", path: "/graphql", token, body: BODY });
    const heavyReqs = [gqlReq(heavyToken)];
    await check(server.url, heavyReqs[0]!, validGraphQL);
    const spreadReqs = spreadTokens.map(gqlReq);
    for (const r of spreadReqs.slice(0, 4)) await check(server.url, r, (b) => (b?.errors ? "GraphQL errors" : null));
    const restReqs: Req[] = [{ method: "GET", path: "/api/v1/conversations?limit=20", token: heavyToken }];
    await check(server.url, restReqs[0]!, (b) => (b?.conversations?.length === 20 ? null : "expected 20 conversations"));

    log(`load: ${tool}, ${warmup} s warm-up + ${seconds} s per run; server on cpu ${cpu ?? "any"}, load on cpu ${opt["load-cpu"]}`);
    for (const c of connectionCounts) rows.push(await measure(server, "graphql heavy", heavyReqs, c, tool, dataDir));
    for (const c of connectionCounts) rows.push(await measure(server, "graphql spread", spreadReqs, c, tool, dataDir));
    if (!opt["no-rest"]) for (const c of connectionCounts) rows.push(await measure(server, "rest heavy", restReqs, c, tool, dataDir));
    memory = rss(server.proc.pid);
  } finally {
    await stopServer(server);
    rmSync(dataDir, { recursive: true, force: true });
  }

  if (opt.json) {
    console.log(JSON.stringify({ seed: { params, messages: seed.meta.params.messages, heavyUser: seed.meta.heavyUser }, tool, rows, memory }, null, 2));
    return;
  }
  console.log(
    `\nGetConversations (first: 20) over POST /graphql — ${fmt(seed.meta.params.messages)} messages, ${fmt(params.conversations)} conversations, ` +
      `${fmt(params.users)} users; heavy user in ${seed.meta.heavyUser.conversations} conversations; ${tool}, ${seconds} s runs` +
      (opt.nice !== undefined ? `, niceness ${opt.nice}` : "") +
      "\n",
  );
  const table = [
    ["scenario", "conn", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "server CPU", "CPU ms/req", "other CPU", "errors"],
    ...rows.map((r) => [
      r.name,
      String(r.connections),
      fmt(r.rps),
      fmt(r.p50Ms, 2),
      fmt(r.p90Ms, 2),
      fmt(r.p99Ms, 2),
      fmt(r.maxMs, 1),
      `${fmt(r.serverCpuPct)}%`,
      fmt(r.serverCpuMsPerRequest, 2),
      `${fmt(r.otherCpuPct)}%`,
      String(r.socketErrors + r.badStatus),
    ]),
  ];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  for (const row of table) console.log(row.map((cell, i) => (i < 1 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  "));
  console.log(`\nserver RSS at the end: ${fmt(memory.rssMb)} MiB (peak ${fmt(memory.peakRssMb)} MiB). Target: p99 < 15 ms.`);
  const graphqlRows = rows.filter((r) => r.name.startsWith("graphql"));
  const worst = Math.max(...graphqlRows.map((r) => r.p99Ms));
  console.log(`worst GraphQL p99: ${fmt(worst, 2)} ms — ${worst < 15 ? "within" : "over"} the target`);
}

await main();

/**
 * Push benchmark (issue #7): the real server as a child process, pushing through its outbox
 * worker to a local Web Push service over HTTPS (test/fakes/webpush.ts: certificate from a
 * throw-away CA, trusted through CONFAB_PUSH_CA_FILE). Every push is decrypted (aes128gcm) after
 * the run to learn which message it carries.
 *
 *   npm run bench:push
 *   bun bench/push.ts --recipients 200 --groups 20 --rate 50 --duration 10
 *   bun bench/push.ts --binary dist/confab       # the compiled executable instead of the source
 *   bun bench/push.ts --cpu-prof /tmp/prof       # profile the server (markdown)
 *
 * Two phases, each bounded in count and time (the whole run stays under two minutes):
 *   burst   one message to each of G groups whose members are the same R offline recipients,
 *           each with one web device: G×R jobs committed at once. Figure: pushes/s through the
 *           worker (first send → last push arriving) and the commit → push delay under backlog.
 *   steady  messages to R direct conversations, round-robin, at a fixed rate for D seconds
 *           (one push each, well below capacity). Figure: delay from message commit to the push
 *           request arriving at the endpoint, p50/p99 — measured from the message's created_at
 *           (stamped in the committing transaction) and from the client receiving the 201.
 * Figures, not pass/fail. Loopback only.
 */
import { parseArgs } from "node:util";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { BUN, CLI, killAll, spawnServer, type ServerProcess } from "../test/process";
import { makeTestPki } from "../test/fakes/push-tls";
import { startFakeWebPush, type FakeSubscription, type PushRequest } from "../test/fakes/webpush";

const { values: opt } = parseArgs({
  options: {
    recipients: { type: "string", default: "200" },
    groups: { type: "string", default: "20" },
    rate: { type: "string", default: "50" }, // steady phase: messages per second
    duration: { type: "string", default: "10" }, // steady phase: seconds
    binary: { type: "string" },
    "cpu-prof": { type: "string" }, // a directory: profile the server (from source) as markdown
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (opt.help) {
  console.log((await Bun.file(import.meta.path).text()).split("*/")[0]);
  process.exit(0);
}

const RECIPIENTS = Math.min(1000, Math.max(1, Number(opt.recipients)));
const GROUPS = Math.min(100, Math.max(1, Number(opt.groups)));
const RATE = Math.min(500, Math.max(1, Number(opt.rate)));
const DURATION = Math.min(30, Math.max(1, Number(opt.duration)));
/** Hard bound on the whole run. */
const DEADLINE = Date.now() + 115_000;
const remaining = () => Math.max(0, DEADLINE - Date.now());

const dir = mkdtempSync(join(tmpdir(), "confab-bench-push-"));
const pki = makeTestPki(dir);
const fake = startFakeWebPush(pki, { verify: false }); // decrypt after the run, not on the hot path
let server: ServerProcess | null = null;

async function cleanup() {
  if (server) await server.stop().catch(() => {});
  killAll();
  fake.stop();
  rmSync(dir, { recursive: true, force: true });
}
process.on("SIGINT", () => void cleanup().then(() => process.exit(130)));

interface User {
  id: number;
  token: string;
}

async function api(method: string, path: string, body?: unknown, token?: string): Promise<any> {
  const res = await fetch(server!.url + path, {
    method,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : undefined;
}

/** Run `fn` over `items`, `limit` at a time. */
async function pool<T, R>(items: T[], limit: number, fn: (x: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

const tag = Date.now().toString(36);
async function register(i: number): Promise<User> {
  const r = await api("POST", "/api/v1/auth/register", {
    email: `b${tag}${i}@bench.test`,
    username: `b${tag}${i}`,
    password: `bench-password-${i}`,
    first_name: "Bench",
    last_name: `User${i}`,
  });
  return { id: r.user.user_id, token: r.access_token };
}

/** CPU time (user + system, ms) the server process used so far, from /proc (Linux). */
function serverCpuMs(): number {
  try {
    const fields = readFileSync(`/proc/${server!.proc.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in ticks of 1/100 s
  } catch {
    return NaN;
  }
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface Sent {
  createdAt: number;
  acked: number;
}

/** Wait (bounded) until `n` pushes arrived after index `from`. */
async function waitForPushes(from: number, n: number, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + Math.min(timeoutMs, remaining());
  while (fake.requests.length - from < n) {
    if (Date.now() > until) return false;
    await Bun.sleep(20);
  }
  return true;
}

/** Delays (ms) from commit and from the 201 to arrival, for the pushes in requests[from..]. */
function delays(from: number, sent: Map<string, Sent>) {
  const fromCommit: number[] = [];
  const fromAck: number[] = [];
  let unknown = 0;
  for (const r of fake.requests.slice(from)) {
    const p = fake.open(r as PushRequest);
    const s = sent.get(p.message_id);
    if (!s) {
      unknown++;
      continue;
    }
    fromCommit.push(r.at - s.createdAt);
    fromAck.push(r.at - s.acked);
  }
  fromCommit.sort((a, b) => a - b);
  fromAck.sort((a, b) => a - b);
  return {
    pushes: fromCommit.length,
    unknown,
    commitP50: percentile(fromCommit, 50),
    commitP99: percentile(fromCommit, 99),
    ackP50: percentile(fromAck, 50),
    ackP99: percentile(fromAck, 99),
  };
}

try {
  const prof = opt["cpu-prof"] ? ["--cpu-prof-md", `--cpu-prof-dir=${resolve(opt["cpu-prof"])}`, `--cpu-prof-name=confab-push-${Date.now()}.md`] : [];
  const cmd = opt.binary && !prof.length ? [resolve(opt.binary)] : [BUN, ...prof, CLI];
  server = await spawnServer([...cmd, "serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", join(dir, "data"), "--registration", "open"], {
    env: {
      CONFAB_PUSH_CA_FILE: pki.caFile,
      CONFAB_PUSH_ALLOW_PRIVATE_ENDPOINTS: "1",
      CONFAB_AUTH_RATE_LIMIT: "1000000",
      CONFAB_RATE_LIMIT: "100000000",
    },
  });

  // ------------------------------------------------------------ setup
  const t0 = performance.now();
  const sender = await register(0);
  const recipients = await pool(
    Array.from({ length: RECIPIENTS }, (_, i) => i + 1),
    8,
    register,
  );
  const subs: FakeSubscription[] = await pool(recipients, 16, async (u, i) => {
    const sub = fake.subscribe();
    await api("POST", "/api/v1/notifications/devices", { device_id: `browser-${i}`, platform: "web", device_token: sub.json }, u.token);
    return sub;
  });
  const groups: number[] = await pool(Array.from({ length: GROUPS }, (_, i) => i), 4, async (i) =>
    (await api("POST", "/api/v1/conversations", { conversation_type: "group", title: `bench ${i}`, participant_ids: recipients.map((u) => u.id) }, sender.token)).conversation_id,
  );
  const directs: number[] = await pool(recipients, 16, async (u) =>
    (await api("POST", "/api/v1/conversations", { conversation_type: "direct", participant_ids: [u.id] }, sender.token)).conversation_id,
  );
  const setupMs = performance.now() - t0;
  void subs;

  const sent = new Map<string, Sent>();
  const sendTo = async (cid: number, text: string) => {
    const m = await api("POST", `/api/v1/conversations/${cid}/messages`, { message_type: "text", content: text }, sender.token);
    sent.set(m.message_id, { createdAt: Date.parse(m.created_at), acked: Date.now() });
  };

  // ------------------------------------------------------------ burst
  const burstFrom = fake.requests.length;
  const burstExpected = GROUPS * RECIPIENTS;
  const burstStart = Date.now();
  const burstCpu0 = serverCpuMs();
  await pool(groups, 8, (cid, i) => sendTo(cid, `burst ${i}`));
  const burstSent = Date.now();
  const burstComplete = await waitForPushes(burstFrom, burstExpected, 60_000);
  const burstArrived = fake.requests.length - burstFrom;
  const burstLast = fake.requests[fake.requests.length - 1]?.at ?? Date.now();
  const burstCpuMs = serverCpuMs() - burstCpu0;
  const burstSeconds = (burstLast - burstStart) / 1000;
  const burst = {
    messages: GROUPS,
    expected: burstExpected,
    arrived: burstArrived,
    complete: burstComplete,
    sendSeconds: (burstSent - burstStart) / 1000,
    seconds: burstSeconds,
    pushesPerSecond: burstArrived / burstSeconds,
    /** Server CPU per push, everything included (sends, outbox writes, TLS, encryption). */
    serverCpuMsPerPush: burstCpuMs / burstArrived,
    serverCpuUtilisation: burstCpuMs / (burstSeconds * 1000),
    ...delays(burstFrom, sent),
  };

  // ------------------------------------------------------------ steady
  await Bun.sleep(500);
  const steadyFrom = fake.requests.length;
  const total = Math.min(RATE * DURATION, Math.floor((remaining() / 1000 - 15) * RATE));
  const interval = 1000 / RATE;
  const steadyStart = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = steadyStart + i * interval;
    const wait = due - performance.now();
    if (wait > 1) await Bun.sleep(wait);
    inflight.push(sendTo(directs[i % directs.length]!, `steady ${i}`));
  }
  await Promise.all(inflight);
  const steadyComplete = await waitForPushes(steadyFrom, total, 15_000);
  const steadySeconds = (performance.now() - steadyStart) / 1000;
  const steady = {
    messages: total,
    ratePerSecond: RATE,
    arrived: fake.requests.length - steadyFrom,
    complete: steadyComplete,
    seconds: steadySeconds,
    ...delays(steadyFrom, sent),
  };

  const refused = fake.requests.filter((r) => r.status !== 201).length;
  const result = { recipients: RECIPIENTS, groups: GROUPS, setupSeconds: setupMs / 1000, burst, steady, refused };
  if (opt.json) console.log(JSON.stringify(result));
  else {
    const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : "-");
    console.log(`push bench: ${RECIPIENTS} offline recipients with one web device each, local Web Push over HTTPS`);
    console.log(`setup ${f(result.setupSeconds)} s (users, devices, ${GROUPS} groups, ${RECIPIENTS} direct chats)`);
    console.log(
      `burst:  ${burst.messages} group messages → ${burst.arrived}/${burst.expected} pushes in ${f(burst.seconds, 2)} s = ${f(burst.pushesPerSecond, 0)} pushes/s` +
        ` | commit→push p50 ${f(burst.commitP50, 0)} ms, p99 ${f(burst.commitP99, 0)} ms (queueing behind the backlog)` +
        ` | server CPU ${f(burst.serverCpuMsPerPush, 2)} ms/push, ${f(burst.serverCpuUtilisation * 100, 0)}% of a core`,
    );
    console.log(
      `steady: ${steady.messages} messages at ${RATE}/s → ${steady.arrived} pushes | commit→push p50 ${f(steady.commitP50, 0)} ms, p99 ${f(steady.commitP99, 0)} ms` +
        ` | 201→push p50 ${f(steady.ackP50, 0)} ms, p99 ${f(steady.ackP99, 0)} ms`,
    );
    if (refused || !burst.complete || !steady.complete) console.log(`warning: ${refused} pushes refused, burst complete ${burst.complete}, steady complete ${steady.complete}`);
  }
} finally {
  await cleanup();
}

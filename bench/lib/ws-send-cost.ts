/**
 * What one send_message costs the server, without sockets: the project's own core (openCore,
 * the batched writer, MessageService.send, the journal, the WebSocket fanout's rendering) in
 * this process on a temp data dir, sends queued 512 at a time as a busy server queues them.
 *
 *   bun bench/lib/ws-send-cost.ts                 # 1:1 pairs and a 50-member group
 *   bun bench/lib/ws-send-cost.ts --messages 50000 --cpu 0
 *
 * Prints CPU µs per message (getrusage, so time lost to other processes is not counted) for the
 * code as it is and for variants that switch one part off (the FTS trigger, the journal insert,
 * the savepoint per job, reading the participants, fsync…), and where the time goes
 * inside one send (statement by statement, wall time of this process). Variants are measured
 * interleaved, best of --rounds: on a shared machine, read differences under ~10 µs as noise.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { spawn } from "bun";
import { defaultConfig } from "../../src/config";
import { openCore, type Core } from "../../src/app";
import { Logger } from "../../src/lib/log";
import { UserStore } from "../../src/users/store";
import { ConnectionRegistry } from "../../src/realtime/connection";
import { startFanout } from "../../src/realtime/fanout";

const { values: opt } = parseArgs({
  options: {
    messages: { type: "string", default: "30000" },
    batch: { type: "string", default: "512" },
    rounds: { type: "string", default: "3" },
    /** Only the code as shipped, and only the first shape (quick look at --batch sizes). */
    quick: { type: "boolean", default: false },
    /** Only shapes / variants whose name contains this text. */
    shape: { type: "string" },
    variant: { type: "string" },
    cpu: { type: "string" },
  },
});

// Pin to one core when asked (re-exec under taskset), so figures compare with the server's.
if (opt.cpu !== undefined && !process.env.CONFAB_SENDCOST_PINNED) {
  const args = process.argv.slice(2).filter((a, i, all) => a !== "--cpu" && all[i - 1] !== "--cpu");
  const p = spawn(["nice", "-n", process.env.CONFAB_SENDCOST_NICE ?? "0", "taskset", "-c", opt.cpu, process.execPath, import.meta.path, ...args], {
    env: { ...process.env, CONFAB_SENDCOST_PINNED: "1" },
    stdio: ["inherit", "inherit", "inherit"],
  });
  process.exit(await p.exited);
}

const MESSAGES = Number(opt.messages);
const BATCH = Number(opt.batch);
const ROUNDS = Number(opt.rounds);
const fmt = (n: number, d = 1) => n.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });

type Variant = { name: string; setUp?: (core: Core) => void };

const VARIANTS: Variant[] = [
  { name: "as shipped" },
  {
    name: "no journal row (JSON still built)",
    setUp: (c) => {
      let id = 1e9;
      (c.journal as any).store.insertEvent = () => ++id;
    },
  },
  {
    name: "no savepoint per job",
    setUp: (c) => {
      const none = { run() {} };
      Object.assign(c.writer as any, { savepoint: none, release: none });
    },
  },
  {
    name: "no sender read_seq update",
    setUp: (c) => {
      (c.messages as any).conversationStore.markRead = () => true;
    },
  },
  {
    name: "no conversation activity update",
    setUp: (c) => {
      (c.messages as any).conversationStore.recordMessage = () => {};
    },
  },
  { name: "no messages_sender index", setUp: (c) => c.db.exec("DROP INDEX messages_sender") },
  {
    name: "no WAL fsync (the thread pool's work)",
    setUp: (c) => {
      (c.writer as any).walPath = null;
    },
  },
];

interface Shape {
  name: string;
  /** Whether the other participants count as connected (no push notification is queued for them). */
  online: boolean;
  /** Only the code as shipped, no variants. */
  baseOnly?: boolean;
  /** Conversations and, for each send, who sends where. */
  build(core: Core, users: number[]): Promise<{ conversation: number; sender: number }[]>;
}

async function pairs(core: Core, users: number[]) {
  const out = [];
  for (let i = 0; i < 100; i++) {
    const { conversation } = await core.conversations.create(users[2 * i]!, { conversation_type: "direct", participant_ids: [users[2 * i + 1]!] });
    out.push({ conversation: conversation.conversation_id, sender: users[2 * i]! });
  }
  return out;
}

async function group(core: Core, users: number[]) {
  const { conversation } = await core.conversations.create(users[0]!, { conversation_type: "group", participant_ids: users.slice(1, 50), title: "bench" });
  return users.slice(0, 5).map((sender) => ({ conversation: conversation.conversation_id, sender }));
}

const SHAPES: Shape[] = [
  { name: "1:1, 100 pairs, recipients connected", online: true, build: pairs },
  { name: "group of 50, 5 senders, everyone connected", online: true, build: group },
  // Nobody connected and nobody has a push device: what the push enqueue costs per recipient.
  { name: "group of 50, 5 senders, the 49 others offline (no push devices)", online: false, baseOnly: true, build: group },
];

async function boot(): Promise<{ core: Core; dir: string; users: number[] }> {
  const dir = mkdtempSync(join(tmpdir(), "confab-sendcost-"));
  const core = await openCore(defaultConfig({ dataDir: dir, logLevel: "error" }), new Logger("error"));
  const store = new UserStore(core.db);
  const users: number[] = [];
  core.db.transaction(() => {
    for (let i = 0; i < 200; i++)
      users.push(store.insertUser({ email: `c${i}@bench.example`, username: `c${i}`, firstName: "C", lastName: `${i}`, passwordHash: "x", role: "user" }));
  })();
  return { core, dir, users };
}

/** Render each message.created event as the WebSocket fanout does (the publish itself is a no-op). */
async function attachFanout(core: Core) {
  let bytes = 0;
  startFanout(core.bus, new ConnectionRegistry(), (_topic, data) => void (bytes += data.length));
  return () => bytes;
}

async function sendAll(core: Core, plan: { conversation: number; sender: number }[], n: number, perMessage?: () => void) {
  let seq = 0;
  for (let done = 0; done < n; done += BATCH) {
    const batch: Promise<unknown>[] = [];
    for (let i = 0; i < Math.min(BATCH, n - done); i++) {
      const p = plan[seq % plan.length]!;
      seq++;
      perMessage?.();
      batch.push(core.messages.send(p.sender, p.conversation, { message_type: "text", content: `bench ${p.sender} ${seq} 12345.678 hello there, this is a benchmark message of ordinary length`, client_message_id: `${p.sender}-${seq}` }));
    }
    await Promise.all(batch);
  }
}

async function measureVariant(shape: Shape, v: Variant) {
  const { core, dir, users } = await boot();
  core.push.setConnectionProbe(() => shape.online);
  try {
    const plan = await shape.build(core, users);
    await attachFanout(core);
    v.setUp?.(core);
    await sendAll(core, plan, 2 * BATCH); // warm the statements and the JIT
    Bun.gc(true);
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await sendAll(core, plan, MESSAGES);
    const wallUs = ((performance.now() - t0) * 1000) / MESSAGES;
    const c = process.cpuUsage(c0);
    return { cpuUs: (c.user + c.system) / MESSAGES, sysUs: c.system / MESSAGES, wallUs };
  } finally {
    core.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Wall time inside each statement and step of a send, as shipped. */
async function breakdown(shape: Shape) {
  const { core, dir, users } = await boot();
  core.push.setConnectionProbe(() => shape.online);
  try {
    const plan = await shape.build(core, users);
    await attachFanout(core);
    const spent = new Map<string, number>();
    const wrap = (obj: any, key: string, label: string) => {
      const fn = obj?.[key];
      if (typeof fn !== "function") return; // not in this version of the code
      obj[key] = function (this: unknown, ...a: unknown[]) {
        const t = performance.now();
        try {
          return fn.apply(this, a);
        } finally {
          spent.set(label, (spent.get(label) ?? 0) + performance.now() - t);
        }
      };
    };
    const m = core.messages as any;
    const cs = m.conversationStore;
    wrap(m.conversations, "requireMember", "requireMember (2 SELECTs)");
    wrap(m.store, "selectByClientId", "selectByClientId (idempotency)");
    wrap(m.store, "insertMessage", "INSERT message + FTS trigger");
    wrap(cs.setLastMessageQ, "run", "UPDATE conversations.last_message_seq");
    wrap(cs, "markRead", "UPDATE participants.read_seq (sender)");
    wrap(cs, "selectParticipants", "SELECT participants");
    wrap((core.journal as any).store, "insertEvent", "INSERT events (journal)");
    wrap(core.journal, "emit", "journal.emit total (JSON + INSERT + in-transaction handlers)");
    wrap(core.push, "enqueueForMessage", "push.enqueueForMessage (in the transaction)");
    const w = core.writer as any;
    wrap(w.savepoint, "run", "SAVEPOINT");
    wrap(w.release, "run", "RELEASE");
    wrap(w.begin, "run", "BEGIN IMMEDIATE");
    wrap(w.commit, "run", "COMMIT (fsync)");
    wrap(core.bus, "publish", "after commit: bus.publish (render frame + publish)");
    let stringify = 0;
    const realStringify = JSON.stringify;
    await sendAll(core, plan, 2 * BATCH);
    spent.clear();
    (JSON as any).stringify = function (...a: unknown[]) {
      stringify++;
      return (realStringify as any).apply(JSON, a);
    };
    const t0 = performance.now();
    try {
      await sendAll(core, plan, MESSAGES);
    } finally {
      JSON.stringify = realStringify;
    }
    const totalUs = ((performance.now() - t0) * 1000) / MESSAGES;
    return { spent, totalUs, stringifyPerMessage: stringify / MESSAGES };
  } finally {
    core.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`confab send cost: ${fmt(MESSAGES, 0)} messages per variant, ${BATCH} per transaction, in-process (no sockets)`);
const shapes = opt.quick ? SHAPES.slice(0, 1) : SHAPES.filter((s) => !opt.shape || s.name.includes(opt.shape));
for (const shape of shapes) {
  console.log(`\n${shape.name} (best of ${ROUNDS} rounds, variants interleaved)`);
  const best = new Map<string, { cpuUs: number; sysUs: number; wallUs: number }>();
  const variants = shape.baseOnly || opt.quick ? VARIANTS.slice(0, 1) : VARIANTS.filter((v, i) => i === 0 || !opt.variant || v.name.includes(opt.variant));
  for (let round = 0; round < ROUNDS; round++) {
    for (const v of variants) {
      const r = await measureVariant(shape, v);
      const b = best.get(v.name);
      if (!b || r.cpuUs < b.cpuUs) best.set(v.name, r);
    }
  }
  const base = best.get("as shipped")!.cpuUs;
  for (const v of variants) {
    const r = best.get(v.name)!;
    const delta = v.name === "as shipped" ? "" : `  (${r.cpuUs - base >= 0 ? "+" : ""}${fmt(r.cpuUs - base)} µs)`;
    console.log(`  ${v.name.padEnd(42)} ${fmt(r.cpuUs).padStart(7)} µs CPU per message (sys ${fmt(r.sysUs)}), wall ${fmt(r.wallUs)} µs${delta} → ${fmt(1e6 / r.cpuUs, 0)} messages/s per core`);
  }
  if (opt.quick || opt.variant) continue;
  const b = await breakdown(shape);
  console.log(`  where the time goes (wall µs per message, as shipped; total ${fmt(b.totalUs)} µs, ${fmt(b.stringifyPerMessage, 2)} JSON.stringify calls per message):`);
  for (const [label, ms] of [...b.spent].sort((x, y) => y[1] - x[1])) console.log(`    ${fmt((ms * 1000) / MESSAGES, 2).padStart(7)}  ${label}`);
}

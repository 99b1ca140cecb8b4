/**
 * A seeded message store for benchmarks: users, direct and group conversations, and messages
 * with realistic text, written straight into SQLite through the project's own openDatabase,
 * runMigrations and stores (so triggers — the FTS index — fire as they do in the server), in
 * big transactions with synchronous=OFF. Denormalised fields are left consistent, as the
 * server would have left them: conversations.last_message_seq and updated_at, participants'
 * activity_at, read_seq and delivered_seq (a sender has read what they sent).
 *
 * The result is cached under the temp dir, keyed by a hash of the migrations (the schema), the
 * seed parameters and SEED_VERSION: a later run reuses it and copies it before using it.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../../src/db/open";
import { runMigrations } from "../../src/db/migrate";
import { migrations } from "../../migrations";
import { hashPassword } from "../../src/auth/passwords";
import { UserStore } from "../../src/users/store";
import { ConversationStore, directKey } from "../../src/conversations/store";
import { MessageStore } from "../../src/messages/store";
import { prng, sentence, vocabulary } from "./text";

/** Bump when the seeding itself changes in a way that changes the data. */
const SEED_VERSION = 2;
export const SEED_PASSWORD = "bench-password-1";
export const SEED_DB_FILE = "confab.db";

export interface SeedParams {
  messages: number;
  conversations: number;
  users: number;
  /** Conversations user 1 (the "heavy" user: conversation list and search) is in. */
  heavyConversations: number;
}

export interface WordStat {
  word: string;
  /** Messages containing the word, anywhere. */
  messages: number;
  /** Of those, messages in the heavy user's conversations (what their search ranks). */
  heavyUserMessages: number;
}

export interface SeedMeta {
  key: string;
  params: SeedParams;
  migrations: string[];
  seedSeconds: number;
  password: string;
  emailOf: string; // pattern: replace {id}
  heavyUser: { id: number; conversations: number; unreadConversations: number };
  typicalUser: { id: number; conversations: number };
  bigConversation: { id: number; messages: number; memberId: number };
  words: { common: WordStat; rare: WordStat };
  directConversations: number;
  groupConversations: number;
  tombstones: number;
  reactions: number;
  dbBytes: number;
  walBytes: number;
}

export const emailOf = (id: number) => `user${id}@bench.example`;

export function seedKey(p: SeedParams): string {
  const h = createHash("sha256");
  h.update(JSON.stringify({ SEED_VERSION, p, m: migrations.map((m) => [m.name, m.sql]) }));
  return h.digest("hex").slice(0, 16);
}

/** The cached seeded database for `p` (seeding it first when missing). */
export async function seededDatabase(p: SeedParams, log: (s: string) => void): Promise<{ dir: string; path: string; meta: SeedMeta }> {
  const key = seedKey(p);
  const dir = join(tmpdir(), "confab-bench-messages", key);
  const metaPath = join(dir, "seed.json");
  if (existsSync(metaPath) && existsSync(join(dir, SEED_DB_FILE))) {
    return { dir, path: join(dir, SEED_DB_FILE), meta: JSON.parse(readFileSync(metaPath, "utf8")) };
  }
  pruneOtherSeeds(key);
  const building = `${dir}.building-${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  mkdirSync(building, { recursive: true, mode: 0o700 });
  log(`seeding ${p.messages.toLocaleString("en-US")} messages into ${dir} (once per schema version)…`);
  const meta = await seed(join(building, SEED_DB_FILE), p, key, log);
  writeFileSync(join(building, "seed.json"), JSON.stringify(meta, null, 2));
  rmSync(dir, { recursive: true, force: true });
  renameSync(building, dir);
  return { dir, path: join(dir, SEED_DB_FILE), meta };
}

/** Seeds of other schema versions (and abandoned builds) are hundreds of MiB each: remove them. */
function pruneOtherSeeds(key: string) {
  const root = join(tmpdir(), "confab-bench-messages");
  if (!existsSync(root)) return;
  for (const name of readdirSync(root)) {
    if (name === key) continue;
    const pid = /\.building-(\d+)$/.exec(name)?.[1];
    if (pid && pidAlive(Number(pid))) continue; // another run is seeding right now
    rmSync(join(root, name), { recursive: true, force: true });
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function seed(path: string, p: SeedParams, key: string, log: (s: string) => void): Promise<SeedMeta> {
  const t0 = performance.now();
  const rnd = prng(42);
  const int = (n: number) => Math.floor(rnd() * n);
  const db = openDatabase(path);
  // Seeding only: no fsync, a large cache. The server reopens the file with its own pragmas.
  db.exec("PRAGMA synchronous = OFF");
  db.exec("PRAGMA cache_size = -1048576");
  db.exec("PRAGMA wal_autocheckpoint = 100000");
  const applied = runMigrations(db, migrations);
  const users = new UserStore(db);
  const convs = new ConversationStore(db);
  const msgs = new MessageStore(db);

  const DAY = 86_400_000;
  const end = Date.now() - DAY;
  const start = end - 365 * DAY; // messages span the last year
  const convStart = start - 30 * DAY; // conversations were created the month before

  // ------------------------------------------------------------ users
  const hash = await hashPassword(SEED_PASSWORD);
  db.transaction(() => {
    for (let i = 1; i <= p.users; i++) {
      const id = users.insertUser(
        { email: emailOf(i), username: `user${i}`, firstName: `First${i}`, lastName: `Last${i}`, passwordHash: hash, role: i === 1 ? "admin" : "user" },
        convStart - DAY,
      );
      if (id !== i) throw new Error(`expected user id ${i}, got ${id} (is the seed database empty?)`);
    }
  })();

  // ------------------------------------------------------------ conversations
  // 70% direct, 30% groups of 3–30 (most small). User 1 is in `heavyConversations` of them.
  const members: number[][] = [[]]; // by conversation id (1-based)
  const created: number[] = [0];
  const pairs = new Set<string>();
  const heavyDirect = Math.round(p.heavyConversations * 0.6);
  const heavyGroup = p.heavyConversations - heavyDirect;
  const groupCount = Math.round(p.conversations * 0.3);
  const directCount = p.conversations - groupCount;
  const plan: { type: "direct" | "group"; users: number[] }[] = [];
  for (let i = 0; i < heavyDirect; i++) plan.push({ type: "direct", users: [1, 2 + (i % (p.users - 1))] });
  while (plan.length < directCount) {
    const a = 2 + int(p.users - 1);
    const b = 2 + int(p.users - 1);
    if (a === b || pairs.has(directKey(a, b))) continue;
    pairs.add(directKey(a, b));
    plan.push({ type: "direct", users: [a, b] });
  }
  for (let g = 0; g < groupCount; g++) {
    const size = 3 + Math.floor(27 * rnd() ** 3);
    const set = new Set<number>(g < heavyGroup ? [1] : []);
    while (set.size < size) set.add(2 + int(p.users - 1));
    plan.push({ type: "group", users: [...set] });
  }
  // Shuffle so ids do not reveal the kind or the heavy user's conversations.
  for (let i = plan.length - 1; i > 0; i--) {
    const j = int(i + 1);
    [plan[i], plan[j]] = [plan[j]!, plan[i]!];
  }
  db.transaction(() => {
    for (const c of plan) {
      const at = convStart + int(30 * DAY);
      const creator = c.users[0]!;
      const id = convs.insertConversation(
        {
          type: c.type,
          title: c.type === "group" ? `Group ${members.length}` : null,
          description: null,
          createdBy: creator,
          directKey: c.type === "direct" ? directKey(c.users[0]!, c.users[1]!) : null,
        },
        at,
      );
      if (id !== members.length) throw new Error("unexpected conversation id");
      c.users.forEach((u, k) => convs.insertParticipant(id, u, c.type === "group" && k === 0 ? "admin" : "member", 0, at));
      members.push(c.users);
      created.push(at);
    }
  })();

  // ------------------------------------------------------------ messages
  // Conversation sizes follow a Zipf-like law over a random ranking: a few conversations hold
  // thousands of messages, the smallest a handful. Messages interleave across conversations in
  // time order, as they would arrive: seq order is time order.
  const n = p.conversations;
  const rank = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = int(i + 1);
    [rank[i], rank[j]] = [rank[j]!, rank[i]!];
  }
  const cumulative = new Float64Array(n);
  let sum = 0;
  for (let c = 0; c < n; c++) cumulative[c] = sum += 1 / (rank[c]! + 10);
  const drawConversation = () => {
    const x = rnd() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo + 1; // conversation id
  };
  const vocab = vocabulary(200_000); // a long tail: most invented words occur a handful of times
  const seqsOf: number[][] = Array.from({ length: n + 1 }, () => []);
  const sendersOf: number[][] = Array.from({ length: n + 1 }, () => []);
  const lastAt = new Float64Array(n + 1);
  const step = (end - start) / p.messages;
  const CHUNK = 50_000;
  let tombstones = 0;
  let reactions = 0;
  const EMOJI = ["👍", "❤️", "😂", "🎉", "👀"];
  for (let from = 0; from < p.messages; from += CHUNK) {
    db.transaction(() => {
      for (let i = from; i < Math.min(p.messages, from + CHUNK); i++) {
        const cid = drawConversation();
        const ms = members[cid]!;
        const sender = ms[int(ms.length)]!;
        const now = Math.max(Math.floor(start + i * step), created[cid]! + 1);
        const row = msgs.insertMessage({
          id: Bun.randomUUIDv7("hex", now),
          conversationId: cid,
          senderId: sender,
          type: "text",
          content: sentence(vocab, rnd),
          replyTo: null,
          clientMessageId: null,
          now,
        });
        seqsOf[cid]!.push(row.seq);
        sendersOf[cid]!.push(sender);
        lastAt[cid] = now;
        const r = rnd();
        if (r < 0.003) {
          msgs.tombstone(row.seq, now + 60_000); // deleted by its author a minute later
          tombstones++;
        } else if (r < 0.05) {
          const k = 1 + int(Math.min(3, ms.length));
          for (let j = 0; j < k; j++) if (msgs.insertReaction(row.seq, EMOJI[int(EMOJI.length)]!, ms[int(ms.length)]!, now + 1000)) reactions++;
        }
      }
    })();
    if ((from / CHUNK) % 4 === 3) log(`  ${(from + CHUNK).toLocaleString("en-US")} messages, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }

  // ------------------------------------------------------------ denormalised state
  // What the send path keeps up to date: last message and activity per conversation; read and
  // delivered watermarks per participant (most are read up; some have unread, a few many).
  let heavyUnread = 0;
  db.transaction(() => {
    for (let cid = 1; cid <= n; cid++) {
      const seqs = seqsOf[cid]!;
      if (!seqs.length) continue;
      convs.recordMessage(cid, seqs[seqs.length - 1]!, lastAt[cid]!);
      const ownLast = new Map<number, number>();
      sendersOf[cid]!.forEach((s, i) => ownLast.set(s, i));
      for (const u of members[cid]!) {
        const r = rnd();
        const unread = r < 0.7 ? 0 : r < 0.95 ? 1 + int(10) : 11 + int(200);
        const readIndex = Math.max(seqs.length - 1 - unread, ownLast.get(u) ?? -1);
        if (readIndex >= 0) convs.markRead(cid, u, seqs[readIndex]!);
        if (rnd() < 0.85) convs.markDelivered(cid, u, seqs[seqs.length - 1]!);
        if (u === 1 && readIndex < seqs.length - 1) heavyUnread++;
      }
    }
  })();

  // New messages reach the full-text index after the send (see migrations/0002): index them
  // all now, as a running server would shortly after they arrived.
  msgs.catchUpIndex(20_000);

  // ------------------------------------------------------------ what the benchmark needs to know
  let big = 1;
  for (let c = 1; c <= n; c++) if (seqsOf[c]!.length > seqsOf[big]!.length) big = c;
  const countOf = db.query<{ n: number }, [number]>("SELECT count(*) AS n FROM participants WHERE user_id = ?");
  // A typical user: the median number of conversations.
  const perUser = db.query<{ user_id: number; n: number }, []>("SELECT user_id, count(*) AS n FROM participants GROUP BY user_id ORDER BY n, user_id").all();
  const typical = perUser[Math.floor(perUser.length / 2)]!;

  db.exec("CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, messages_fts, 'row')");
  const df = db.query<{ doc: number }, [string]>("SELECT doc FROM temp.vocab WHERE term = ?");
  const heavyHits = db.query<{ n: number }, [string]>(
    `SELECT count(*) AS n FROM messages_fts f JOIN messages m ON m.seq = f.rowid
     WHERE messages_fts MATCH ? AND m.conversation_id IN (SELECT conversation_id FROM participants WHERE user_id = 1)`,
  );
  const stat = (word: string): WordStat => ({ word, messages: df.get(word)?.doc ?? 0, heavyUserMessages: heavyHits.get(`"${word}"`)!.n });
  // Common: a word people search for that is in a few percent of all messages.
  const common = stat("today");
  // Rare: an invented (long-tail) word in a handful of messages, at least one of them the heavy user's.
  const candidates = db
    .query<{ term: string }, []>("SELECT term FROM temp.vocab WHERE doc BETWEEN 3 AND 50 AND length(term) >= 7 ORDER BY doc, term LIMIT 5000")
    .all();
  let rare: WordStat | null = null;
  for (const { term } of candidates) {
    const s = stat(term);
    if (s.heavyUserMessages >= 1 && /^[a-z]+$/.test(term)) {
      rare = s;
      break;
    }
  }
  if (!rare) throw new Error("no rare word found in the heavy user's conversations");
  db.exec("DROP TABLE temp.vocab");

  const meta: SeedMeta = {
    key,
    params: p,
    migrations: applied,
    seedSeconds: 0,
    password: SEED_PASSWORD,
    emailOf: emailOf(0).replace("0", "{id}"),
    heavyUser: { id: 1, conversations: countOf.get(1)!.n, unreadConversations: heavyUnread },
    typicalUser: { id: typical.user_id, conversations: typical.n },
    bigConversation: { id: big, messages: seqsOf[big]!.length, memberId: members[big]![0]! },
    words: { common, rare },
    directConversations: directCount,
    groupConversations: groupCount,
    tombstones,
    reactions,
    dbBytes: 0,
    walBytes: 0,
  };
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  db.close();
  meta.dbBytes = statSync(path).size;
  meta.walBytes = existsSync(path + "-wal") ? statSync(path + "-wal").size : 0;
  meta.seedSeconds = Math.round((performance.now() - t0) / 100) / 10;
  log(`seeded in ${meta.seedSeconds} s: ${(meta.dbBytes / 1048576).toFixed(0)} MiB`);
  return meta;
}

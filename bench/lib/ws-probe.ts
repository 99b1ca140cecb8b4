/**
 * `confab serve` from the sources, plus what the shipped binary cannot tell: how the batched
 * writer groups sends. Used by bench/ws-load.ts with --source or --cpu-prof. Prints
 * `PROBE {"batches":..,"jobs":..,"maxBatch":..,"commitMs":..}` on stderr every second and on
 * SIGUSR2. Same flags as `confab serve` (--host, --port, --data-dir, --registration).
 *
 * With CONFAB_PROBE_NO_DB=1, MessageService.send writes nothing: it answers at once and
 * publishes message.created as a commit would, so what is left is the WebSocket layer's own cost
 * per message (frames, JSON, fanout, acks). Diagnostics only: nothing is durable then.
 *
 * With CONFAB_PROBE_WHAT_IF=1, the proposals of the WebSocket load report are approximated on
 * this throwaway database: no FTS trigger (as if indexing ran outside the send transaction),
 * participants cached per conversation (no membership changes happen during the benchmark),
 * no events_created index (as if the journal were pruned by id). Messages stay durable.
 */
import { parseArgs } from "node:util";
import { loadConfig } from "../../src/config";
import { startServer } from "../../src/app";

const { values } = parseArgs({
  options: { host: { type: "string" }, port: { type: "string" }, "data-dir": { type: "string" }, registration: { type: "string" } },
});
const config = loadConfig({ host: values.host, port: values.port, dataDir: values["data-dir"], registration: values.registration });
const server = await startServer(config);

// Time every batch on the event loop: the jobs (BEGIN … last job), the COMMIT statement itself
// (writing the WAL; its fsync runs on the thread pool, off the loop) and the rest (after-commit
// callbacks once the sync returned: publishing to sockets, resolving the callers). The writer
// counts batches, jobs and syncs itself.
type Stmt = { run: (...a: unknown[]) => unknown };
const writer = server.core.writer as unknown as {
  commitBatch(batch: unknown[]): void;
  settle(committed: unknown): void;
  stats: { batches: number; jobs: number; syncs: number };
  begin: Stmt;
  commit: Stmt;
};
const commitBatch = writer.commitBatch.bind(writer);
const settle = writer.settle.bind(writer);
const extra = { maxBatch: 0, commitMs: 0, jobsMs: 0, commitStmtMs: 0 };
let began = 0;
const wrap = (stmt: Stmt, before: () => void, after: () => void): Stmt => ({
  run: (...a: unknown[]) => {
    before();
    try {
      return stmt.run(...a);
    } finally {
      after();
    }
  },
});
let commitStart = 0;
writer.begin = wrap(writer.begin, () => (began = performance.now()), () => {});
writer.commit = wrap(
  writer.commit,
  () => {
    commitStart = performance.now();
    extra.jobsMs += commitStart - began;
  },
  () => (extra.commitStmtMs += performance.now() - commitStart),
);
writer.commitBatch = (batch: unknown[]) => {
  const t = performance.now();
  try {
    commitBatch(batch);
  } finally {
    extra.commitMs += performance.now() - t;
    if (batch.length > extra.maxBatch) extra.maxBatch = batch.length;
  }
};
writer.settle = (committed: unknown) => {
  const t = performance.now();
  try {
    settle(committed);
  } finally {
    extra.commitMs += performance.now() - t;
  }
};
if (process.env.CONFAB_PROBE_WHAT_IF === "1") {
  const { core } = server;
  core.db.exec("DROP TRIGGER IF EXISTS messages_fts_insert");
  core.db.exec("DROP INDEX IF EXISTS events_created");
  const cs = (core.messages as unknown as { conversationStore: { selectParticipants(id: number): unknown } }).conversationStore;
  const real = cs.selectParticipants.bind(cs);
  const cache = new Map<number, unknown>();
  cs.selectParticipants = (id: number) => {
    let v = cache.get(id);
    if (!v) cache.set(id, (v = real(id)));
    return v;
  };
}

if (process.env.CONFAB_PROBE_NO_DB === "1") {
  const { core } = server;
  let eventId = 1e9;
  const members = new Map<number, number[]>();
  core.messages.send = async (senderId, conversationId, input) => {
    let participantIds = members.get(conversationId);
    if (!participantIds) members.set(conversationId, (participantIds = core.conversations.participantIds(conversationId)));
    const now = new Date().toISOString();
    const message = {
      message_id: Bun.randomUUIDv7(),
      conversation_id: conversationId,
      sender_id: senderId,
      message_type: input.message_type,
      content: input.content ?? null,
      created_at: now,
      updated_at: now,
      delivery_status: "sent" as const,
      reactions: {},
      reply_to_message_id: input.reply_to_message_id ?? null,
      media_attachments: [],
      client_message_id: input.client_message_id ?? null,
      deleted: false,
      edited: false,
    };
    await new Promise((r) => setImmediate(r)); // as the writer would: the next turn of the loop
    core.bus.publish("message.created", { message, participantIds }, { eventId: ++eventId });
    return { message, created: true };
  };
}

const report = () => process.stderr.write(`PROBE ${JSON.stringify({ ...writer.stats, ...extra })}\n`);
setInterval(report, 1000).unref();
process.on("SIGUSR2", report);

process.stderr.write(`confab listening on ${server.url} (data in ${config.dataDir})\n`);
const stop = async () => {
  await server.stop();
  process.exit(0);
};
process.on("SIGTERM", () => void stop());
process.on("SIGINT", () => void stop());

/**
 * Connect rate of /v1/connect for sessions that never authenticated before against the same
 * sessions again. The first authentication of a session records its last-seen time and the
 * user's (AuthService.touch), each in its own autocommit transaction: with synchronous=FULL
 * that is two fsyncs on the event loop per fresh session. 400 users: 200 connect first (JIT
 * warm-up), then the 200 others (fresh sessions), then those 200 again.
 *
 *   bun bench/lib/ws-connect-touch.ts [--strace]   # --strace: count fsync calls per round (slow)
 */
import { spawn } from "bun";
import { cpuSeconds, ensureBinary, startServer } from "./ws-server";
import { Client, connectAll, newStats, registerUsers } from "./ws-clients";

const useStrace = process.argv.includes("--strace");
ensureBinary(false, (s) => console.error(s));
const server = await startServer({
  cpu: "0",
  source: false,
  env: { CONFAB_RATE_LIMIT: "1000000000", CONFAB_AUTH_RATE_LIMIT: "1000000", CONFAB_WS_FRAMES_PER_SECOND: "1000000" },
});
try {
  const users = await registerUsers(server.url, 400);
  const rounds: [string, typeof users][] = [
    ["warm-up (fresh sessions, cold JIT)", users.slice(0, 200)],
    ["fresh sessions", users.slice(200)],
    ["the same sessions again", users.slice(200)],
  ];
  const stats = newStats();
  for (const [name, group] of rounds) {
    const trace = useStrace ? spawn(["strace", "-f", "-c", "-e", "trace=fsync,fdatasync", "-p", String(server.pid)], { stdout: "ignore", stderr: "pipe" }) : null;
    if (trace) await Bun.sleep(500);
    const clients = group.map((u) => new Client(u, null, stats, new Int32Array(0)));
    const cpu0 = cpuSeconds(server.pid);
    const r = await connectAll(server.wsUrl, clients, 64);
    const cpuUs = ((cpuSeconds(server.pid) - cpu0) * 1e6) / clients.length;
    let syscalls = "";
    if (trace) {
      trace.kill("SIGINT");
      const out = await new Response(trace.stderr).text();
      const fsyncs = out.split("\n").find((l) => /\bfsync\b/.test(l))?.trim().split(/\s+/)[3] ?? "0";
      syscalls = `, ${fsyncs} fsync calls`;
    }
    console.log(`${name}: ${r.perSecond.toFixed(0)} connections/s, p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms, ~${cpuUs.toFixed(0)} µs server CPU each${syscalls}`);
    for (const c of clients) c.close();
    await Bun.sleep(1000);
  }
} finally {
  await server.stop();
}

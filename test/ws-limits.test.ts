/**
 * WebSocket limits (CONTRACT §8, ARCHITECTURE rule 6): frame size (1009), frame rate
 * (RATE_LIMITED, then 4008), slow readers (disconnected, never buffered without limit),
 * connections per user and in all, and shutdown closing every socket with 1001.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { defaultConfig } from "../src/config";
import { ok, startTestServer, type TestServer, type TestUser } from "./harness";
import { ClientPool, RawWs, WsClient, wsUrl } from "./ws-client";

const MAX_FRAME = 4096;
const FPS = 5; // bursts of 10
const SEND_BUFFER = 65_536;
const PER_USER = 2;
const MAX_CONNECTIONS = 6;

let s: TestServer;
const pool = new ClientPool();
let alice: TestUser;
let bob: TestUser;
let pair: number;

beforeAll(async () => {
  s = await startTestServer({
    registration: "open",
    ws: { ...defaultConfig().ws, maxFrameBytes: MAX_FRAME, framesPerSecond: FPS, sendBufferBytes: SEND_BUFFER, maxConnectionsPerUser: PER_USER, maxConnections: MAX_CONNECTIONS },
  });
  [alice, bob] = await Promise.all([s.register(), s.register()]);
  pair = ok(await s.post("/api/v1/conversations", alice.token, { conversation_type: "direct", participant_ids: [bob.user_id] }), 201).conversation_id;
});
afterAll(async () => {
  await pool.closeAll();
  await s?.stop();
});

/** Wait until the server's registry holds `n` connections (closes are processed asynchronously). */
async function registryDropsTo(n: number, timeoutMs = 3000) {
  const deadline = Date.now() + timeoutMs;
  while (s.server.realtime.registry.size > n) {
    if (Date.now() > deadline) throw new Error(`registry still holds ${s.server.realtime.registry.size} connections, expected ${n}`);
    await Bun.sleep(10);
  }
}

describe("frame size", () => {
  test("a frame up to ws.maxFrameBytes is fine; a larger one closes the socket with 1009", async () => {
    const c = await pool.as(s, alice);
    const fits = JSON.stringify({ type: "ping", request_id: "big", pad: "" });
    c.send(JSON.stringify({ type: "ping", request_id: "big", pad: "p".repeat(MAX_FRAME - fits.length) }));
    expect((await c.waitFor((f) => f.request_id === "big")).type).toBe("pong");
    c.send(JSON.stringify({ type: "ping", pad: "p".repeat(MAX_FRAME) }));
    expect((await c.waitClose()).code).toBe(1009);
    await registryDropsTo(0);
  });

  test("before auth too", async () => {
    const c = await pool.open(s);
    c.send(JSON.stringify({ type: "auth", token: "t".repeat(MAX_FRAME + 1) }));
    expect((await c.waitClose()).code).toBe(1009);
    await registryDropsTo(0);
  });
});

describe("frame rate", () => {
  test("a flood gets RATE_LIMITED error frames, then close 4008", async () => {
    const c = await pool.as(s, alice);
    await Bun.sleep(1000 / FPS); // the auth frame's token is back
    for (let i = 0; i < 60; i++) c.send({ type: "ping", request_id: `f${i}` });
    const closed = await c.waitClose();
    expect(closed.code).toBe(4008);
    const pongs = c.all((f) => f.type === "pong");
    const limited = c.all((f) => f.type === "error" && f.error.code === "RATE_LIMITED");
    // The burst passes, then each refused frame is told, until the client is cut off.
    expect(pongs.length).toBeGreaterThanOrEqual(2 * FPS - 1);
    expect(pongs.length).toBeLessThanOrEqual(2 * FPS + 1);
    expect(limited.length).toBeGreaterThanOrEqual(2 * FPS - 1);
    expect(limited.length).toBeLessThan(60 - pongs.length);
    expect(limited[0]!.request_id).toMatch(/^f\d+$/);
    expect(typeof limited[0]!.error.message).toBe("string");
    await registryDropsTo(0);
  });

  test("a client that slows down after RATE_LIMITED stays connected", async () => {
    const c = await pool.as(s, alice);
    await Bun.sleep(1000 / FPS);
    for (let i = 0; i < 2 * FPS + 3; i++) c.send({ type: "ping", request_id: `g${i}` });
    await c.waitFor((f) => f.type === "error" && f.error.code === "RATE_LIMITED");
    await c.until(() => c.all((f) => f.request_id === `g${2 * FPS + 2}`).length === 1);
    await Bun.sleep(1000); // FPS tokens come back
    for (let i = 0; i < 3; i++) expect((await c.request({ type: "ping" })).type).toBe("pong");
    expect(c.isOpen).toBe(true);
    await c.close();
    await registryDropsTo(0);
  });
});

describe("connection limits", () => {
  test("ws.maxConnectionsPerUser: one more is refused (auth_error RATE_LIMITED, close 1013); closing one makes room", async () => {
    const first = await pool.as(s, alice);
    const second = await pool.as(s, alice);
    const other = await pool.as(s, bob); // another user is not affected
    const third = await pool.open(s);
    const r = await third.request({ type: "auth", token: alice.token });
    expect(r.type).toBe("auth_error");
    expect(r.error.code).toBe("RATE_LIMITED");
    expect((await third.waitClose()).code).toBe(1013);
    expect(first.isOpen && second.isOpen && other.isOpen).toBe(true);
    await first.close();
    await registryDropsTo(2);
    const again = await pool.as(s, alice);
    expect(again.userId).toBe(alice.user_id);
    await Promise.all([second.close(), other.close(), again.close()]);
    await registryDropsTo(0);
  });

  test("ws.maxConnections: the server refuses sockets past it with 1013, authenticated or not", async () => {
    const open: WsClient[] = [];
    for (let i = 0; i < MAX_CONNECTIONS; i++) open.push(await pool.open(s));
    expect(s.server.realtime.registry.size).toBe(MAX_CONNECTIONS);
    const extra = pool.track(await WsClient.open(wsUrl(s)).catch(async () => null as never));
    const code = extra ? (await extra.waitClose()).code : 1013;
    expect(code).toBe(1013);
    expect(s.server.realtime.registry.size).toBe(MAX_CONNECTIONS);
    await open[0]!.close();
    await registryDropsTo(MAX_CONNECTIONS - 1);
    const room = await pool.as(s, bob);
    expect(room.isOpen).toBe(true);
    await Promise.all([...open, room].map((c) => c.close()));
    await registryDropsTo(0);
  });
});

describe("slow readers", () => {
  test("a reader that never reads is disconnected; its buffer stays bounded; everyone else carries on", async () => {
    const reg = s.server.realtime.registry;
    const raw = await RawWs.open(s.server.port);
    raw.sendText(JSON.stringify({ type: "auth", token: bob.token }));
    await raw.until(() => raw.received.includes("auth_success"), 3000, "auth_success");
    raw.pause();
    const healthy = await pool.as(s, alice); // a reader that keeps up, in the same conversation
    expect(reg.size).toBe(2);
    const slow = [...reg.ofUser(bob.user_id)][0]!;
    const rss0 = process.memoryUsage().rss;
    const content = "x".repeat(10_000); // a ~10 KB frame per message
    const send = () => s.server.core.messages.send(alice.user_id, pair, { message_type: "text", content });
    let maxBuffered = 0;
    const sample = () => {
      if (slow.socket.readyState === 1) maxBuffered = Math.max(maxBuffered, slow.socket.getBufferedAmount());
    };
    let sent = 0;
    // Fill the kernel's socket buffers quickly (a few MB on loopback) until the server buffers...
    for (let i = 0; i < 400 && reg.size === 2 && slow.socket.getBufferedAmount() === 0; i++) {
      await Promise.all(Array.from({ length: 5 }, send));
      sent += 5;
      sample();
    }
    // ...then drip, so the server's sweeper (not only Bun's hard limit) gets to see it.
    for (let i = 0; i < 100 && reg.size === 2; i++) {
      await send();
      sent++;
      sample();
      await Bun.sleep(50);
    }
    await registryDropsTo(1);
    expect([...reg.connections()].map((c) => c.userId)).toEqual([alice.user_id]);
    // Bounded: never more than Bun's hard limit (twice ws.sendBufferBytes) plus a burst of frames.
    expect(maxBuffered).toBeLessThanOrEqual(2 * SEND_BUFFER + 5 * 11_000);
    expect(process.memoryUsage().rss - rss0).toBeLessThan(256 * 1024 * 1024);

    // The server's close: 1013 from the sweeper when its close frame got through, else Bun's hard close.
    raw.resume();
    await raw.until(() => raw.closed, 5000, "the slow socket to close");
    const code = raw.closeCode();
    expect(code === null || code === 1013 || code === 1006).toBe(true);
    raw.destroy();

    // The reader that kept up got every message and is still connected.
    await healthy.until(() => healthy.all((f) => f.type === "new_message").length === sent, 10_000, `${sent} messages`);
    expect((await healthy.request({ type: "ping" })).type).toBe("pong");
    await healthy.close();
    await registryDropsTo(0);
  });
});

describe("shutdown", () => {
  test("stopping the server closes every socket with 1001", async () => {
    const other = await startTestServer({ registration: "open" });
    const [u1, u2] = await Promise.all([other.register(), other.register()]);
    const clients = [await pool.as(other, u1), await pool.as(other, u1), await pool.as(other, u2), await pool.open(other)];
    expect(other.server.realtime.registry.size).toBe(4);
    await other.stop();
    const codes = await Promise.all(clients.map((c) => c.waitClose().then((x) => x.code)));
    expect(codes).toEqual([1001, 1001, 1001, 1001]);
  });
});


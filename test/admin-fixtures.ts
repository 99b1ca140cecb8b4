/**
 * Accounts and sessions for the admin suites (API, UI): users are created through the real
 * service of an in-process server (the same call `confab user add` makes) and sign in over HTTP.
 *
 * @example
 *   const admin = await makeUser(s, { role: "admin" });
 *   const session = await login(s, admin, "laptop");
 *   await s.get("/api/v1/admin/stats", session.token);
 */
import { expect } from "bun:test";
import { uniq, type TestServer } from "./harness";

export interface Account {
  user_id: number;
  email: string;
  username: string;
  password: string;
  first_name: string;
  last_name: string;
}

export interface Session {
  token: string;
  refresh_token: string;
  session_id: string;
}

/** A new account, made directly through the server's user service (no registration needed). */
export async function makeUser(s: TestServer, o: { role?: "user" | "admin"; prefix?: string; first_name?: string; last_name?: string } = {}): Promise<Account> {
  const tag = `${o.prefix ?? "a"}${uniq()}`;
  const input = { email: `${tag}@example.test`, username: tag, password: `pw-${tag}-secret`, first_name: o.first_name ?? "Ada", last_name: o.last_name ?? "Admin" };
  const row = await s.server.core.users.createUser({ ...input, role: o.role ?? "user" });
  return { user_id: row.id, ...input };
}

/** Sign in over HTTP and learn the new session's id (from the caller's session list). */
export async function login(s: TestServer, a: { email: string; password: string }, deviceId = `dev-${uniq()}`): Promise<Session> {
  const r = await s.post("/api/v1/auth/login", null, { email: a.email, password: a.password, device_id: deviceId, device_type: "test", platform: "bun" });
  expect(r.status, r.text).toBe(200);
  const sessions = await s.get("/api/v1/auth/sessions", r.body.access_token);
  const current = sessions.body.sessions.find((x: { current: boolean }) => x.current);
  expect(current, sessions.text).toBeDefined();
  return { token: r.body.access_token, refresh_token: r.body.refresh_token, session_id: current.session_id };
}

/** Whether `token` still works: 200 on /users/me, or the 401 a dead token gets. */
export async function tokenStatus(s: TestServer, token: string): Promise<number> {
  return (await s.get("/api/v1/users/me", token)).status;
}

/** A conversation between `a` (its creator) and `others`, with `n` text messages sent by `a`. */
export async function conversationWith(s: TestServer, a: Session, others: number[], n: number, text = (i: number) => `message ${i}`) {
  const type = others.length === 1 ? "direct" : "group";
  const c = await s.post("/api/v1/conversations", a.token, { conversation_type: type, participant_ids: others, title: type === "group" ? `group ${uniq()}` : undefined });
  expect([200, 201], c.text).toContain(c.status);
  const id: number = c.body.conversation_id;
  const messageIds: string[] = [];
  for (let i = 0; i < n; i++) {
    const m = await s.post(`/api/v1/conversations/${id}/messages`, a.token, { message_type: "text", content: text(i) });
    expect(m.status, m.text).toBe(201);
    messageIds.push(m.body.message_id);
  }
  return { id, messageIds };
}

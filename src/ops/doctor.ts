/**
 * `confab doctor`: the checks an operator would do by hand before asking for help — data dir
 * permissions, database integrity and migrations, the port, the push providers' files.
 */
import { Database } from "bun:sqlite";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config";
import { DATABASE_FILE } from "../db/open";
import { appliedMigrations } from "../db/migrate";
import { migrations } from "../../migrations";
import { runningServerPid } from "./pidfile";

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export async function runChecks(config: Config): Promise<Check[]> {
  return [
    ...dataDirChecks(config.dataDir),
    ...databaseChecks(config.dataDir),
    await portCheck(config),
    ...providerChecks(config),
  ];
}

function dataDirChecks(dir: string): Check[] {
  if (!existsSync(dir)) return [{ name: "data dir", ok: false, detail: `${dir} does not exist (confab serve creates it)` }];
  const mode = statSync(dir).mode & 0o777;
  const checks: Check[] = [{ name: "data dir", ok: (mode & 0o077) === 0, detail: `${dir} mode ${mode.toString(8)}${mode & 0o077 ? " — others can read it: chmod 700" : ""}` }];
  const exposed = readdirSync(dir)
    .filter((n) => /\.(key|json|db)$|-wal$|-shm$/.test(n))
    .filter((n) => statSync(join(dir, n)).mode & 0o077);
  checks.push({ name: "secret files", ok: exposed.length === 0, detail: exposed.length ? `readable by others: ${exposed.join(", ")} (chmod 600)` : "owner-only" });
  return checks;
}

function databaseChecks(dir: string): Check[] {
  const path = join(dir, DATABASE_FILE);
  if (!existsSync(path)) return [{ name: "database", ok: false, detail: `${path} does not exist` }];
  let db: Database | null = null;
  try {
    db = new Database(path, { readonly: true });
    db.exec("PRAGMA busy_timeout = 5000");
    const integrity = db.query<{ quick_check: string }, []>("PRAGMA quick_check").get()?.quick_check ?? "no answer";
    const applied = appliedMigrations(db);
    const pending = migrations.filter((m) => !applied.includes(m.name)).map((m) => m.name);
    return [
      { name: "database integrity", ok: integrity === "ok", detail: integrity },
      { name: "migrations", ok: pending.length === 0, detail: pending.length ? `pending: ${pending.join(", ")} (confab migrate)` : `${applied.length} applied` },
    ];
  } catch (e) {
    return [{ name: "database", ok: false, detail: (e as Error).message }];
  } finally {
    db?.close();
  }
}

/** The port is fine if it is free, or if it is our own server on this data dir holding it. */
async function portCheck(config: Config): Promise<Check> {
  const pid = runningServerPid(config.dataDir);
  if (pid !== null) return { name: "port", ok: true, detail: `a confab server (pid ${pid}) runs on this data dir` };
  try {
    const probe = Bun.listen({ hostname: config.host, port: config.port, socket: { data() {} } });
    probe.stop(true);
    return { name: "port", ok: true, detail: `${config.host}:${config.port} is free` };
  } catch (e) {
    return { name: "port", ok: false, detail: `${config.host}:${config.port} cannot be used: ${(e as Error).message}` };
  }
}

function readable(path: string | null): string | null {
  if (!path) return null;
  try {
    readFileSync(path);
    return null;
  } catch (e) {
    return `${path}: ${(e as Error).message}`;
  }
}

function providerChecks(config: Config): Check[] {
  const p = config.push;
  const apnsOn = !!(p.apns.keyFile && p.apns.keyId && p.apns.teamId && p.apns.topic);
  const fcmProblem = p.fcm.serviceAccountFile ? (readable(p.fcm.serviceAccountFile) ?? serviceAccountProblem(p.fcm.serviceAccountFile)) : null;
  return [
    { name: "web push", ok: true, detail: `VAPID subject ${p.vapidSubject}` },
    apnsOn
      ? { name: "apns", ok: !readable(p.apns.keyFile), detail: readable(p.apns.keyFile) ?? `key ${p.apns.keyId}, topic ${p.apns.topic}, ${p.apns.url}` }
      : { name: "apns", ok: true, detail: "not configured (ios devices are kept, not sent to)" },
    p.fcm.serviceAccountFile
      ? { name: "fcm", ok: !fcmProblem, detail: fcmProblem ?? `service account ${p.fcm.serviceAccountFile}, ${p.fcm.url}` }
      : { name: "fcm", ok: true, detail: "not configured (android devices are kept, not sent to)" },
    ...(p.caFile ? [{ name: "push CA file", ok: !readable(p.caFile), detail: readable(p.caFile) ?? p.caFile }] : []),
  ];
}

function serviceAccountProblem(path: string): string | null {
  try {
    const a = JSON.parse(readFileSync(path, "utf8"));
    return a.project_id && a.client_email && a.private_key ? null : `${path} lacks project_id, client_email or private_key`;
  } catch {
    return `${path} is not JSON`;
  }
}

/**
 * Forward-only SQL migrations (STYLE habit 6): all pending ones are applied in one transaction
 * and recorded by name in `_migrations`, so none is ever applied twice.
 */
import type { Db } from "./open";
import { writeTransaction } from "./open";

export interface Migration {
  /** e.g. "0001_init" — the order is the order of the list. */
  name: string;
  sql: string;
}

/** Apply every migration not yet recorded. Returns the names applied now. */
export function runMigrations(db: Db, migrations: readonly Migration[]): string[] {
  db.exec(`CREATE TABLE IF NOT EXISTS _migrations (
    name TEXT PRIMARY KEY,
    applied_at INTEGER NOT NULL
  ) STRICT`);
  return writeTransaction(db, () => {
    const done = new Set(db.query<{ name: string }, []>("SELECT name FROM _migrations").all().map((r) => r.name));
    const applied: string[] = [];
    const record = db.query("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)");
    for (const m of migrations) {
      if (done.has(m.name)) continue;
      db.exec(m.sql);
      record.run(m.name, Date.now());
      applied.push(m.name);
    }
    return applied;
  });
}

/** Names of migrations recorded as applied, oldest first. */
export function appliedMigrations(db: Db): string[] {
  const exists = db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_migrations'").get();
  if (!exists) return [];
  return db.query<{ name: string }, []>("SELECT name FROM _migrations ORDER BY name").all().map((r) => r.name);
}

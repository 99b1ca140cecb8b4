/**
 * The migration runner on real SQLite files, and the schema the migrations produce, compared
 * with a committed snapshot (STYLE habit 6): a schema change shows up in review as a diff of
 * test/fixtures/schema.sql, and an edit to a shipped migration fails here.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { migrations } from "../../migrations";
import { openDatabase, type Db } from "./open";
import { appliedMigrations, runMigrations } from "./migrate";

const SNAPSHOT = resolve(import.meta.dir, "../../test/fixtures/schema.sql");
const HOW_TO_UPDATE = "UPDATE_SNAPSHOTS=1 bun test src/db/migrate.test.ts";

const dir = mkdtempSync(join(tmpdir(), "confab-migrate-"));
const open: Db[] = [];
afterAll(() => {
  for (const db of open) db.close();
  rmSync(dir, { recursive: true, force: true });
});

let files = 0;
function emptyDb(): Db {
  const db = openDatabase(join(dir, `db-${files++}.sqlite`));
  open.push(db);
  return db;
}

/** Every object the migrations created, in a stable order, as the SQL that makes it. */
function schemaOf(db: Db): string {
  const rows = db
    .query<{ sql: string }, []>(
      `SELECT sql FROM sqlite_master WHERE sql IS NOT NULL
       ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 WHEN 'view' THEN 2 ELSE 3 END, name`,
    )
    .all();
  const header = `-- The schema after every migration (sqlite_master), checked by src/db/migrate.test.ts.\n-- Regenerate after adding a migration on purpose: ${HOW_TO_UPDATE}\n`;
  return header + rows.map((r) => `\n${r.sql};\n`).join("");
}

describe("runMigrations", () => {
  test("applies each migration once on an empty database, nothing on the second run", () => {
    const db = emptyDb();
    const names = migrations.map((m) => m.name);
    expect(runMigrations(db, migrations)).toEqual(names);
    expect(runMigrations(db, migrations)).toEqual([]);
    expect(appliedMigrations(db)).toEqual(names);
    const counts = db.query<{ name: string; n: number }, []>("SELECT name, COUNT(*) AS n FROM _migrations GROUP BY name ORDER BY name").all();
    expect(counts).toEqual(names.map((name) => ({ name, n: 1 })));
  });

  test("applies only what is new when a migration is added", () => {
    const db = emptyDb();
    const [first, ...rest] = migrations;
    expect(runMigrations(db, [first!])).toEqual([first!.name]);
    expect(runMigrations(db, migrations)).toEqual(rest.map((m) => m.name));
  });

  test("a failing migration leaves nothing behind: the pending ones share one transaction", () => {
    const db = emptyDb();
    const broken = [
      { name: "0001_ok", sql: "CREATE TABLE a (x INTEGER) STRICT" },
      { name: "0002_broken", sql: "CREATE TABLE b (x INTEGER) STRICT; INSERT INTO nowhere VALUES (1)" },
    ];
    expect(() => runMigrations(db, broken)).toThrow(/nowhere/);
    expect(appliedMigrations(db)).toEqual([]);
    expect(db.query("SELECT name FROM sqlite_master WHERE name IN ('a', 'b')").all()).toEqual([]);
  });

  test("the schema matches test/fixtures/schema.sql", () => {
    const db = emptyDb();
    runMigrations(db, migrations);
    const actual = schemaOf(db);
    if (process.env.UPDATE_SNAPSHOTS === "1") writeFileSync(SNAPSHOT, actual);
    let expected: string;
    try {
      expected = readFileSync(SNAPSHOT, "utf8");
    } catch {
      throw new Error(`${SNAPSHOT} is missing; create it with: ${HOW_TO_UPDATE}`);
    }
    expect(actual, `The schema differs from ${SNAPSHOT}. If a migration changed it on purpose, run ${HOW_TO_UPDATE} and commit the snapshot; never edit a shipped migration.`).toBe(expected);
  });
});

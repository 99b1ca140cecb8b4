/**
 * A throwaway copy of the server's sources with knobs the real code does not have, for
 * measurements only (the checkout is never touched): `bun <copy>/cli/index.ts serve` runs it.
 *
 * Knobs (environment variables read by the copy):
 *   CONFAB_BENCH_SYNCHRONOUS   PRAGMA synchronous (FULL by default, as in src/db/open.ts)
 */
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "./load";

interface Patch {
  file: string;
  from: string;
  to: string;
}

const PATCHES: Patch[] = [
  {
    file: "src/db/open.ts",
    from: `db.exec("PRAGMA synchronous = FULL");`,
    to: 'db.exec(`PRAGMA synchronous = ${/^(OFF|NORMAL|FULL|EXTRA)$/.test(process.env.CONFAB_BENCH_SYNCHRONOUS ?? "") ? process.env.CONFAB_BENCH_SYNCHRONOUS : "FULL"}`);',
  },
];

/** Copy the checkout (less node_modules, dist, .git) to a temp dir and apply the knobs. */
export function makeVariant(): { root: string; dispose(): void } {
  const root = mkdtempSync(join(tmpdir(), "confab-bench-variant-"));
  for (const p of readdirSync(ROOT)) {
    if (p === "node_modules" || p === "dist" || p === ".git") continue;
    cpSync(join(ROOT, p), join(root, p), { recursive: true });
  }
  symlinkSync(join(ROOT, "node_modules"), join(root, "node_modules"));
  for (const patch of PATCHES) {
    const path = join(root, patch.file);
    const text = readFileSync(path, "utf8");
    if (!text.includes(patch.from)) throw new Error(`variant: ${patch.file} no longer contains ${patch.from}`);
    writeFileSync(path, text.replace(patch.from, patch.to));
  }
  return { root, dispose: () => rmSync(root, { recursive: true, force: true }) };
}

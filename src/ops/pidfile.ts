/**
 * `<data-dir>/confab.pid` while a server runs, so `confab restore` can refuse to pull the
 * database out from under it. A file left by a killed server names a dead process: ignored.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const PID_FILE = "confab.pid";

export function writePidFile(dataDir: string) {
  writeFileSync(join(dataDir, PID_FILE), `${process.pid}\n`, { mode: 0o600 });
}

export function removePidFile(dataDir: string) {
  const p = join(dataDir, PID_FILE);
  if (existsSync(p) && readFileSync(p, "utf8").trim() === String(process.pid)) rmSync(p, { force: true });
}

/** The pid of a live server on this data dir, or null. */
export function runningServerPid(dataDir: string): number | null {
  const p = join(dataDir, PID_FILE);
  if (!existsSync(p)) return null;
  const pid = Number(readFileSync(p, "utf8").trim());
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0); // signal 0: only asks whether the process exists
    return pid;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM" ? pid : null;
  }
}

/**
 * `--head` for benchmarks: export HEAD to $TMPDIR/<name>/<commit> and run that copy's own
 * benchmark there (its dist/confab, migrations and stores) — figures of a commit, not of a work
 * tree in the middle of someone's edit. Exits the process with the copy's exit code.
 */
import { spawnSync } from "bun";
import { existsSync, mkdirSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export async function runAtHead(root: string, script: string, name: string, log: (s: string) => void): Promise<never> {
  const commit = spawnSync(["git", "-C", root, "rev-parse", "HEAD"], { stdout: "pipe", stderr: "pipe" }).stdout.toString().trim();
  if (!/^[0-9a-f]{40}$/.test(commit)) throw new Error("--head: not a git checkout");
  const parent = join(tmpdir(), name);
  const dir = join(parent, commit.slice(0, 12));
  if (!existsSync(join(dir, script))) {
    rmSync(parent, { recursive: true, force: true }); // older commits' copies
    mkdirSync(dir, { recursive: true });
    const archive = spawnSync(["sh", "-c", `git -C '${root}' archive HEAD | tar -x -C '${dir}'`], { stderr: "inherit" });
    if (archive.exitCode !== 0) throw new Error("--head: git archive failed");
    symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
  }
  log(`--head: running the benchmark of ${commit.slice(0, 12)} from ${dir}`);
  const child = Bun.spawn([process.execPath, join(dir, script), ...process.argv.slice(2).filter((a) => a !== "--head")], {
    cwd: dir,
    stdio: ["inherit", "inherit", "inherit"],
  });
  process.exit(await child.exited);
}

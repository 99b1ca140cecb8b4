/**
 * `npm test`: builds dist/confab (the end-to-end smoke test runs the real executable), runs
 * every test with bun test, and ends with the line CI reads: `N passed, N failed`.
 * Extra arguments go to bun test (a file pattern, -t NAME).
 */
import { mkdirSync, readFileSync } from "node:fs";

const bun = process.execPath;
const run = (args: string[]) => Bun.spawnSync([bun, ...args], { stdout: "inherit", stderr: "inherit" }).exitCode;

if (!process.env.CONFAB_SKIP_BUILD && run(["run", "build"]) !== 0) {
  console.log("0 passed, 1 failed");
  process.exit(1);
}

mkdirSync("test-output", { recursive: true });
const junit = "test-output/junit.xml";
const code = run(["test", "--timeout=30000", "--reporter=junit", `--reporter-outfile=${junit}`, ...process.argv.slice(2)]);

// Count from the JUnit report: bun's own summary goes to stderr in a form CI does not read.
let passed = 0;
let failed = 0;
try {
  const xml = readFileSync(junit, "utf8");
  const root = /<testsuites[^>]*\btests="(\d+)"[^>]*\bfailures="(\d+)"(?:[^>]*\berrors="(\d+)")?(?:[^>]*\bskipped="(\d+)")?/.exec(xml);
  if (root) {
    const [tests, failures, errors, skipped] = root.slice(1).map((x) => Number(x ?? 0));
    failed = failures! + errors!;
    passed = tests! - failed - skipped!;
  }
} catch {
  failed = 1;
}
if (code !== 0 && failed === 0) failed = 1; // a crash outside any test still fails the run
console.log(`${passed} passed, ${failed} failed`);
process.exit(code === 0 && failed === 0 ? 0 : 1);

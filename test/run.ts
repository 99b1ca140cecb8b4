/**
 * `npm test`: builds dist/confab (the end-to-end smoke test runs the real executable), runs
 * every test with bun test, and ends with the line CI reads: `N passed, N failed`.
 * The admin UI tests drive Debian's chromium: when /usr/bin/chromium is missing and we run as
 * root on a machine with apt-get (CI), it is installed first; otherwise those tests fail and
 * say how to install it (never a downloaded browser, never a skip).
 * Extra arguments go to bun test (a file pattern, -t NAME).
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";

const bun = process.execPath;
const run = (args: string[]) => Bun.spawnSync([bun, ...args], { stdout: "inherit", stderr: "inherit" }).exitCode;

if (!process.env.CONFAB_SKIP_BUILD && run(["run", "build"]) !== 0) {
  console.log("0 passed, 1 failed");
  process.exit(1);
}

ensureChromium();

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

/** Install Debian's chromium for the browser tests if it is missing and we may (root + apt-get). */
function ensureChromium() {
  const CHROMIUM = "/usr/bin/chromium";
  if (existsSync(CHROMIUM)) return;
  const isRoot = process.getuid?.() === 0;
  const apt = Bun.which("apt-get");
  if (!isRoot || !apt) {
    console.log(`${CHROMIUM} is missing and cannot be installed here (${!isRoot ? "not root" : "no apt-get"}): the admin UI tests will fail. Install it with: sudo apt-get install -y chromium`);
    return;
  }
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  for (const args of [["update"], ["install", "-y", "chromium"]]) {
    console.log(`test setup: ${apt} ${args.join(" ")}`);
    const code = Bun.spawnSync([apt, ...args], { stdout: "inherit", stderr: "inherit", env }).exitCode;
    if (code !== 0) {
      console.log(`test setup: apt-get ${args[0]} exited ${code}: the admin UI tests will fail`);
      return;
    }
  }
  console.log(existsSync(CHROMIUM) ? `test setup: installed ${CHROMIUM}` : `test setup: apt-get finished but ${CHROMIUM} is still missing`);
}

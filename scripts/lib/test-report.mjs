// What `npm test` concludes from vitest's JSON report, pure so tests/unit/test-report.test.ts can
// drive every path. A run passes only when the report is whole, every test ran or is skipped
// with a reason in the skip allow-list (tests/skip-allowlist.json), and vitest and lint agree.
//
// The allow-list: { "skips": { "<test name>": "<why it may be skipped>" } }, where a test's name
// is its file (relative to the repository), its describe titles and its own title joined by
// " > ", as vitest's default reporter prints it:
//   "tests/unit/x.test.ts > a group > does a thing"
// An entry without a reason is an error, so nothing is waved through unexplained.
import { readFileSync } from 'node:fs';
import path from 'node:path';

export const ALLOW_LIST_FILE = 'tests/skip-allowlist.json';

/**
 * @typedef {{ passed: number, failed: number, skipped: number, problems: string[] }} Outcome
 * @typedef {{ root?: string, judgeSkips?: boolean }} JudgeOptions
 */

/**
 * The parsed JSON of `file`, or an Error saying why there is none (missing, unreadable, malformed).
 * @param {string} file
 * @returns {unknown}
 */
export function readJson(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    return new Error(`cannot read ${file}: ${err.message}`);
  }
}

export const testName = (relFile, ancestorTitles, title) => [relFile, ...ancestorTitles, title].join(' > ');

/** The allow-list as a Map of name to reason, with a problem for each entry that gives no reason. */
export function parseAllowList(allowList) {
  if (allowList instanceof Error) return { skips: new Map(), problems: [allowList.message] };
  const skips = allowList?.skips;
  if (typeof skips !== 'object' || skips === null || Array.isArray(skips)) {
    return { skips: new Map(), problems: [`${ALLOW_LIST_FILE}: expected { "skips": { "<test name>": "<reason>" } }`] };
  }
  const problems = [];
  const allowed = new Map();
  for (const [name, reason] of Object.entries(skips)) {
    if (typeof reason === 'string' && reason.trim()) allowed.set(name, reason.trim());
    else problems.push(`${ALLOW_LIST_FILE}: "${name}" has no reason`);
  }
  return { skips: allowed, problems };
}

const COUNTS = ['numTotalTests', 'numPassedTests', 'numFailedTests', 'numPendingTests', 'numTodoTests'];
const isCount = (n) => Number.isInteger(n) && n >= 0;

/** Why `report` is not a usable vitest JSON report, or null when it is. */
function shapeProblem(report) {
  if (report instanceof Error) return report.message;
  if (typeof report !== 'object' || report === null) return 'the vitest report is not a JSON object';
  const bad = COUNTS.filter((k) => !isCount(report[k]));
  if (bad.length) return `the vitest report lacks counts: ${bad.join(', ')}`;
  if (!Array.isArray(report.testResults)) return 'the vitest report has no testResults';
  const file = report.testResults.find((f) => typeof f?.name !== 'string' || !Array.isArray(f.assertionResults));
  if (file) return `the vitest report has a malformed file entry: ${JSON.stringify(file).slice(0, 200)}`;
  return null;
}

/**
 * Passed and failed tests of a vitest JSON report, judged against the allow-list. A failure is a
 * failed test, a skipped or todo test not on the allow-list, a file that failed outside any test
 * (import error, crashing hook), an allow-list entry with no reason, or a report that is missing,
 * malformed or disagrees with itself. `judgeSkips: false` (a run filtered by test name, which
 * skips everything else) only counts skips. `root` makes file names relative.
 * @param {unknown} report
 * @param {unknown} allowList
 * @param {JudgeOptions} [options]
 * @returns {Outcome}
 */
export function summarizeReport(report, allowList, { root = process.cwd(), judgeSkips = true } = {}) {
  const { skips: allowed, problems } = parseAllowList(allowList);
  let failed = problems.length;
  const broken = shapeProblem(report);
  if (broken) return { passed: 0, failed: failed + 1, skipped: 0, problems: [...problems, broken] };

  let passed = 0;
  let failedTests = 0;
  let skipped = 0;
  let total = 0;
  for (const file of report.testResults) {
    const rel = path.relative(root, file.name).split(path.sep).join('/');
    const fileFailed = file.status === 'failed';
    let charged = 0;
    for (const a of file.assertionResults) {
      total += 1;
      const name = testName(rel, a.ancestorTitles ?? [], a.title ?? a.fullName ?? '?');
      if (a.status === 'passed') passed += 1;
      else if (a.status === 'failed') {
        failedTests += 1;
        charged += 1;
        problems.push(`failed: ${name}`);
      } else if (allowed.has(name) || !judgeSkips) skipped += 1;
      else {
        // Tests under a hook that threw are reported as skipped: say so rather than blame a skip.
        const why = fileFailed
          ? `did not run (${file.message || 'its file failed'})`
          : `${a.status}, not in ${ALLOW_LIST_FILE}`;
        charged += 1;
        problems.push(`${why}: ${name}`);
      }
    }
    if (fileFailed && charged === 0) {
      charged = 1;
      problems.push(`${rel} failed outside any test: ${file.message || 'no message'}`);
    }
    failed += charged;
  }

  const listed = { numTotalTests: total, numPassedTests: passed, numFailedTests: failedTests };
  const inconsistent = Object.entries(listed)
    .filter(([key, n]) => report[key] !== n)
    .map(([key, n]) => `${key} is ${report[key]} where the tests listed make ${n}`);
  if (total === 0) inconsistent.unshift('it lists no tests');
  if (inconsistent.length) {
    failed += 1;
    problems.push(`the vitest report disagrees with itself: ${inconsistent.join('; ')}`);
  }
  return { passed, failed, skipped, problems };
}

/**
 * The outcome of a whole `npm test`. A setup or build error, or an interrupted run, gives no results
 * (0 passed, 1 failed); otherwise it is the report's, with a failure added when vitest exited
 * non-zero over a clean report. A lint failure always adds one.
 * @param {{ setupError?: unknown, report?: unknown, allowList?: unknown, vitestExitCode?: number, lintFailed?: boolean } & JudgeOptions} run
 * @returns {Outcome}
 */
export function summarizeRun({ setupError, report, allowList, vitestExitCode = 0, lintFailed = false, ...options }) {
  const why = setupError instanceof Error ? setupError.message : String(setupError);
  const outcome = setupError
    ? { passed: 0, failed: 1, skipped: 0, problems: [`no results: ${why}`] }
    : summarizeReport(report, allowList, options);
  if (!setupError && vitestExitCode !== 0 && outcome.failed === 0) {
    outcome.failed = 1;
    outcome.problems.push(`vitest exited with ${vitestExitCode} though its report shows no failure`);
  }
  if (lintFailed) {
    outcome.failed += 1;
    outcome.problems.push('lint failed: npm run lint lists the layering breaks');
  }
  return outcome;
}

/**
 * The line CI reads, always the last one `npm test` prints.
 * @param {Pick<Outcome, 'passed' | 'failed'>} outcome
 */
export const finalLine = ({ passed, failed }) => `${passed} passed, ${failed} failed`;

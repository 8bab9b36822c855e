import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { finalLine, readJson, summarizeReport, summarizeRun } from '../../scripts/lib/test-report.mjs';

// How `npm test` judges a run (scripts/lib/test-report.mjs), on hand-made vitest JSON reports.
const ROOT = '/repo';
const FILE = 'tests/unit/x.test.ts';
const SKIPPED = `${FILE} > helm > renders`;

type Status = 'passed' | 'failed' | 'skipped' | 'pending' | 'todo';
interface FileSpec {
  status?: 'passed' | 'failed';
  message?: string;
  tests: [ancestors: string[], title: string, status: Status][];
}

/** A report as vitest's JSON reporter writes it, its counts derived from the tests. */
function report(...files: FileSpec[]) {
  const all = files.flatMap((f) => f.tests);
  const count = (...s: Status[]) => all.filter(([, , st]) => s.includes(st)).length;
  return {
    numTotalTests: all.length,
    numPassedTests: count('passed'),
    numFailedTests: count('failed'),
    numPendingTests: count('skipped', 'pending'),
    numTodoTests: count('todo'),
    success: count('failed') === 0,
    testResults: files.map((f, i) => ({
      name: path.join(ROOT, i === 0 ? FILE : `tests/unit/f${i}.test.ts`),
      status: f.status ?? (f.tests.some(([, , st]) => st === 'failed') ? 'failed' : 'passed'),
      message: f.message ?? '',
      assertionResults: f.tests.map(([ancestorTitles, title, status]) => ({
        ancestorTitles,
        title,
        fullName: [...ancestorTitles, title].join(' '),
        status,
        failureMessages: [],
      })),
    })),
  };
}

const withSkip = report({
  tests: [
    [[], 'works', 'passed'],
    [['helm'], 'renders', 'skipped'],
  ],
});
const allow = (skips: Record<string, unknown>) => ({ skips });
const summarize = (r: unknown, allowList: unknown = allow({})) => summarizeReport(r, allowList, { root: ROOT });

describe('summarizeReport', () => {
  it('passes a clean report', () => {
    expect(
      summarize(
        report({
          tests: [
            [[], 'a', 'passed'],
            [['g'], 'b', 'passed'],
          ],
        }),
      ),
    ).toEqual({
      passed: 2,
      failed: 0,
      skipped: 0,
      problems: [],
    });
  });

  it('fails a skipped test that is not on the allow-list, naming it', () => {
    const out = summarize(withSkip);
    expect(out).toMatchObject({ passed: 1, failed: 1, skipped: 0 });
    expect(out.problems).toEqual([`skipped, not in tests/skip-allowlist.json: ${SKIPPED}`]);
  });

  it('fails todo tests too', () => {
    const out = summarize(
      report({
        tests: [
          [[], 'a', 'passed'],
          [[], 'later', 'todo'],
        ],
      }),
    );
    expect(out).toMatchObject({ passed: 1, failed: 1 });
    expect(out.problems[0]).toMatch(/^todo, not in .*: tests\/unit\/x\.test\.ts > later$/);
  });

  it('lets a skip with a reason through, counted as skipped', () => {
    const out = summarize(withSkip, allow({ [SKIPPED]: 'no helm for arm64 yet' }));
    expect(out).toEqual({ passed: 1, failed: 0, skipped: 1, problems: [] });
  });

  it('fails an allow-list entry without a reason, even for a test that did not skip', () => {
    for (const reason of ['', '   ', null, 7]) {
      const out = summarize(withSkip, allow({ [SKIPPED]: reason, [`${FILE} > works`]: reason }));
      expect(out.failed, String(reason)).toBe(3);
      expect(out.problems.filter((p) => p.includes('has no reason'))).toHaveLength(2);
    }
  });

  it('fails an allow-list that is unreadable or not of the expected shape', () => {
    expect(summarize(withSkip, new Error('cannot read tests/skip-allowlist.json: ENOENT'))).toMatchObject({
      failed: 2,
    });
    expect(summarize(withSkip, { [SKIPPED]: 'a reason, but not under "skips"' })).toMatchObject({ failed: 2 });
  });

  it('fails an unreadable, malformed or empty report', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'aether-report-'));
    try {
      await writeFile(path.join(dir, 'cut.json'), '{"numTotalTests": 3, "testRes');
      for (const r of [readJson(path.join(dir, 'missing.json')), readJson(path.join(dir, 'cut.json')), null, [], {}]) {
        const out = summarize(r);
        expect(out, JSON.stringify(r)).toMatchObject({ passed: 0, failed: 1 });
        expect(out.problems).toHaveLength(1);
      }
      expect(summarize({ ...report(), testResults: 'none' }).failed).toBe(1);
      expect(summarize(report()).problems).toEqual([expect.stringContaining('it lists no tests')]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('fails a report whose totals disagree with its tests', () => {
    const r = report({ tests: [[[], 'a', 'passed']] });
    for (const bad of [{ numTotalTests: 0 }, { numTotalTests: 5 }, { numPassedTests: 0 }, { numFailedTests: 1 }]) {
      const out = summarize({ ...r, ...bad });
      expect(out.failed, JSON.stringify(bad)).toBe(1);
      expect(out.problems[0]).toContain('disagrees with itself');
    }
  });

  it('counts failed tests, and a file that failed outside any test once', () => {
    const out = summarize(
      report(
        {
          tests: [
            [[], 'a', 'failed'],
            [[], 'b', 'failed'],
          ],
        },
        { status: 'failed', message: "Cannot find module './gone'", tests: [] },
      ),
    );
    expect(out).toMatchObject({ passed: 0, failed: 3 });
    expect(out.problems).toEqual([
      `failed: ${FILE} > a`,
      `failed: ${FILE} > b`,
      "tests/unit/f1.test.ts failed outside any test: Cannot find module './gone'",
    ]);
  });

  it('blames the failed hook, not a skip, for the tests it kept from running', () => {
    const out = summarize(
      report({ status: 'failed', message: 'beforeAll: helm not found', tests: [[['helm'], 'renders', 'skipped']] }),
    );
    expect(out).toMatchObject({ failed: 1, problems: [`did not run (beforeAll: helm not found): ${SKIPPED}`] });
  });

  it('only counts skips when the run was filtered by test name', () => {
    const out = summarizeReport(withSkip, allow({}), { root: ROOT, judgeSkips: false });
    expect(out).toEqual({ passed: 1, failed: 0, skipped: 1, problems: [] });
  });
});

describe('summarizeRun and the final line', () => {
  it('ends a failed setup or build with 0 passed, 1 failed', () => {
    const out = summarizeRun({ setupError: new Error('npx next build failed (1)') });
    expect(finalLine(out)).toBe('0 passed, 1 failed');
    expect(out.problems).toEqual(['no results: npx next build failed (1)']);
    expect(finalLine(summarizeRun({ setupError: new Error('x'), lintFailed: true }))).toBe('0 passed, 2 failed');
  });

  it('fails a run whose report is missing although vitest exited 0', () => {
    const out = summarizeRun({
      report: new Error('cannot read vitest-report.json'),
      allowList: allow({}),
      vitestExitCode: 0,
    });
    expect(finalLine(out)).toBe('0 passed, 1 failed');
  });

  it('fails a clean report when vitest exited non-zero, and adds lint', () => {
    const clean = report({ tests: [[[], 'a', 'passed']] });
    const run = (vitestExitCode: number, lintFailed = false) =>
      finalLine(summarizeRun({ report: clean, allowList: allow({}), vitestExitCode, lintFailed, root: ROOT }));
    expect(run(0)).toBe('1 passed, 0 failed');
    expect(run(1)).toBe('1 passed, 1 failed');
    expect(run(0, true)).toBe('1 passed, 1 failed');
  });
});

describe('the committed allow-list', () => {
  it('parses, and gives every entry a reason', () => {
    const allowList = readJson(path.resolve(import.meta.dirname, '../skip-allowlist.json'));
    expect(summarizeReport(report({ tests: [[[], 'a', 'passed']] }), allowList, { root: ROOT }).problems).toEqual([]);
  });
});

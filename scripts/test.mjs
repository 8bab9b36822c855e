// `npm test`: the whole suite on real services. Installs what is missing, starts what is not
// running (and stops only that), builds the CLI bundle and the Next.js app the e2e tests
// drive, runs vitest, and ends with the line CI reads: `N passed, N failed`.
//
// It cannot pass silently: every way out prints that line and exits non-zero on any failure,
// and a failed setup or build, a missing or malformed vitest report, and a skipped test that
// tests/skip-allowlist.json does not explain each count as failures (scripts/lib/test-report.mjs).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import {
  ensureBubblewrap,
  ensureChromium,
  ensureCompose,
  ensureDependencies,
  ensureGnuTar,
  ensureHaproxy,
  ensureHelm,
  ensureNftables,
  ensurePostgres,
  ensureRedis,
  ensureWrk,
} from './lib/services.mjs';
import { ALLOW_LIST_FILE, finalLine, readJson, summarizeRun } from './lib/test-report.mjs';

const root = path.resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const skipBuild = args.includes('--no-build');
const vitestArgs = args.filter((a) => a !== '--no-build');
// A run filtered by test name skips everything else: its skips are counted, not judged.
const nameFilter = vitestArgs.some((a) => /^(-t|--testNamePattern)(=|$)/.test(a));
// Written under this run's pid (two runs in one tree must not read each other's), then kept as
// tests/.tmp/vitest-report.json for whoever looks next.
const lastReport = path.join(root, 'tests/.tmp/vitest-report.json');
const reportFile = lastReport.replace(/\.json$/, `-${process.pid}.json`);

function run(cmd, argv, env = {}) {
  const res = spawnSync(cmd, argv, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  if (res.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed (${res.status ?? res.signal})`);
}

// Interrupted, the run still ends with its line: vitest is stopped and the run counts as failed.
let interrupted = null;
let current = null;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    interrupted = signal;
    current?.kill(signal);
  });
}

function vitest(env) {
  mkdirSync(path.dirname(reportFile), { recursive: true });
  rmSync(reportFile, { force: true });
  const argv = ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${reportFile}`];
  return new Promise((resolve) => {
    current = spawn('npx', [...argv, ...vitestArgs], { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
    current.once('error', () => resolve(1));
    current.once('exit', (c) => resolve(c ?? 1));
  });
}

function keepReport() {
  const report = readJson(reportFile);
  if (existsSync(reportFile)) renameSync(reportFile, lastReport);
  return report;
}

const stops = [];
let lintFailed = false;
let outcome;
try {
  ensureDependencies(root);
  const redis = await ensureRedis();
  stops.push(redis.stop);
  const pg = await ensurePostgres();
  stops.push(pg.stop);
  ensureChromium();
  ensureBubblewrap();
  ensureNftables();
  ensureWrk();
  ensureHaproxy();
  // The packaging tests render the chart, read docker-compose.yml and unpack artifacts with the
  // real tools, and fail (not skip) without them.
  const tools = { AETHER_HELM_BIN: ensureHelm(), AETHER_COMPOSE_BIN: ensureCompose(), AETHER_TAR_BIN: ensureGnuTar() };
  // The layering lint (scripts/lint.mjs) takes a second: run it first so a break is the first thing
  // read, go on with the suite anyway, and count it as a failure in the closing line.
  lintFailed = spawnSync('node', ['scripts/lint.mjs'], { cwd: root, stdio: 'inherit' }).status !== 0;
  if (!skipBuild) {
    run('node', ['scripts/build-cli.mjs']);
    run('npx', ['next', 'build'], { NEXT_TELEMETRY_DISABLED: '1' });
  }
  if (interrupted) throw new Error(`interrupted by ${interrupted}`);
  const vitestExitCode = await vitest({ ...tools, REDIS_URL: redis.url, AETHER_TEST_PG_URL: pg.url });
  if (interrupted) throw new Error(`interrupted by ${interrupted}`);
  outcome = summarizeRun({
    report: keepReport(),
    allowList: readJson(path.join(root, ALLOW_LIST_FILE)),
    vitestExitCode,
    lintFailed,
    root,
    judgeSkips: !nameFilter,
  });
} catch (err) {
  console.error(err);
  outcome = summarizeRun({ setupError: err, lintFailed });
} finally {
  rmSync(reportFile, { force: true });
  for (const stop of stops.reverse()) {
    try {
      stop();
    } catch (err) {
      console.error(err);
    }
  }
}

if (outcome.problems.length) console.log(`\n${outcome.problems.map((p) => `  ${p}`).join('\n')}`);
const why = nameFilter ? 'filtered out by name' : `each with its reason in ${ALLOW_LIST_FILE}`;
if (outcome.skipped) console.log(`${outcome.skipped} skipped, ${why}`);
console.log(finalLine(outcome));
process.exit(outcome.failed > 0 ? 1 : 0);

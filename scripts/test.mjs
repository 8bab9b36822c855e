// `npm test`: the whole suite on real services. Installs what is missing, starts what is not
// running (and stops only that), builds the CLI bundle and the Next.js app the e2e tests
// drive, runs vitest, and ends with the line CI reads: `N passed, N failed`.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { ensureBubblewrap, ensureChromium, ensureCompose, ensureDependencies, ensureHaproxy, ensureHelm, ensureNftables, ensurePostgres, ensureRedis, ensureWrk } from './lib/services.mjs';

const root = path.resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const skipBuild = args.includes('--no-build');
const vitestArgs = args.filter((a) => a !== '--no-build');

function run(cmd, argv, env = {}) {
  const res = spawnSync(cmd, argv, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  if (res.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed (${res.status ?? res.signal})`);
}

ensureDependencies(root);
const redis = await ensureRedis();
const pg = await ensurePostgres();
ensureChromium();
ensureBubblewrap();
ensureNftables();
ensureWrk();
ensureHaproxy();
// The packaging tests render the chart and read docker-compose.yml with the real tools.
const tools = { AETHER_HELM_BIN: ensureHelm(), AETHER_COMPOSE_BIN: ensureCompose() };
let code = 1;
// The layering lint (scripts/lint.mjs) takes a second: run it first so a break is the first thing
// read, go on with the suite anyway, and count it as a failure in the closing line.
const lint = spawnSync('node', ['scripts/lint.mjs'], { cwd: root, stdio: 'inherit' });
const lintFailed = lint.status !== 0;
try {
  if (!skipBuild) {
    run('node', ['scripts/build-cli.mjs']);
    run('npx', ['next', 'build'], { NEXT_TELEMETRY_DISABLED: '1' });
  }
  const reportDir = path.join(root, 'tests/.tmp');
  mkdirSync(reportDir, { recursive: true });
  const report = path.join(reportDir, 'vitest-report.json');
  rmSync(report, { force: true });
  code = await new Promise((resolve) => {
    const child = spawn('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...vitestArgs], {
      cwd: root,
      stdio: 'inherit',
      env: { ...process.env, ...tools, REDIS_URL: redis.url, AETHER_TEST_PG_URL: pg.url },
    });
    child.once('exit', (c) => resolve(c ?? 1));
  });
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  try {
    const r = JSON.parse(readFileSync(report, 'utf8'));
    passed = r.numPassedTests;
    // A file that failed outside any test (a crashing beforeAll, an import error) counts once.
    const fileOnlyFailures = (r.testResults ?? []).filter((f) => f.status === 'failed' && !f.assertionResults?.some((a) => a.status === 'failed')).length;
    failed = r.numFailedTests + fileOnlyFailures;
    skipped = r.numPendingTests + r.numTodoTests;
  } catch {
    failed = Math.max(1, failed);
  }
  if (code !== 0 && failed === 0) failed = 1;
  if (lintFailed) {
    console.log('lint failed: npm run lint lists the layering breaks');
    failed += 1;
    code = code || 1;
  }
  console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
} finally {
  redis.stop();
  pg.stop();
}
process.exit(code);

/**
 * CLI cold start against bare `node -e 0`, in the same run: the target is
 * `aether --version` <= 1.3x of bare node; `--help` (which loads the parser) is shown too.
 *
 *   npm run bench            (needs the bundle: npm run build:cli)
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

const CLI = path.resolve(import.meta.dirname, '../../dist/cli/aether.mjs');
if (!existsSync(CLI)) throw new Error('build the CLI first: npm run build:cli');
const RUNS = Number(process.env.BENCH_RUNS ?? 15);

function median(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
function time(args: string[]) {
  const t0 = performance.now();
  execFileSync(process.execPath, args, { stdio: 'ignore' });
  return performance.now() - t0;
}

const node: number[] = [];
const version: number[] = [];
const help: number[] = [];
for (let i = 0; i < RUNS; i++) {
  node.push(time(['-e', '0']));
  version.push(time([CLI, '--version']));
  help.push(time([CLI, '--help']));
}
const base = median(node);
const ratio = (xs: number[]) => median(xs) / base;
console.log(`cli startup: ${RUNS} runs (median), interleaved`);
console.log(`  node -e 0:          ${base.toFixed(0)} ms`);
console.log(`  aether --version:   ${median(version).toFixed(0)} ms  (${ratio(version).toFixed(2)}x; target <= 1.3x ${ratio(version) <= 1.3 ? 'met' : 'NOT met'})`);
console.log(`  aether --help:      ${median(help).toFixed(0)} ms  (${ratio(help).toFixed(2)}x)`);

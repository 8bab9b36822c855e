// `npm run bench`: every benchmark under tests/bench/, one after another (they compete for the
// same two cores otherwise). Each prints its figures against a baseline measured in the same run.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { ensureHaproxy, ensureWrk } from './lib/services.mjs';

const root = path.resolve(import.meta.dirname, '..');
const benches = readdirSync(path.join(root, 'tests/bench')).filter((f) => f.endsWith('.bench.ts')).sort();
// The HTTP benchmarks load the server from wrk, a separate process.
ensureWrk();
ensureHaproxy();
let failed = 0;
for (const b of benches) {
  const res = spawnSync('npx', ['tsx', path.join('tests/bench', b)], { cwd: root, stdio: 'inherit' });
  if (res.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);

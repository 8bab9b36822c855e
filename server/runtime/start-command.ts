import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * What `npm start` will run in an unpacked artifact: scripts.start, else npm's default
 * `node server.js`. Both runtimes check it up front, so an artifact with neither fails with a
 * plain reason instead of npm's error dump; `problem` is that reason.
 */
export async function resolveStartCommand(dir: string): Promise<{ command: string } | { problem: string }> {
  const pkg = await readFile(path.join(dir, 'package.json'), 'utf8')
    .then((raw) => JSON.parse(raw) as { scripts?: Record<string, unknown> })
    .catch(() => null);
  if (!pkg) return { problem: 'no readable package.json at the root of the artifact' };
  const script = pkg.scripts?.start;
  if (typeof script === 'string' && script.trim()) return { command: script };
  if (await stat(path.join(dir, 'server.js')).then(() => true, () => false)) return { command: 'node server.js' };
  return { problem: 'package.json has no "start" script and there is no server.js' };
}

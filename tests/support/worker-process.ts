import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { ROOT } from './control-plane-process';

export interface SpawnedWorker {
  child: ChildProcessByStdio<null, Readable, Readable>;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
}

/**
 * `npm run worker` (jobs/main.ts) as its own process with `env`, its /healthz and /metrics on
 * `port`; resolves once it logs `workers started` (an info record: AETHER_LOG_LEVEL info or lower).
 */
export async function spawnWorkerProcess(env: Record<string, string>, port: number): Promise<SpawnedWorker> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'jobs/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, ...env, AETHER_WORKER_PORT: String(port), NODE_ENV: 'production' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      output += d.toString();
      if (output.includes('workers started')) resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`worker exited (${code}):\n${output}`)));
  });
  return { child, output: () => output };
}

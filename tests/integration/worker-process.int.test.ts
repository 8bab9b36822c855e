import { spawn, type ChildProcessByStdio } from 'node:child_process';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tarGz } from '../support/artifacts';
import { startTestPlane, type TestPlane } from '../support/harness';
import { uploadArtifact } from '../support/upload';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** `npm run worker`: the workers alone, in their own process, beside a web process. */
describe('standalone worker process (npm run worker)', () => {
  let plane: TestPlane;
  let worker: ChildProcessByStdio<null, Readable, Readable>;
  let output = '';

  beforeAll(async () => {
    // The web process queues verification for the worker (as with S3 and AETHER_VERIFY_REMOTE_HASH).
    plane = await startTestPlane('postgres', { AETHER_VERIFY_INLINE: 'false' });
    const env = plane.services.env;
    // As `npm run worker`, the Dockerfile and the chart run it: no tsx CLI in between, whose
    // signal relay exits 143 without the worker's drain when the machine is slow to answer it.
    worker = spawn(process.execPath, ['--import', 'tsx', 'jobs/main.ts'], {
      cwd: ROOT,
      env: {
        ...process.env,
        DATABASE_URL: env.DATABASE_URL,
        REDIS_URL: env.REDIS_URL,
        AETHER_QUEUE_PREFIX: env.AETHER_QUEUE_PREFIX,
        AETHER_DATA_DIR: env.AETHER_DATA_DIR,
        AETHER_LOG_LEVEL: 'info',
        // Files run in parallel: its /healthz and /metrics take a free port.
        AETHER_WORKER_PORT: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    worker.stdout.on('data', (d: Buffer) => (output += d.toString()));
    worker.stderr.on('data', (d: Buffer) => (output += d.toString()));
    await plane.caller('deployer').apps.create({ name: 'split' });
  });

  afterAll(async () => {
    if (worker && worker.exitCode === null) worker.kill('SIGKILL');
    await plane?.close();
  });

  it('verifies uploads queued by the web process, and drains on SIGTERM', async () => {
    const { digest } = await uploadArtifact(plane, 'split', tarGz({ 'package.json': '{"name":"split"}' }));
    const settled = await plane.caller('reader').artifacts.wait({ app_name: 'split', digest, timeout_ms: 25_000 });
    expect(settled.status, output).toBe('stored');
    expect(output).toContain('workers started');

    const exited = new Promise<number | null>((resolve) => worker.once('exit', (code) => resolve(code)));
    worker.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toContain('worker shutting down');
  });
});

import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { assertBuilt, freePort, startPlaneProcess, type PlaneProcess } from './control-plane-process';
import { TOKEN_ENTRIES } from './harness';
import { createScratchDatabase } from './pg';
import { deletePrefix, TEST_REDIS_URL } from './redis';
import { spawnWorkerProcess } from './worker-process';

export interface WorkerProcess {
  /** The worker's own /healthz and /metrics (AETHER_WORKER_PORT). */
  url: string;
  stop(): Promise<void>;
}

/** Starts `npm run worker` with `env`; resolves once its workers are listening. */
export async function startWorkerProcess(env: Record<string, string>): Promise<WorkerProcess> {
  const port = await freePort();
  const { child } = await spawnWorkerProcess(env, port);
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) =>
        child.exitCode !== null ? resolve() : (child.once('exit', () => resolve()), child.kill('SIGTERM')),
      ),
  };
}

export interface BenchPlane {
  plane: PlaneProcess;
  /**
   * Every process's /metrics: the plane's, and the worker process's when there is one. A series
   * such as complete -> stored is observed by whichever settles the artifact (complete itself,
   * or the verify job), so a phase's figure is the sum over them.
   */
  metricsUrls: string[];
  databaseUrl: string;
  close(): Promise<void>;
}

/**
 * The topology production runs, for the upload benchmarks: the built control plane
 * (server/http/main.ts) on a scratch PostgreSQL database, the real Redis under a fresh queue
 * prefix, the fs store in a temp dir, the harness's tokens. `workers: 'process'` runs the
 * BullMQ workers in a separate `npm run worker` (as the chart does); `'inline'` in the web
 * process (as a bare `npm start` does).
 */
export async function startBenchPlane(opts: {
  workers: 'process' | 'inline';
  env?: Record<string, string>;
}): Promise<BenchPlane> {
  assertBuilt();
  const scratch = await createScratchDatabase();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'aether-bench-'));
  const prefix = `bench-${randomUUID()}`;
  const env = {
    DATABASE_URL: scratch.url,
    REDIS_URL: TEST_REDIS_URL,
    AETHER_QUEUE_PREFIX: prefix,
    AETHER_DATA_DIR: dataDir,
    AETHER_API_TOKENS: TOKEN_ENTRIES.join(','),
    AETHER_LOG_LEVEL: 'warn',
    ...opts.env,
  };
  const plane = await startPlaneProcess(
    { ...env, AETHER_WORKERS: opts.workers === 'inline' ? 'inline' : 'off' },
    await freePort(),
  );
  const worker = opts.workers === 'process' ? await startWorkerProcess({ ...env, AETHER_LOG_LEVEL: 'info' }) : null;
  return {
    plane,
    metricsUrls: [plane.url, ...(worker ? [worker.url] : [])].map((url) => `${url}/metrics`),
    databaseUrl: scratch.url,
    async close() {
      await worker?.stop();
      await plane.stop();
      await scratch.drop();
      await deletePrefix(prefix);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * `npm run worker` serves its own /healthz and /metrics (the chart probes and scrapes them):
 * the real worker process on a scratch database and queue prefix, beside a web plane.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHealthServer, type WorkerState } from '../../jobs/health-server';
import { tarGz } from '../support/artifacts';
import { startTestPlane, type TestPlane } from '../support/harness';
import { pollUntil } from '../support/poll';
import { uploadArtifact } from '../support/upload';

const ROOT = path.resolve(import.meta.dirname, '../..');
const METRICS_TOKEN = 'worker-metrics-token-0001';

async function get(url: string, init: RequestInit = {}) {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) as Record<string, unknown> };
}

describe('worker process /healthz and /metrics (AETHER_WORKER_PORT)', () => {
  let plane: TestPlane;
  let worker: ChildProcessByStdio<null, Readable, Readable>;
  let output = '';
  let base = '';

  beforeAll(async () => {
    // Verification by the worker process's job, whose own registry counts it.
    plane = await startTestPlane('postgres', { AETHER_VERIFY_INLINE: 'false' });
    const env = plane.services.env;
    worker = spawn(process.execPath, ['--import', 'tsx', 'jobs/main.ts'], {
      cwd: ROOT,
      env: {
        ...process.env,
        DATABASE_URL: env.DATABASE_URL,
        REDIS_URL: env.REDIS_URL,
        AETHER_QUEUE_PREFIX: env.AETHER_QUEUE_PREFIX,
        AETHER_DATA_DIR: env.AETHER_DATA_DIR,
        AETHER_LOG_LEVEL: 'info',
        AETHER_WORKER_PORT: '0',
        AETHER_METRICS_TOKEN: METRICS_TOKEN,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    worker.stdout.on('data', (d: Buffer) => (output += d.toString()));
    worker.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const port = await pollUntil(
      async () => /"msg":"worker health server listening".*?"port":(\d+)/.exec(output)?.[1],
      Boolean,
      30_000,
    );
    expect(port, output).toBeTruthy();
    base = `http://127.0.0.1:${port}`;
    await plane.caller('deployer').apps.create({ name: 'probed' });
  }, 60_000);

  afterAll(async () => {
    if (worker && worker.exitCode === null) worker.kill('SIGKILL');
    await plane?.close();
  });

  it('answers /healthz 200 {status: "ok"} once the workers run', async () => {
    const res = await pollUntil(
      () => get(`${base}/healthz`),
      (r) => r.status === 200,
      30_000,
    );
    expect(res.status, output).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
    expect(output).toContain('workers started');
  });

  it("serves the worker's own registry on /metrics, behind AETHER_METRICS_TOKEN as the web does", async () => {
    const { digest } = await uploadArtifact(plane, 'probed', tarGz({ 'package.json': '{"name":"probed"}' }));
    const settled = await plane.caller('reader').artifacts.wait({ app_name: 'probed', digest, timeout_ms: 25_000 });
    expect(settled.status).toBe('stored');

    const anonymous = await get(`${base}/metrics`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.json()).toMatchObject({ code: 'unauthorized' });
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer realm="metrics"');
    expect((await get(`${base}/metrics`, { headers: { authorization: 'Bearer wrong-token-000000' } })).status).toBe(
      401,
    );

    const res = await get(`${base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.text).toContain('process_cpu_user_seconds_total');
    // Counted by the verification this process ran, not by the web plane.
    expect(res.text).toMatch(/^aether_artifact_verifications_total\{outcome="stored"\} 1$/m);
  });

  it('answers other paths and methods with the error envelope', async () => {
    const missing = await get(`${base}/readyz`);
    expect(missing.status).toBe(404);
    expect(missing.json()).toMatchObject({ code: 'not_found' });
    const post = await get(`${base}/healthz`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.json()).toMatchObject({ code: 'method_not_allowed' });
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('drains on SIGTERM, exits 0 and stops listening', async () => {
    const exited = new Promise<number | null>((resolve) => worker.once('exit', (code) => resolve(code)));
    worker.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toContain('worker shutting down');
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
  });

  it('says 503 with the state while starting and while stopping', async () => {
    let state: WorkerState = 'starting';
    const server = await startHealthServer(plane.services, () => state, 0);
    try {
      const at = `http://127.0.0.1:${server.port}/healthz`;
      expect(await get(at).then((r) => [r.status, r.json()])).toEqual([503, { status: 'starting' }]);
      state = 'running';
      expect(await get(at).then((r) => [r.status, r.json()])).toEqual([200, { status: 'ok' }]);
      state = 'stopping';
      expect(await get(at).then((r) => [r.status, r.json()])).toEqual([503, { status: 'stopping' }]);
    } finally {
      await server.close();
    }
  });
});

import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFailed } from 'vitest';
import { appPids, recordedPids } from '../support/app-processes';
import { appPortRangeOfThisWorker } from '../support/app-port-range';
import { tarGz } from '../support/artifacts';
import { pollUntil } from '../support/poll';
import { startScratchRedis, type ScratchRedis } from '../support/scratch-redis';
import { recordApi, type ApiRecorder } from './api-recorder';
import * as app from './fault-app';
import { killUnrecordedApps } from './fault-cleanup';
import { startFaultPlane, type FaultPlane } from './fault-plane';
import { checkInvariants } from './invariants';

const SLOW_HEALTH_MS = 6000;
const DOWN = { code: 'service_unavailable', retryAfter: '2' };

/**
 * A real redis-server (AOF, fsync per write) shut down while a deploy rolls out and started
 * again on the same port and data: the control plane (workers inline, as `npm start` runs
 * them) is never restarted, and must answer 503 for what needs the queue, serve what does
 * not, and converge once Redis is back.
 */
describe('Redis shut down and restarted during a deploy', () => {
  let redis: ScratchRedis;
  let fp: FaultPlane;
  let rec: ApiRecorder;
  let view: FaultPlane;
  const marker = `redis-restart-${randomUUID()}`;

  beforeAll(async () => {
    redis = await startScratchRedis();
    fp = await startFaultPlane({
      redisUrl: redis.url,
      env: {
        AETHER_JOB_LOCK_SECS: '2',
        AETHER_ROUTER_PORT: '0',
        AETHER_APP_PORT_RANGE: appPortRangeOfThisWorker('child-process'),
      },
    });
    rec = recordApi(fp);
    view = { ...fp, api: rec.api };
    await app.createApp(view, 'rolling', marker);
  });
  afterAll(async () => {
    try {
      await fp?.close();
    } finally {
      await killUnrecordedApps(marker);
      await redis?.close();
    }
  });
  beforeEach(() =>
    onTestFailed(() => console.log(`control plane output:\n${fp.plane.output().split('\n').slice(-60).join('\n')}`)),
  );

  it('answers 503 for queue work and 200 for the rest while down, then converges without a restart', async () => {
    const v1 = await app.storeArtifact(view, 'rolling', app.slowHealthApp(SLOW_HEALTH_MS, 'v1'));
    const v2 = await app.storeArtifact(view, 'rolling', app.slowHealthApp(SLOW_HEALTH_MS, 'v2'));
    const first = await app.deploy(view, 'rolling', v1);
    await app.untilHealthPhase(view, first);

    await redis.stop();
    expect(redis.running()).toBe(false);
    // Reads and the store need no queue.
    expect((await view.api('GET', '/apps')).status).toBe(200);
    expect(await app.getDeployment(view, first)).toMatchObject({ status: 'rolling_out' });
    expect((await view.api('GET', '/apps/rolling/limits', undefined, 'reader')).status).toBe(200);
    const later = await app.stage(view.api, 'rolling', tarGz({ 'package.json': '{"name":"during-outage"}' }));
    // Neither does an upload: its complete verifies it in the request, with no job.
    const completed = await app.complete(view.api, 'rolling', later);
    expect(completed.status).toBe(200);
    expect(await completed.json()).toMatchObject({ digest: later.digest, status: 'stored' });
    // Queue work is refused, retryably.
    const refused = await view.api('POST', '/deployments', { app_name: 'rolling', digest: v2 });
    expect({ status: refused.status, retryAfter: refused.headers.get('retry-after') }).toEqual({
      status: 503,
      retryAfter: DOWN.retryAfter,
    });
    expect(await refused.json()).toEqual({ code: DOWN.code, message: 'job queue unavailable; deploy again' });
    const ready = await fetch(`${fp.plane.url}/readyz`);
    expect({ status: ready.status, body: await ready.json() }).toMatchObject({
      status: 503,
      body: { status: 'not_ready', down: ['redis'], checks: { database: 'ok', storage: 'ok' } },
    });
    // The rollout runs on without Redis: its outcome is in the database.
    expect(await app.deploymentSettled(view, first, 30_000)).toMatchObject({ status: 'running', failure_reason: null });

    await redis.start();
    // No restart: the plane's connections find Redis again by themselves.
    const readyAgain = await pollUntil(
      async () => (await fetch(`${fp.plane.url}/readyz`)).status,
      (s) => s === 200,
      15_000,
    );
    expect(readyAgain).toBe(200);
    // The refused deploy said so in its own record; the upload completed during the outage is stored.
    const deployments = (await (
      await view.api('GET', '/apps/rolling/deployments', undefined, 'reader')
    ).json()) as app.DeploymentView[];
    const failed = deployments.filter((d) => d.id !== first);
    expect(failed.map((d) => ({ status: d.status, failure_reason: d.failure_reason }))).toEqual([
      { status: 'failed', failure_reason: 'queue_unavailable' },
    ]);
    expect(await app.artifactSettled(view, 'rolling', later.digest)).toMatchObject({ status: 'stored' });

    const second = await app.deploy(view, 'rolling', v2);
    const settled = await app.deploymentSettled(view, second);
    expect(settled).toMatchObject({ status: 'running', failure_reason: null });
    expect(await app.getDeployment(view, first)).toMatchObject({ status: 'superseded' });
    expect(await (await fetch(settled.url!)).text()).toBe(`${marker} v2\n`);
    // One instance on the host (the state file records its process group leader, `npm start`).
    expect(await recordedPids(fp.dataDir, 'rolling')).toHaveLength(1);
    expect(await appPids(marker)).toHaveLength(1);

    expect(await checkInvariants(fp, { runningApps: ['rolling'] })).toEqual([]);
    expect(rec.unexpected()).toEqual([]);
    expect(fp.plane.output()).not.toMatch(/procedure crashed/);
  });
});

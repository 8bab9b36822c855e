import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFailed } from 'vitest';
import { QUEUE_DEFS } from '../../server/queues/definitions';
import { appPids } from '../support/app-processes';
import { appPortRangeOfThisWorker } from '../support/app-port-range';
import { pollUntil } from '../support/poll';
import * as app from './fault-app';
import { killUnrecordedApps } from './fault-cleanup';
import { startFaultPlane, type FaultPlane } from './fault-plane';
import { checkInvariants } from './invariants';

const SLOW_HEALTH_MS = 3000;
/** The maintenance sweep's period here (its minimum), which re-runs a rollout whose retries ran out. */
const SWEEP_SECS = 5;

/**
 * PostgreSQL cut while a rollout runs: the instance comes up and the runtime switches to it, but
 * the control plane cannot record the outcome. That is no outcome of the deployment: the job
 * fails, is retried, and the retry resumes the rollout (the runtime re-adopts the live instance)
 * once the database is back. A cut that outlasts the retries is resumed by the maintenance sweep.
 */
describe('PostgreSQL cut during a rollout', () => {
  let fp: FaultPlane;
  let rollouts: Queue;
  const marker = `rollout-outage-${randomUUID()}`;

  beforeAll(async () => {
    fp = await startFaultPlane({
      env: {
        // The sweep's `re-queued in-flight work` is an info record.
        AETHER_LOG_LEVEL: 'info',
        AETHER_DB_STATEMENT_TIMEOUT_MS: '3000',
        AETHER_PENDING_GC_INTERVAL_SECS: String(SWEEP_SECS),
        AETHER_ROUTER_PORT: '0',
        AETHER_APP_PORT_RANGE: appPortRangeOfThisWorker('child-process'),
      },
    });
    rollouts = new Queue(QUEUE_DEFS.rollout.name, { connection: { url: fp.env.REDIS_URL! }, prefix: fp.env.AETHER_QUEUE_PREFIX });
    await app.createApp(fp, 'svc', marker);
  });
  afterAll(async () => {
    await rollouts?.close();
    try {
      await fp?.close();
    } finally {
      await killUnrecordedApps(marker);
    }
  });
  beforeEach(() =>
    onTestFailed(() => console.log(`control plane output:\n${fp.plane.output().split('\n').slice(-60).join('\n')}`)),
  );

  /** Deploys `tag`, waits until its instance answers 200 with the database cut under it. */
  async function cutOnceHealthy(tag: string): Promise<string> {
    const digest = await app.storeArtifact(fp, 'svc', app.slowHealthApp(SLOW_HEALTH_MS, tag));
    const id = await app.deploy(fp, 'svc', digest);
    await app.untilHealthPhase(fp, id);
    const start = (await app.phasesOf(fp, id)).find((p) => p.phase === 'start')!;
    const port = /PORT=(\d+)/.exec(start.message)![1];
    fp.pgLink.cut('refuse');
    await pollUntil(
      () => fetch(`http://127.0.0.1:${port}/`).then((r) => r.status, () => 0),
      (status) => status === 200,
      20_000,
    );
    return id;
  }

  const jobOf = (id: string) => rollouts.getJob(`rollout-${id}`);
  const resumed = async (id: string) =>
    (await app.phasesOf(fp, id)).filter((p) => p.phase === 'rolling_out').map((p) => p.message.split(' ')[0]);

  it('the outcome cannot be written: the job retries, and resumes to the one running release once the database is back', async () => {
    const id = await cutOnceHealthy('v1');
    // The switch happened; writing `running` failed, and the job waits for its retry.
    await pollUntil(async () => (await jobOf(id))?.attemptsMade ?? 0, (n) => n >= 1, 15_000);
    expect(fp.plane.output()).toContain('rollout interrupted by an outage; its job retries');
    fp.pgLink.restore();

    const settled = await app.deploymentSettled(fp, id);
    expect(settled).toMatchObject({ status: 'running', failure_reason: null });
    expect(await resumed(id)).toEqual(['rolling', 'resuming']);
    expect(await (await fetch(settled.url!)).text()).toBe(`${marker} v1\n`);
    expect(await appPids(marker)).toHaveLength(1);
    expect(await checkInvariants(fp, { runningApps: ['svc'] })).toEqual([]);
  });

  it('a cut that outlasts the job\'s retries: the maintenance sweep runs it again, and it resumes', async () => {
    const id = await cutOnceHealthy('v2');
    // Six attempts over about 30 s, each refused by the database: the job gives up.
    const failed = await pollUntil(async () => (await jobOf(id))?.getState(), (s) => s === 'failed', 60_000);
    expect(failed).toBe('failed');
    expect((await jobOf(id))!.attemptsMade).toBe(6);
    fp.pgLink.restore();

    const settled = await app.deploymentSettled(fp, id, 30_000);
    expect(settled).toMatchObject({ status: 'running', failure_reason: null });
    expect(await resumed(id)).toEqual(['rolling', 'resuming']);
    expect(fp.plane.output()).toContain('re-queued in-flight work');
    expect(await (await fetch(settled.url!)).text()).toBe(`${marker} v2\n`);
    // v1 replaced: one instance on the host, the new one.
    expect(await appPids(marker)).toHaveLength(1);
    expect(await checkInvariants(fp, { runningApps: ['svc'] })).toEqual([]);
  }, 150_000);
});

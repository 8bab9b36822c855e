import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFailed } from 'vitest';
import { QUEUE_DEFS, type QueueKey } from '../../server/queues/definitions';
import { appPids, isAlive, recordedPids } from '../support/app-processes';
import { appPortRangeOfThisWorker } from '../support/app-port-range';
import { tarGz } from '../support/artifacts';
import { pollUntil } from '../support/poll';
import { recordApi, type ApiRecorder } from './api-recorder';
import * as app from './fault-app';
import { startFaultPlane, type FaultPlane } from './fault-plane';
import { killUnrecordedApps } from './fault-cleanup';
import { checkInvariants } from './invariants';
import { holdLock } from './pg-locks';

const LOCK_SECS = 2;
const SLOW_HEALTH_MS = 5000;

/**
 * `npm run worker` as its own process, killed with a real SIGKILL while it holds work: nothing
 * releases its job locks, so only BullMQ's stall detection (AETHER_JOB_LOCK_SECS) hands the
 * job to the next worker. Each kill lands at a point the test controls: before the job is
 * taken, or while the job waits on a database lock the test holds, so it is certainly mid-job.
 */
describe('the worker process SIGKILLed while it holds work', () => {
  let fp: FaultPlane;
  let rec: ApiRecorder;
  let view: FaultPlane;
  const queues = new Map<QueueKey, Queue>();
  const marker = `worker-killed-${randomUUID()}`;
  const jobOf = (key: QueueKey, id: string) => queues.get(key)!.getJob(id);
  // The row settles first; BullMQ records the job's end a moment later.
  const settledJob = async (key: QueueKey, id: string) => {
    await pollUntil(
      async () => (await jobOf(key, id))?.getState(),
      (state) => state !== 'active' && state !== 'waiting',
      10_000,
    );
    return jobOf(key, id);
  };

  /** Starts a worker: the artifact ends stored, its job completed after `runs`, and every invariant holds. */
  async function startedWorkerStores(staged: app.Staged, id: string, runs: { started: number; stalled: number }) {
    await fp.worker!.start();
    expect(await app.artifactSettled(view, 'victim', staged.digest)).toMatchObject({
      status: 'stored',
      failure_reason: null,
    });
    const job = await settledJob('artifactVerify', `verify-${id}`);
    expect({ state: await job!.getState(), started: job!.attemptsStarted, stalled: job!.stalledCounter }).toEqual({
      state: 'completed',
      ...runs,
    });
    expect(await checkInvariants(fp)).toEqual([]);
  }

  beforeAll(async () => {
    fp = await startFaultPlane({
      workers: 'process',
      env: {
        // The worker handle waits for the worker's `workers started` line, an info log.
        AETHER_LOG_LEVEL: 'info',
        AETHER_JOB_LOCK_SECS: String(LOCK_SECS),
        // Verification by the worker's job (as for a download-and-hash on S3): the job is the victim here.
        AETHER_VERIFY_INLINE: 'false',
        AETHER_ROUTER_PORT: '0',
        AETHER_APP_PORT_RANGE: appPortRangeOfThisWorker('child-process'),
      },
    });
    rec = recordApi(fp);
    // Every call the scenarios make goes through the recorder.
    view = { ...fp, api: rec.api };
    for (const key of ['artifactVerify', 'rollout', 'retention'] as const) {
      queues.set(
        key,
        new Queue(QUEUE_DEFS[key].name, { connection: { url: fp.env.REDIS_URL! }, prefix: fp.env.AETHER_QUEUE_PREFIX }),
      );
    }
    await app.createApp(view, 'victim', marker);
  });
  afterAll(async () => {
    await Promise.all([...queues.values()].map((q) => q.close()));
    try {
      await fp?.close();
    } finally {
      // Each app's own marker: a failed scenario may leave any of them behind.
      for (const m of [marker, `${marker}-keeper`, `${marker}-grower`]) await killUnrecordedApps(m);
    }
  });
  beforeEach(() =>
    onTestFailed(() => {
      const tail = (s: string) => s.split('\n').slice(-40).join('\n');
      console.log(`worker output:\n${tail(fp.worker!.output())}\ncontrol plane output:\n${tail(fp.plane.output())}`);
    }),
  );

  it('before verification: the job waits for a worker, and the next one stores the artifact', async () => {
    await fp.worker!.kill('SIGKILL');
    const staged = await app.stage(view.api, 'victim', tarGz({ 'package.json': '{"name":"before"}' }));
    const res = await app.complete(view.api, 'victim', staged);
    expect(res.status).toBe(200);
    const { artifact_id: id, status } = (await res.json()) as { artifact_id: string; status: string };
    expect(status).toBe('verifying');

    // No worker: queued, untouched, however long it waits.
    await new Promise((r) => setTimeout(r, 2 * LOCK_SECS * 1000));
    expect(await (await jobOf('artifactVerify', `verify-${id}`))!.getState()).toBe('waiting');
    expect((await app.getArtifact(view, 'victim', staged.digest)).status).toBe('verifying');

    await startedWorkerStores(staged, id, { started: 1, stalled: 0 });
  });

  it('mid-verification: the job stalls, is handed over once its lock expires; the artifact ends stored', async () => {
    await fp.worker!.kill('SIGKILL');
    const staged = await app.stage(view.api, 'victim', tarGz({ 'package.json': '{"name":"mid-verify"}' }));
    const { artifact_id: id } = (await (await app.complete(view.api, 'victim', staged)).json()) as {
      artifact_id: string;
    };

    // The artifact row locked: the next worker checks the object, then waits to write the outcome.
    const lock = await holdLock(fp.databaseUrl, [`select id from artifacts where id = '${id}' for update`]);
    try {
      await fp.worker!.start();
      expect(await lock.blocked('with "moved" as (update "artifacts"%')).toMatch(/^with "moved" as \(update "artifacts" set/);
      expect(await (await jobOf('artifactVerify', `verify-${id}`))!.getState()).toBe('active');
      await fp.worker!.kill('SIGKILL');
    } finally {
      // The dead worker's transaction gets the row, finds its client gone, and rolls back.
      await lock.release();
    }
    // Held by a dead worker: still active, and the artifact still verifying.
    expect(await (await jobOf('artifactVerify', `verify-${id}`))!.getState()).toBe('active');
    expect((await app.getArtifact(view, 'victim', staged.digest)).status).toBe('verifying');

    await startedWorkerStores(staged, id, { started: 2, stalled: 1 });
  });

  it('mid-rollout: a new worker resumes it; it ends the one running, with one instance on the host', async () => {
    const digest = await app.storeArtifact(view, 'victim', app.slowHealthApp(SLOW_HEALTH_MS, 'v1'));
    const id = await app.deploy(view, 'victim', digest);
    // Instances started, health not yet answered: the rollout is certainly in flight.
    await app.untilHealthPhase(view, id);
    // `npm start` takes a moment to exec the app's own `node index.js`.
    const doomed = await pollUntil(
      () => appPids(marker),
      (pids) => pids.length > 0,
      10_000,
    );
    expect(doomed).toHaveLength(1);
    await fp.worker!.kill('SIGKILL');
    expect((await app.getDeployment(view, id)).status).toBe('rolling_out');
    expect(await (await jobOf('rollout', `rollout-${id}`))!.getState()).toBe('active');

    await fp.worker!.start();
    const settled = await app.deploymentSettled(view, id);
    expect(settled).toMatchObject({ status: 'running', failure_reason: null });
    const phases = await app.phasesOf(view, id);
    expect(phases.filter((p) => p.phase === 'rolling_out').map((p) => p.message.split(' ')[0])).toEqual([
      'rolling',
      'resuming',
    ]);
    expect(phases.at(-1)?.phase).toBe('running');
    const job = await settledJob('rollout', `rollout-${id}`);
    expect({ state: await job!.getState(), stalled: job!.stalledCounter }).toEqual({ state: 'completed', stalled: 1 });

    const recorded = await recordedPids(fp.dataDir, 'victim');
    expect(recorded).toHaveLength(1);
    expect(await (await fetch(settled.url!)).text()).toBe(`${marker} v1\n`);
    expect(await checkInvariants(fp, { runningApps: ['victim'] })).toEqual([]);
    // One instance on the host, as recorded: the one the killed worker started is not left running.
    expect({ doomedAlive: isAlive(doomed[0]!), instances: (await appPids(marker)).length }).toEqual({
      doomedAlive: false,
      instances: 1,
    });
  });

  it('mid-retention: the object is gone but the row is not; the next worker finishes the deletion', async () => {
    await app.createApp(view, 'keeper', `${marker}-keeper`);
    const limits = await view.api('PATCH', '/apps/keeper/limits', { retain_latest: 1 }, 'admin');
    expect(limits.status).toBe(200);
    const old = await app.storeArtifact(view, 'keeper', tarGz({ 'package.json': '{"name":"keeper-1"}' }));
    const oldKey = (await app.getArtifact(view, 'keeper', old)) as app.ArtifactView & { storage_key: string };

    await fp.worker!.kill('SIGKILL');
    const staged = await app.stage(view.api, 'keeper', tarGz({ 'package.json': '{"name":"keeper-2"}' }));
    expect((await app.complete(view.api, 'keeper', staged)).status).toBe(200);
    // Retention waits on the app row; then, past the storage delete, on the event insert.
    const appLock = await holdLock(fp.databaseUrl, [`select id from applications where name = 'keeper' for update`]);
    let eventsLock: Awaited<ReturnType<typeof holdLock>> | undefined;
    try {
      await fp.worker!.start();
      expect(await app.artifactSettled(view, 'keeper', staged.digest)).toMatchObject({ status: 'stored' });
      await appLock.blocked('%from "applications"%for update%');
      eventsLock = await holdLock(fp.databaseUrl, ['lock table artifact_events in share mode']);
      await appLock.release();
      await eventsLock.blocked('insert into "artifact_events"%');
      expect(existsSync(path.join(fp.dataDir, 'objects', oldKey.storage_key))).toBe(false);
      await fp.worker!.kill('SIGKILL');
    } finally {
      await appLock.release();
      await eventsLock?.release();
    }
    // The dead worker's transaction rolled back: a stored row whose object is gone, for now.
    expect((await app.getArtifact(view, 'keeper', old)).status).toBe('stored');

    await fp.worker!.start();
    const gone = await pollUntil(
      () => app.getArtifact(view, 'keeper', old),
      (a) => a.status !== 'stored',
      30_000,
    );
    expect(gone).toMatchObject({ status: 'deleted', failure_reason: null });
    expect((await app.getArtifact(view, 'keeper', staged.digest)).status).toBe('stored');
    expect(await checkInvariants(fp, { runningApps: ['victim'] })).toEqual([]);
    expect(rec.unexpected()).toEqual([]);
  });

  it('mid-scale: the instance the killed worker was starting is stopped by the next one, which finishes the scale', async () => {
    const growerMarker = `${marker}-grower`;
    await app.createApp(view, 'grower', growerMarker);
    const digest = await app.storeArtifact(view, 'grower', app.slowHealthApp(SLOW_HEALTH_MS, 'g'));
    const settled = await app.deploymentSettled(view, await app.deploy(view, 'grower', digest));
    expect(settled).toMatchObject({ status: 'running' });
    const [first] = await appPids(growerMarker);

    const scaled = await view.api('POST', '/apps/grower/scale', { instances: 2 });
    expect(scaled.status).toBe(200);
    // The second instance runs and waits out its slow health: the scale job is mid-way.
    const doomed = (await pollUntil(() => appPids(growerMarker), (pids) => pids.length === 2, 15_000)).find((p) => p !== first);
    expect(doomed).toBeDefined();
    await fp.worker!.kill('SIGKILL');
    await fp.worker!.start();

    // Two instances in the end, both recorded, and not the one the killed worker started.
    const end = await pollUntil(
      async () => ({ host: (await appPids(growerMarker)).length, recorded: (await recordedPids(fp.dataDir, 'grower')).length }),
      (r) => r.host === 2 && r.recorded === 2 && !isAlive(doomed!),
      30_000,
    );
    expect({ ...end, doomedAlive: isAlive(doomed!), firstAlive: isAlive(first!) }).toEqual({ host: 2, recorded: 2, doomedAlive: false, firstAlive: true });
    expect(await checkInvariants(fp)).toEqual([]);
  });
});

import { Job, QueueEvents, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis } from '../../server/queues/connection';
import { tarGz } from '../support/artifacts';
import { startTestPlane, type TestPlane } from '../support/harness';
import { TEST_REDIS_URL } from '../support/redis';
import { pollSettled, stageUpload } from '../support/staged-uploads';

/**
 * A verify worker dies holding a job: nobody releases its lock, nobody moves the job back.
 * BullMQ's stall detection must notice once the lock expires (AETHER_JOB_LOCK_SECS) and hand
 * the job to a live worker, and the artifact must still end `stored`.
 */

const LOCK_SECS = 2;

describe('verify worker killed mid-job', () => {
  let plane: TestPlane;
  const connections: Redis[] = [];
  let events: QueueEvents | undefined;

  beforeAll(async () => {
    plane = await startTestPlane('postgres', { AETHER_JOB_LOCK_SECS: String(LOCK_SECS), AETHER_VERIFY_INLINE: 'false' });
  });
  afterAll(async () => {
    await events?.close();
    for (const c of connections) c.disconnect();
    await plane?.close();
  });

  it('is recovered by stall detection, not by a clean handoff, and the artifact ends stored', async () => {
    const { name: queueName } = plane.services.queues.artifactVerify;
    const prefix = plane.services.env.AETHER_QUEUE_PREFIX;
    await plane.caller('deployer').apps.create({ name: 'crashy' });
    const staged = await stageUpload(plane, 'crashy', tarGz({ 'package.json': '{}', 'index.js': 'crash me' }));

    events = new QueueEvents(queueName, { connection: { url: TEST_REDIS_URL }, prefix });
    await events.waitUntilReady();
    const stalled: string[] = [];
    events.on('stalled', ({ jobId }) => stalled.push(jobId));

    // The doomed worker: takes the job and never finishes it.
    const doomedConn = createRedis(TEST_REDIS_URL);
    connections.push(doomedConn);
    const doomed = new Worker(queueName, () => new Promise<never>(() => {}), {
      connection: doomedConn,
      prefix,
      lockDuration: LOCK_SECS * 1000,
      stalledInterval: LOCK_SECS * 1000,
    });
    doomed.on('error', () => {}); // it is about to lose its connections on purpose
    const active = new Promise<Job>((resolve) => doomed.once('active', (job) => resolve(job)));

    const completed = await plane.caller('deployer').artifacts.complete({ app_name: 'crashy', digest: staged.digest, size_bytes: staged.sizeBytes });
    const job = await active;
    expect(job.id).toBe(`verify-${completed.artifact_id}`);
    expect(await job.getState()).toBe('active');

    // Crash: no lock release, no move back to wait. close(true) stops lock renewal and drops
    // the blocking connection without waiting for the job (bullmq 6.7 Worker.close(force));
    // the shared connection we passed in is cut too, as a dead process would.
    await doomed.close(true);
    doomedConn.disconnect();
    const probe = createRedis(TEST_REDIS_URL);
    connections.push(probe);
    const lockKey = `${prefix}:${queueName}:${job.id}:lock`;
    const ttl = await probe.pttl(lockKey);
    expect(ttl, 'the dead worker left its lock behind, to expire').toBeGreaterThan(0);
    expect(await Job.fromId(plane.services.queues.artifactVerify, job.id!).then((j) => j?.getState())).toBe('active');
    expect((await plane.caller('reader').artifacts.get({ app_name: 'crashy', digest: staged.digest })).status).toBe('verifying');

    const t0 = Date.now();
    plane.startWorkers();
    const settled = await pollSettled(plane, 'crashy', staged.digest, 20_000, 50);
    const recoveredInMs = Date.now() - t0;
    expect(settled.status).toBe('stored');
    // Not before the lock could expire: a clean handoff would have been immediate.
    expect(recoveredInMs).toBeGreaterThan(Math.max(0, ttl - 250));

    const after = await Job.fromId(plane.services.queues.artifactVerify, job.id!);
    expect(after?.attemptsStarted).toBe(2);
    expect(after?.stalledCounter).toBe(1);
    expect(await after?.getState()).toBe('completed');
    await expect.poll(() => stalled, { timeout: 5_000 }).toContain(job.id);
  });
});

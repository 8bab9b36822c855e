import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_DEFS } from '../../server/queues/definitions';
import { requeueInFlightWork } from '../../server/services/recovery.service';
import { tarGz } from '../support/artifacts';
import { DB_KINDS, startTestPlane, type TestPlane } from '../support/harness';
import { pollUntil } from '../support/poll';
import { deletePrefix } from '../support/redis';
import { uploadArtifact } from '../support/upload';

describe.each(DB_KINDS)('recovery after Redis lost its queues, on %s', (kind) => {
  let plane: TestPlane;
  beforeAll(async () => {
    // Verification by the job: a verifying artifact is what must be re-queued.
    plane = await startTestPlane(kind, { AETHER_VERIFY_INLINE: 'false' });
    await plane.caller('deployer').apps.create({ name: 'phoenix' });
  });
  afterAll(async () => plane?.close());

  it('re-queues verifying artifacts and in-flight deployments, which then complete', async () => {
    const app = tarGz({
      'package.json': JSON.stringify({ name: 'phoenix', scripts: { start: 'node index.js' } }),
      'index.js': "require('http').createServer((q, s) => s.end('risen')).listen(process.env.PORT, '127.0.0.1');",
    });
    // No workers yet: the artifact is completed (job queued), then Redis "restarts" empty.
    const { digest } = await uploadArtifact(plane, 'phoenix', app);
    await deletePrefix(plane.services.env.AETHER_QUEUE_PREFIX);
    expect(await plane.services.queues.artifactVerify.count()).toBe(0);

    expect(await requeueInFlightWork(plane.services)).toEqual({ artifacts: 1, deployments: 0 });
    plane.startWorkers();
    expect(await plane.caller('reader').artifacts.wait({ app_name: 'phoenix', digest, timeout_ms: 15_000 })).toMatchObject({ status: 'stored' });

    // Same for a deployment whose rollout job vanished before any worker took it.
    const workersOff = plane.services.queues.rollout;
    await workersOff.pause();
    const { deployment } = await plane.caller('deployer').deployments.create({ app_name: 'phoenix', digest });
    await deletePrefix(`${plane.services.env.AETHER_QUEUE_PREFIX}:rollout`);
    await workersOff.resume();
    expect(await requeueInFlightWork(plane.services)).toEqual({ artifacts: 0, deployments: 1 });
    const done = await plane.caller('reader').deployments.wait({ id: deployment.id, timeout_ms: 30_000 });
    expect(done.status).toBe('running');
    expect(await (await fetch(done.url!)).text()).toBe('risen');
  });

  it('settles as failed a deployment whose rollout job failed for good, instead of leaving it in flight', async () => {
    const app = tarGz({ 'package.json': JSON.stringify({ name: 'phoenix', scripts: { start: 'node index.js' }, version: '2.0.0' }), 'index.js': '' });
    const { digest } = await uploadArtifact(plane, 'phoenix', app);
    expect(await plane.caller('reader').artifacts.wait({ app_name: 'phoenix', digest, timeout_ms: 15_000 })).toMatchObject({ status: 'stored' });
    const rollouts = plane.services.queues.rollout;
    await rollouts.pause();
    const { deployment } = await plane.caller('deployer').deployments.create({ app_name: 'phoenix', digest });
    // Its job replaced by one the processor cannot read: it fails for good, no outage involved.
    const jobId = `rollout-${deployment.id}`;
    await (await rollouts.getJob(jobId))!.remove();
    await rollouts.add(QUEUE_DEFS.rollout.jobName, { deploymentId: 'not-a-uuid' } as never, { jobId, attempts: 1 });
    await rollouts.resume();
    await pollUntil(async () => (await rollouts.getJob(jobId))?.getState(), (state) => state === 'failed', 15_000);
    expect((await plane.caller('reader').deployments.get({ id: deployment.id })).status).toBe('pending');

    expect(await requeueInFlightWork(plane.services)).toEqual({ artifacts: 0, deployments: 0 });
    expect(await plane.caller('reader').deployments.get({ id: deployment.id })).toMatchObject({ status: 'failed', failure_reason: 'internal' });
    const events = await plane.caller('reader').deployments.events({ id: deployment.id });
    expect(events.at(-1)).toMatchObject({ phase: 'failed' });
    expect(events.at(-1)!.message).toMatch(/^internal: its rollout job gave up: /);
    // The release that ran stays running.
    expect((await plane.caller('reader').deployments.list({ app_name: 'phoenix' })).filter((d) => d.status === 'running')).toHaveLength(1);
  });
});

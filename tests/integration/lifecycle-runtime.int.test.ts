import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { envAppArtifact, storeArtifact } from '../support/env-app';
import { suitePlane, type TestPlane } from '../support/harness';
import { pollUntil } from '../support/poll';
import { appPids } from '../support/app-processes';

/**
 * The lifecycle job end to end on the real local runtime, run by the real rollout worker:
 * scale 1 -> 2 gives two app processes, stop leaves none (health `stopped` at once), start
 * brings the two back, restart replaces both; each step is an event of the running deployment.
 * A deploy of the stopped app then runs it with its last count.
 */

/** Waits (bounded) until the deployment's events satisfy `done`, and says so. */
async function eventsUntil(plane: TestPlane, id: string, done: (e: string[]) => boolean, timeoutMs: number): Promise<void> {
  expect(done(await pollUntil(() => events(plane, id), done, timeoutMs))).toBe(true);
}

async function events(plane: TestPlane, id: string): Promise<string[]> {
  return (await plane.caller('reader').deployments.events({ id, after_id: 0 })).map((e) => `${e.phase}: ${e.message}`);
}

describe('the lifecycle job on the local runtime, on pglite', { timeout: 240_000 }, () => {
  const plane = suitePlane('pglite');

  it('scales 1 -> 2 -> 0 -> start -> restart, the processes following', async () => {
    plane().startWorkers();
    const marker = randomUUID();
    const deployer = plane().caller('deployer');
    await deployer.apps.create({ name: 'scale-me' });
    await deployer.config.change({ app_name: 'scale-me', set: { MARKER: marker }, deploy: false });
    await deployer.apps.update({ app_name: 'scale-me', health_path: '/ready', start_command: 'exec node index.js', deploy: false });
    const digest = await storeArtifact(plane(), 'scale-me', envAppArtifact());
    const { deployment } = await deployer.deployments.create({ app_name: 'scale-me', digest });
    const ran = await deployer.deployments.wait({ id: deployment.id, timeout_ms: 30_000 });
    expect(ran.status).toBe('running');
    expect(await appPids(marker)).toHaveLength(1);

    const scaled = await deployer.apps.scale({ app_name: 'scale-me', instances: 2 });
    expect(scaled).toMatchObject({ instances: 2, url: ran.url });
    await eventsUntil(plane(), deployment.id, (e) => e.includes('scale: scaled to 2 instances'), 60_000);
    const two = await appPids(marker);
    expect(two).toHaveLength(2);
    const status = await plane().services.runtime.status({ deploymentId: deployment.id, appName: 'scale-me' });
    expect(status.instances.map((i) => i.ready)).toEqual([true, true]);

    const stopped = await deployer.apps.stop({ app_name: 'scale-me' });
    expect([stopped.instances, stopped.health]).toEqual([0, 'stopped']);
    await eventsUntil(plane(), deployment.id, (e) => e.includes('scale: scaled to 0 instances'), 60_000);
    expect(await appPids(marker)).toEqual([]);

    const started = await deployer.apps.start({ app_name: 'scale-me' });
    expect(started.instances).toBe(2);
    await eventsUntil(plane(), deployment.id, (e) => e.filter((m) => m === 'scale: scaled to 2 instances').length === 2, 60_000);
    const back = await appPids(marker);
    expect(back).toHaveLength(2);

    await deployer.apps.restart({ app_name: 'scale-me' });
    await eventsUntil(plane(), deployment.id, (e) => e.includes('restart: restarted 2 instances'), 90_000);
    const replaced = await appPids(marker);
    expect(replaced).toHaveLength(2);
    expect(replaced.filter((p) => back.includes(p))).toEqual([]);
    const app = await deployer.apps.get({ app_name: 'scale-me' });
    expect([app.instances, app.health]).toEqual([2, 'healthy']);

    // Deploying a stopped app starts it again, with the count it last ran.
    await deployer.apps.stop({ app_name: 'scale-me' });
    await eventsUntil(plane(), deployment.id, (e) => e.filter((m) => m === 'scale: scaled to 0 instances').length === 2, 60_000);
    const next = await storeArtifact(plane(), 'scale-me', envAppArtifact({ 'build.txt': 'second' }));
    const second = (await deployer.deployments.create({ app_name: 'scale-me', digest: next })).deployment;
    expect((await deployer.deployments.wait({ id: second.id, timeout_ms: 30_000 })).status).toBe('running');
    expect(await deployer.apps.get({ app_name: 'scale-me' })).toMatchObject({ instances: 2, health: 'healthy' });
    expect(await appPids(marker)).toHaveLength(2);
  });
});

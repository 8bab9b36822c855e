import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { restoreRunningDeployments } from '../../server/services/deployments/rollout.service';
import { appEnv, envAppArtifact, settle, storeArtifact } from '../support/env-app';
import { DB_KINDS, suitePlane } from '../support/harness';
import { pollUntil } from '../support/poll';

/**
 * After a control-plane restart the runtime brings back what should run: a re-adopted live app
 * and a dead one started again both run with their release's config, secrets opened again.
 */
describe.each(DB_KINDS)('restored and rolled-back releases keep their config and settings, on %s', { timeout: 120_000 }, (kind) => {
  const plane = suitePlane(kind, { AETHER_HEALTH_TIMEOUT_SECS: '60' });
  const secret = `restored-${randomBytes(12).toString('hex')}`;
  const statePid = async () => (JSON.parse(await readFile(path.join(plane().dataDir, 'runtime/state/keeper.json'), 'utf8')) as { instances: Array<{ pid: number }> }).instances[0]!.pid;

  it('re-adopts a live app, and restarts a dead one with the same variables and secrets', async () => {
    plane().startWorkers();
    const deployer = plane().caller('deployer');
    await deployer.apps.create({ name: 'keeper' });
    await deployer.config.change({ app_name: 'keeper', set: { PLAIN: 'kept' }, secrets: { SECRET: secret } });
    const { deployment } = await deployer.deployments.create({ app_name: 'keeper', digest: await storeArtifact(plane(), 'keeper', envAppArtifact()) });
    const running = await settle(plane(), 'trpc', deployment.id);
    expect(running.status, JSON.stringify(await deployer.deployments.events({ id: deployment.id }))).toBe('running');

    const pid = await statePid();
    await restoreRunningDeployments(plane().services);
    expect(await statePid()).toBe(pid);
    expect(await appEnv(running.url, 'SECRET')).toBe(secret);

    // The machine rebooted: the state file is there, the process is not.
    process.kill(-pid, 'SIGKILL');
    await pollUntil(() => fetch(running.url!).then(() => true, () => false), (up) => !up, 5000);
    await restoreRunningDeployments(plane().services);
    const after = await plane().caller('reader').deployments.get({ id: deployment.id });
    expect(after.status, JSON.stringify(await deployer.deployments.events({ id: deployment.id }))).toBe('running');
    expect(await statePid()).not.toBe(pid);
    expect(await appEnv(after.url, 'PLAIN')).toBe('kept');
    expect(await appEnv(after.url, 'SECRET')).toBe(secret);
  });

  it('a rollback restores the settings of its target too (start command)', async () => {
    const deployer = plane().caller('deployer');
    await deployer.apps.create({ name: 'settler' });
    const { deployment } = await deployer.deployments.create({ app_name: 'settler', digest: await storeArtifact(plane(), 'settler', envAppArtifact()) });
    const plain = await settle(plane(), 'trpc', deployment.id);
    expect(await appEnv(plain.url, 'STARTED_BY')).toBeNull();

    const updated = await deployer.apps.update({ app_name: 'settler', start_command: 'STARTED_BY=custom exec node index.js' });
    const custom = await settle(plane(), 'rest', updated.deployment!.id);
    expect(await appEnv(custom.url, 'STARTED_BY')).toBe('custom');

    const { deployment: rolled } = await deployer.deployments.rollback({ app_name: 'settler' });
    const back = await settle(plane(), 'trpc', rolled.id);
    expect(back).toMatchObject({ status: 'running', rollback_of: plain.id });
    expect(await appEnv(back.url, 'STARTED_BY')).toBeNull();
    expect((await deployer.config.list({ app_name: 'settler' })).settings.start_command).toBeNull();
  });
});

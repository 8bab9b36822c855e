import { describe, expect, it } from 'vitest';
import { appEnv, envAppArtifact, settle, storeArtifact } from '../support/env-app';
import { suitePlane } from '../support/harness';

/**
 * A rollback points the app's config at its target's when it starts. When it fails, what keeps
 * serving decides again: the next deploy must not quietly run the config rolled back to.
 */
describe('a failed rollback', { timeout: 180_000 }, () => {
  const plane = suitePlane('pglite', { AETHER_HEALTH_TIMEOUT_SECS: '60' });

  it('leaves the config pointer on the release that keeps serving', async () => {
    plane().startWorkers();
    const deployer = plane().caller('deployer');
    await deployer.apps.create({ name: 'steady' });
    const digest = await storeArtifact(plane(), 'steady', envAppArtifact());
    await deployer.config.change({ app_name: 'steady', set: { GREETING: 'one' } });
    const first = await settle(plane(), 'trpc', (await deployer.deployments.create({ app_name: 'steady', digest })).deployment.id);
    expect(first.status).toBe('running');
    const changed = await deployer.config.change({ app_name: 'steady', set: { GREETING: 'two' } });
    const second = await settle(plane(), 'trpc', changed.deployment!.id);
    expect([second.status, await appEnv(second.url, 'GREETING')]).toEqual(['running', 'two']);

    // The artifact's object is gone: the rollback's fetch fails, the running release stays.
    const { storage_key } = await deployer.artifacts.get({ app_name: 'steady', digest });
    await plane().services.storage.delete(storage_key);
    const { deployment } = await deployer.deployments.rollback({ app_name: 'steady' });
    expect((await deployer.config.list({ app_name: 'steady' })).version).toBe(2); // moved while it runs
    const rolled = await settle(plane(), 'trpc', deployment.id);
    expect([rolled.status, rolled.failure_reason]).toEqual(['failed', 'fetch_failed']);

    const config = await deployer.config.list({ app_name: 'steady' });
    expect(config).toMatchObject({ version: 3, running_version: 3, staged: false });
    expect(config.entries.find((e) => e.name === 'GREETING')?.value).toBe('two');
    expect(await appEnv(second.url, 'GREETING')).toBe('two');
  });
});

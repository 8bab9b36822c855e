import { eq } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { deployments } from '../../db/schema';
import { createQueues } from '../../server/queues/producers';
import { createInnerContext } from '../../server/trpc/init';
import { createCaller } from '../../server/trpc/root';
import { envAppArtifact, storeArtifact } from '../support/env-app';
import { suitePlane } from '../support/harness';
import { TEST_REDIS_URL } from '../support/redis';

/**
 * A deploying config change whose rollout cannot be queued: the version is written (one
 * transaction with its deployment), so the caller must learn that it is saved and staged and
 * how to roll it out. "Deploy again" sent them to set it again, which for a plain value changes
 * nothing and deploys nothing.
 */
describe('a config change while the job queue is down, on pglite', { timeout: 60_000 }, () => {
  const plane = suitePlane('pglite');

  it('refuses as service_unavailable naming the saved version and `config deploy`; the change is staged', async () => {
    const deployer = plane().caller('deployer');
    await deployer.apps.create({ name: 'queue-down' });
    const digest = await storeArtifact(plane(), 'queue-down', envAppArtifact());
    const { deployment } = await deployer.deployments.create({ app_name: 'queue-down', digest });
    await plane().services.db.update(deployments).set({ status: 'running' }).where(eq(deployments.id, deployment.id));

    // Real queues on a real Redis connection, closed once they are ready: every add fails.
    const dead = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    const queues = createQueues(dead, plane().services.queues.prefix);
    await queues.rollout.waitUntilReady();
    dead.disconnect();
    try {
      const svc = { ...plane().services, queues };
      const down = createCaller(createInnerContext(svc, { name: 'deployer-user', role: 'deployer', tokenId: null, teams: null }));
      const err = await down.config.change({ app_name: 'queue-down', set: { GREETING: 'hello' } }).then(
        () => null,
        (e: unknown) => e as Error & { code?: string },
      );
      expect(err?.message).toBe(
        'config v2 of app "queue-down" is saved but its rollout could not be queued (job queue unavailable): it is staged; run `aether config deploy --app queue-down` (config.deploy) once the queue is back',
      );
      const view = await deployer.config.list({ app_name: 'queue-down' });
      expect(view).toMatchObject({ version: 2, staged: true, staged_changes: { set: ['GREETING'], unset: [], settings: [] } });
      // What the message says works: the staged change goes out.
      const { created } = await deployer.config.deploy({ app_name: 'queue-down' });
      expect(created).toBe(true);
    } finally {
      await queues.close().catch(() => {});
      dead.disconnect();
    }
  });
});

import postgres from 'postgres';
import { and, eq, inArray } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { artifacts, deployments, IN_FLIGHT_DEPLOYMENT_STATUSES } from '../../db/schema';
import { envAppArtifact, storeArtifact } from '../support/env-app';
import { suitePlane } from '../support/harness';
import { pollUntil } from '../support/poll';
import { trpcCodeOf } from '../support/trpc-code';

/**
 * An artifact deploy read the app's config pointer before any lock, then inserted its
 * deployment: a config change (or rollback) committing in between was not seen by it, and the
 * deploy did not exist yet for the change's in-flight check. Two releases went out at once, the
 * artifact's with the config from before the change, so whichever settled last decided what ran
 * (a secret just unset or replaced could come back). Postgres only: the test holds a row lock
 * from a second connection to stop the deploy between its read and its insert.
 */
describe('an artifact deploy racing a config change, on postgres', { timeout: 60_000 }, () => {
  const plane = suitePlane('postgres');

  it('the two are ordered by the app lock: the deploy carries the pointer it saw under the lock, the change is refused while it is in flight', async () => {
    const { db } = plane().services;
    const deployer = plane().caller('deployer');
    const app = await deployer.apps.create({ name: 'race-deploy' });
    await deployer.config.change({ app_name: 'race-deploy', secrets: { API_KEY: 'leaked-key' } });
    const digestA = await storeArtifact(plane(), 'race-deploy', envAppArtifact({ 'a.txt': 'a' }));
    const digestB = await storeArtifact(plane(), 'race-deploy', envAppArtifact({ 'b.txt': 'b' }));
    // A runs (no worker here: marked running directly, as a finished rollout leaves it).
    const first = await deployer.deployments.create({ app_name: 'race-deploy', digest: digestA });
    await db.update(deployments).set({ status: 'running' }).where(eq(deployments.id, first.deployment.id));

    const [artifactB] = await db.select({ id: artifacts.id }).from(artifacts).where(and(eq(artifacts.appId, app.id), eq(artifacts.digest, digestB)));
    const holder = postgres(plane().services.env.DATABASE_URL!, { max: 1, onnotice: () => {} });
    try {
      let release!: () => void;
      const releaseSignal = new Promise<void>((r) => (release = r));
      let locked!: () => void;
      const lockTaken = new Promise<void>((r) => (locked = r));
      const held = holder.begin(async (sql) => {
        await sql`select id from artifacts where id = ${artifactB!.id} for update`;
        locked();
        await releaseSignal;
      });
      await lockTaken;
      // The deploy of B stops at the artifact's share lock, between its read and its insert.
      const deploying = deployer.deployments.create({ app_name: 'race-deploy', digest: digestB });
      const waiting = postgres(plane().services.env.DATABASE_URL!, { max: 1, onnotice: () => {} });
      await pollUntil(
        async () => (await waiting`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()`)[0]!.n as number,
        (n) => n > 0,
        10_000,
      ).finally(() => waiting.end());
      // Meanwhile the leaked key is replaced, deployed with what runs (A).
      const changing = trpcCodeOf(() => deployer.config.change({ app_name: 'race-deploy', secrets: { API_KEY: 'fresh-key' } }));
      await new Promise((r) => setTimeout(r, 300));
      release();
      await held;
      const deployed = await deploying;
      const changeCode = await changing;

      const pointer = (await deployer.config.list({ app_name: 'race-deploy' })).version;
      const inFlight = await db
        .select({ id: deployments.id, configVersionId: deployments.configVersionId })
        .from(deployments)
        .where(and(eq(deployments.appId, app.id), inArray(deployments.status, [...IN_FLIGHT_DEPLOYMENT_STATUSES])));
      // One release in flight, never two racing to be the last one standing.
      expect(inFlight.map((d) => d.id)).toEqual([deployed.deployment.id]);
      // The change, made while B was in flight, is refused like any deploying change then.
      expect(changeCode).toBe('CONFLICT');
      expect(pointer).toBe(2);
    } finally {
      await holder.end();
    }
  });
});

import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { applications, deploymentEvents, deployments } from '../../db/schema';
import type { RuntimeDriver, RuntimeStatus } from '../../server/runtime/port';
import { recordHealth, refreshHealthFromRuntime } from '../../server/services/apps/health.service';
import { actor, callerAs } from '../support/audit';
import { DB_KINDS, suitePlane, type TestPlane } from '../support/harness';
import { createTargetApp } from '../support/team-fixtures';

/**
 * Health reports from a runtime: recorded only for the app's running deployment (an old or
 * replaced one's report is ignored), with the app's output masked by its release's secrets,
 * and shown on the app object; and the poll the Kubernetes driver needs (status per app).
 */

const SECRET = 'hunter2-health-canary-value';

async function healthEvents(plane: TestPlane, deploymentId: string) {
  const rows = await plane.services.db.select().from(deploymentEvents).where(eq(deploymentEvents.deploymentId, deploymentId));
  return rows.filter((e) => e.phase === 'health').map((e) => e.message);
}

async function appHealth(plane: TestPlane, name: string) {
  const [row] = await plane.services.db.select().from(applications).where(eq(applications.name, name));
  return [row!.health, row!.healthMessage, row!.healthChangedAt !== null];
}

for (const kind of DB_KINDS) {
  describe(`app health records, on ${kind}`, { timeout: 60_000 }, () => {
    const plane = suitePlane(kind);

    it('records a report of the running deployment, masking its secrets in the quoted output', async () => {
      const t = await createTargetApp(plane().services, 'default');
      const admin = callerAs(plane().services, actor('admin'));
      await admin.config.change({ app_name: t.app, secrets: { DB_PASSWORD: SECRET }, deploy: false });
      const [v] = await plane().services.db.select().from(applications).where(eq(applications.name, t.app));
      await plane().services.db.update(deployments).set({ configVersionId: v!.configVersionId! }).where(eq(deployments.id, t.deploymentId));

      const counted = await recordHealth(plane().services, {
        appName: t.app,
        deploymentId: t.deploymentId,
        health: 'restarting',
        message: 'instance 0 exited (code 1); restarting in 1 s',
        instance: '0',
        outputTail: ['connecting', `error: password ${SECRET} refused`],
      });
      expect(counted).toBe(true);
      expect(await healthEvents(plane(), t.deploymentId)).toEqual([
        'restarting: instance 0 exited (code 1); restarting in 1 s\n--- last output ---\nconnecting\nerror: password [secret] refused',
      ]);
      expect(await appHealth(plane(), t.app)).toEqual(['restarting', 'instance 0 exited (code 1); restarting in 1 s', true]);
      const app = await plane().caller('reader').apps.get({ app_name: t.app });
      expect([app.health, app.health_message]).toEqual(['restarting', 'instance 0 exited (code 1); restarting in 1 s']);
    });

    it('ignores a report about a deployment that is not the running one', async () => {
      const t = await createTargetApp(plane().services, 'default');
      const db = plane().services.db;
      const [running] = await db.select().from(deployments).where(eq(deployments.id, t.deploymentId));
      const [old] = await db
        .insert(deployments)
        .values({ appId: running!.appId, artifactId: running!.artifactId, digest: running!.digest, configVersionId: running!.configVersionId, status: 'superseded', createdBy: 'test' })
        .returning();
      const stale = { appName: t.app, deploymentId: old!.id, health: 'crash_loop' as const, message: 'old release gone' };
      expect(await recordHealth(plane().services, stale)).toBe(false);
      // Another app's running deployment, named with this app: not this app's release either.
      const other = await createTargetApp(plane().services, 'default');
      expect(await recordHealth(plane().services, { ...stale, deploymentId: other.deploymentId })).toBe(false);
      expect(await recordHealth(plane().services, { ...stale, appName: 'no-such-app', deploymentId: t.deploymentId })).toBe(false);
      expect(await healthEvents(plane(), old!.id)).toEqual([]);
      expect(await healthEvents(plane(), t.deploymentId)).toEqual([]);
      expect(await healthEvents(plane(), other.deploymentId)).toEqual([]);
      expect(await appHealth(plane(), t.app)).toEqual([null, null, false]);
    });

    it('refreshes health from the runtime status of each running release, recording only changes', async () => {
      const a = await createTargetApp(plane().services, 'default');
      const b = await createTargetApp(plane().services, 'default');
      const statuses = new Map<string, RuntimeStatus | Error>([
        [a.deploymentId, { health: 'degraded', instances: [{ id: 'pod-1', ready: true, restarts: 0 }, { id: 'pod-2', ready: false, restarts: 3 }] }],
        [b.deploymentId, new Error('pods unreadable')],
      ]);
      // The Kubernetes driver's status, as its pods would give it: only status() is asked.
      const runtime = {
        kind: 'kubernetes',
        status: async (target: { deploymentId: string }) => {
          const s = statuses.get(target.deploymentId) ?? { health: 'healthy', instances: [] };
          if (s instanceof Error) throw s;
          return s;
        },
      } as unknown as RuntimeDriver;
      const svc = { ...plane().services, runtime };
      await refreshHealthFromRuntime(svc);
      expect(await healthEvents(plane(), a.deploymentId)).toEqual(['degraded: 1/2 instances ready, 3 restarts']);
      expect(await appHealth(plane(), a.app)).toEqual(['degraded', '1/2 instances ready, 3 restarts', true]);
      expect(await appHealth(plane(), b.app)).toEqual([null, null, false]);
      // Unchanged: no second event.
      await refreshHealthFromRuntime(svc);
      expect(await healthEvents(plane(), a.deploymentId)).toHaveLength(1);
    });
  });
}

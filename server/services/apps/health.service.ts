import { and, eq } from 'drizzle-orm';
import { applications, deployments } from '../../../db/schema';
import { deploymentTopic } from '../../queues/notifier';
import type { HealthReport, RuntimeStatus } from '../../runtime/port';
import type { Services } from '../context';
import { getConfigVersion } from '../config/config-versions';
import { releaseEnv, secretMasker } from '../config/release-runtime';
import { addDeploymentEvent } from '../deployments/deployments.repo';
import { findCurrentDeployment } from '../deployments/rollback-target';

type HealthServices = Pick<Services, 'db' | 'secrets' | 'notifier' | 'log'>;

/** Most output lines a health event quotes: enough to see why, not a log dump. */
const TAIL_LINES = 20;

/**
 * Records a change of an app's health pushed by its runtime: the app's health fields and a
 * `health` event on the running deployment. A report about a deployment that is no longer
 * the app's running one (an old release draining, a rollout not yet switched) is ignored.
 * Output quoted from the app is masked with its release's secrets. Returns whether it counted.
 */
export async function recordHealth(svc: HealthServices, report: HealthReport): Promise<boolean> {
  const recorded = await svc.db.transaction(async (tx) => {
    const [app] = await tx.select().from(applications).where(eq(applications.name, report.appName)).for('update');
    if (!app) return false;
    const current = await findCurrentDeployment(tx, app.id);
    if (!current || current.id !== report.deploymentId) return false;
    // Stopped on purpose: a report read before the stop (a sweep, an exit being handled) is stale.
    if (app.instances === 0 && report.health !== 'stopped') return false;
    const config = await getConfigVersion(tx, current.configVersionId);
    const mask = secretMasker(config, releaseEnv(svc.secrets, config));
    const message = mask(report.message);
    const tail = report.outputTail?.slice(-TAIL_LINES) ?? [];
    const quoted = tail.length ? `\n--- last output ---\n${mask(tail.join('\n'))}` : '';
    await tx.update(applications).set({ health: report.health, healthMessage: message, healthChangedAt: new Date() }).where(eq(applications.id, app.id));
    await addDeploymentEvent(tx, current.id, { phase: 'health', message: `${report.health}: ${message}${quoted}` });
    return true;
  });
  if (!recorded) {
    svc.log.debug('stale health report ignored', { app: report.appName, deploymentId: report.deploymentId, health: report.health });
    return false;
  }
  await svc.notifier.publish(deploymentTopic(report.deploymentId));
  return true;
}

/** "2/3 instances ready, 4 restarts": what a runtime's status says, in plain words. */
export function describeStatus(status: RuntimeStatus): string {
  const ready = status.instances.filter((i) => i.ready).length;
  const restarts = status.instances.reduce((n, i) => n + i.restarts, 0);
  const of = `${ready}/${status.instances.length} instance${status.instances.length === 1 ? '' : 's'} ready`;
  return restarts > 0 ? `${of}, ${restarts} restart${restarts === 1 ? '' : 's'}` : of;
}

/**
 * Asks the runtime how each running release is doing and records what changed: the
 * Kubernetes driver pushes nothing, so the maintenance sweep polls it. One app the runtime
 * cannot answer for does not stop the others. Returns how many apps' health changed.
 */
export async function refreshHealthFromRuntime(svc: HealthServices & Pick<Services, 'runtime'>): Promise<number> {
  const running = await svc.db
    .select({ deploymentId: deployments.id, appName: applications.name, health: applications.health, instances: applications.instances })
    .from(deployments)
    .innerJoin(applications, eq(applications.id, deployments.appId))
    .where(and(eq(deployments.status, 'running')));
  let changed = 0;
  for (const r of running) {
    try {
      const status = await svc.runtime.status({ deploymentId: r.deploymentId, appName: r.appName });
      // A stopped app's health was recorded by the stop itself.
      if (status.health === r.health || (r.instances === 0 && r.health === 'stopped')) continue;
      if (await recordHealth(svc, { appName: r.appName, deploymentId: r.deploymentId, health: status.health, message: describeStatus(status) })) changed++;
    } catch (err) {
      svc.log.warn('health refresh failed for an app', { app: r.appName, deploymentId: r.deploymentId, error: String(err) });
    }
  }
  return changed;
}

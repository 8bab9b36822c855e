import { eq } from 'drizzle-orm';
import { applications } from '../../../db/schema';
import type { LifecyclePayload } from '../../queues/definitions';
import { deploymentTopic } from '../../queues/notifier';
import type { Services } from '../context';
import { addDeploymentEvent } from '../deployments/deployments.repo';
import { findCurrentDeployment } from '../deployments/rollback-target';
import { releaseOf } from '../deployments/rollout.service';
import { describeStatus, recordHealth } from './health.service';

type LifecycleServices = Pick<Services, 'db' | 'env' | 'secrets' | 'runtime' | 'notifier' | 'log'>;

const plural = (n: number) => `${n} instance${n === 1 ? '' : 's'}`;

/**
 * The lifecycle job: makes the runtime run the app's current release at its desired count
 * (scale), or replace each instance in turn (restart). Both are recorded as an event of that
 * deployment; a failure too (masked), and the job fails. Nothing running: nothing to do.
 */
export async function runLifecycle(svc: LifecycleServices, job: LifecyclePayload): Promise<void> {
  const [app] = await svc.db.select().from(applications).where(eq(applications.id, job.appId)).limit(1);
  const current = app ? await findCurrentDeployment(svc.db, app.id) : undefined;
  if (!app || !current) {
    svc.log.info('lifecycle job skipped: nothing runs', { appId: job.appId, action: job.action });
    return;
  }
  const { target, mask } = await releaseOf(svc, current, app.name);
  const n = target.instances ?? 1;
  const changed = () => svc.notifier.publish(deploymentTopic(current.id));
  try {
    const status = job.action === 'scale' ? await svc.runtime.scale(target) : await svc.runtime.restart(target);
    const message = job.action === 'scale' ? `scaled to ${plural(n)}` : `restarted ${plural(n)}`;
    await addDeploymentEvent(svc.db, current.id, { phase: job.action, message });
    // A stop recorded `stopped` already; otherwise the runtime's view is the app's health now
    // (its message too: "2 of 2 ready" after a scale from 1 is news even when still healthy).
    const described = describeStatus(status);
    if (n > 0 && (status.health !== app.health || described !== app.healthMessage)) {
      await recordHealth(svc, { appName: app.name, deploymentId: current.id, health: status.health, message: described });
    }
  } catch (err) {
    const why = mask(err instanceof Error ? err.message : String(err));
    await addDeploymentEvent(svc.db, current.id, { phase: job.action, message: `${job.action} to ${plural(n)} failed: ${why}` });
    await changed();
    throw err;
  }
  await changed();
}

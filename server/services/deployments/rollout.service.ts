import { and, eq, ne } from 'drizzle-orm';
import { applications, artifacts, deployments } from '../../../db/schema';
import { deploymentTopic } from '../../queues/notifier';
import { RolloutError, type RuntimeDeployment } from '../../runtime/port';
import { maxUnpackedBytesOf } from '../artifacts/quota';
import type { Services } from '../context';
import { addDeploymentEvent, getDeploymentWithApp, transitionDeployment } from './deployments.repo';

type RolloutServices = Pick<Services, 'db' | 'env' | 'runtime' | 'log' | 'metrics' | 'notifier'>;

async function runtimeDeploymentOf(svc: Pick<Services, 'db' | 'env'>, deploymentId: string, appName: string, artifactId: string, digest: string): Promise<RuntimeDeployment> {
  const [artifact] = await svc.db
    .select({ storageKey: artifacts.storageKey, appMaxUnpackedBytes: applications.maxUnpackedBytes })
    .from(artifacts)
    .innerJoin(applications, eq(applications.id, artifacts.appId))
    .where(eq(artifacts.id, artifactId))
    .limit(1);
  if (!artifact) throw new Error(`artifact ${artifactId} of deployment ${deploymentId} is gone`);
  const maxUnpackedBytes = maxUnpackedBytesOf({ maxUnpackedBytes: artifact.appMaxUnpackedBytes }, svc.env);
  return { deploymentId, appName, digest, storageKey: artifact.storageKey, maxUnpackedBytes };
}

/**
 * Runs one deployment: pending -> rolling_out -> running | failed. The runtime driver reports
 * each phase, recorded as an event with its duration. On success the app's previous running
 * deployment becomes `superseded`; on failure the previous one keeps serving.
 */
export async function runRollout(svc: RolloutServices, deploymentId: string): Promise<void> {
  const { deployment, appName } = await getDeploymentWithApp(svc.db, deploymentId);
  // From rolling_out too: a job re-run after its worker died mid-rollout resumes the deployment
  // (the driver re-adopts an instance that already came up) instead of leaving it stuck.
  const started = await transitionDeployment(svc.db, deploymentId, ['pending', 'rolling_out'], 'rolling_out', { rolloutStartedAt: new Date() }, {
    phase: 'rolling_out',
    message: `${deployment.status === 'rolling_out' ? 'resuming' : 'rolling out'} ${deployment.digest.slice(0, 12)}`,
    // How long it waited for a worker since it was created.
    durationMs: Math.max(0, Date.now() - deployment.createdAt.getTime()),
  });
  if (!started) {
    svc.log.warn('rollout skipped: deployment already settled', { deploymentId, status: deployment.status });
    return;
  }
  // Every change wakes whoever long-polls this deployment (the CLI following a deploy).
  const changed = () => svc.notifier.publish(deploymentTopic(deploymentId));
  await changed();
  const t0 = Date.now();
  const target = await runtimeDeploymentOf(svc, deploymentId, appName, deployment.artifactId, deployment.digest);
  // Phase events are written in order but off the rollout's path: a write and a publish per
  // phase cost more than some phases. All are in before the outcome is written.
  let recorded: Promise<void> = Promise.resolve();
  try {
    const { url } = await svc.runtime.rollout(target, async (p) => {
      const event = { phase: p.phase, message: p.message, durationMs: Math.round(p.durationMs) };
      // A lost phase event must not fail a rollout: the outcome's transition is the record.
      recorded = recorded
        .then(() => addDeploymentEvent(svc.db, deploymentId, event))
        .then(changed)
        .catch((err: unknown) => svc.log.warn('could not record a rollout phase', { deploymentId, phase: p.phase, error: String(err) }));
    });
    await recorded;
    await svc.db.transaction(async (tx) => {
      await transitionDeployment(tx, deploymentId, ['rolling_out'], 'running', { url, rolloutCompletedAt: new Date() }, {
        phase: 'running',
        message: `answering at ${url}`,
        durationMs: Date.now() - t0,
      });
      const replaced = await tx
        .select({ id: deployments.id })
        .from(deployments)
        .where(and(eq(deployments.appId, deployment.appId), eq(deployments.status, 'running'), ne(deployments.id, deploymentId)));
      // A rollback's predecessor was judged bad: it is `rolled_back`, and never a rollback target.
      const [to, message] = deployment.rollbackOf
        ? (['rolled_back', `rolled back to ${deployment.rollbackOf} by ${deploymentId}`] as const)
        : (['superseded', `replaced by ${deploymentId}`] as const);
      for (const old of replaced) await transitionDeployment(tx, old.id, ['running'], to, {}, { phase: to, message });
    });
    await changed();
    svc.metrics.rollouts.inc({ outcome: 'running' });
  } catch (err) {
    const reason = err instanceof RolloutError ? err.reason : 'internal';
    const tail = err instanceof RolloutError && err.outputTail.length ? `\n--- last output ---\n${err.outputTail.join('\n')}` : '';
    const message = err instanceof Error ? err.message : String(err);
    svc.log.warn('rollout failed', { deploymentId, reason, message });
    await recorded; // the phases that did happen come before the failure
    await svc.db.transaction((tx) =>
      transitionDeployment(tx, deploymentId, ['rolling_out'], 'failed', { failureReason: reason, rolloutCompletedAt: new Date() }, {
        phase: 'failed',
        message: `${reason}: ${message}${tail}`,
        durationMs: Date.now() - t0,
      }),
    );
    await changed();
    svc.metrics.rollouts.inc({ outcome: 'failed' });
  } finally {
    svc.metrics.rolloutDuration.observe((Date.now() - t0) / 1000);
  }
}

/**
 * After a control-plane restart: everything the database says is running is made to run
 * again (re-adopted when still alive). What cannot be brought back is marked failed, so the
 * status never claims an app answers when it does not.
 */
export async function restoreRunningDeployments(svc: RolloutServices): Promise<void> {
  const rows = await svc.db.select().from(deployments).where(eq(deployments.status, 'running'));
  if (rows.length === 0) return;
  const desired: RuntimeDeployment[] = [];
  for (const d of rows) {
    const { appName } = await getDeploymentWithApp(svc.db, d.id);
    desired.push(await runtimeDeploymentOf(svc, d.id, appName, d.artifactId, d.digest));
  }
  const outcomes = await svc.runtime.restore(desired);
  for (const o of outcomes) {
    if (o.error) {
      await svc.db.transaction((tx) =>
        transitionDeployment(tx, o.deploymentId, ['running'], 'failed', { failureReason: 'restore_failed' }, { phase: 'failed', message: `restore after restart failed: ${o.error}` }),
      );
    } else if (o.url) {
      await svc.db.update(deployments).set({ url: o.url }).where(eq(deployments.id, o.deploymentId));
    }
  }
  svc.log.info('runtime restored', { total: outcomes.length, failed: outcomes.filter((o) => o.error).length });
}

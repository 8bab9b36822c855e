import { eq, inArray } from 'drizzle-orm';
import { artifacts, deployments, IN_FLIGHT_DEPLOYMENT_STATUSES } from '../../db/schema';
import { requeueArtifactVerify, requeueRollout, type Requeued } from '../queues/producers';
import { failArtifactVerification } from './artifacts/verify.service';
import type { Services } from './context';
import { transitionDeployment } from './deployments/deployments.repo';

/** How much of a job's failure reason a deployment or artifact event quotes. */
const REASON_CHARS = 300;

/**
 * Re-queues work the database says is in flight but no job carries: at process start (our
 * Redis keeps nothing on disk, so a Redis restart loses every queued job) and at each
 * maintenance sweep (a job whose retries an outage or a lost worker outlasted). Work whose job
 * failed for good settles as failed, so nothing stays in flight forever. Counts what it re-queued.
 */
export async function requeueInFlightWork(svc: Pick<Services, 'db' | 'queues' | 'log'>): Promise<{ artifacts: number; deployments: number }> {
  const verifying = await svc.db.select({ id: artifacts.id }).from(artifacts).where(eq(artifacts.status, 'verifying'));
  const inFlight = await svc.db
    .select({ id: deployments.id })
    .from(deployments)
    .where(inArray(deployments.status, [...IN_FLIGHT_DEPLOYMENT_STATUSES]))
    .orderBy(deployments.createdAt);
  // One that cannot be re-queued now must not keep the others from it: the next sweep tries again.
  const failures: string[] = [];
  const attempt = async (what: string, requeue: () => Promise<Requeued>, giveUp: (reason: string) => Promise<unknown>) => {
    try {
      const r = await requeue();
      if (r.outcome === 'gave_up') await giveUp(r.reason.slice(0, REASON_CHARS));
      return r.outcome === 'queued';
    } catch (err) {
      failures.push(`${what}: ${String(err)}`);
      return false;
    }
  };
  let requeuedArtifacts = 0;
  for (const { id } of verifying) {
    const queued = await attempt(
      `artifact ${id}`,
      () => requeueArtifactVerify(svc.queues, { artifactId: id }),
      (reason) => failArtifactVerification(svc, id, `verification gave up: ${reason}`),
    );
    if (queued) requeuedArtifacts++;
  }
  let requeuedDeployments = 0;
  for (const { id } of inFlight) {
    const queued = await attempt(
      `deployment ${id}`,
      () => requeueRollout(svc.queues, { deploymentId: id }),
      (reason) =>
        transitionDeployment(svc.db, id, [...IN_FLIGHT_DEPLOYMENT_STATUSES], 'failed', { failureReason: 'internal', rolloutCompletedAt: new Date() }, {
          phase: 'failed',
          message: `internal: its rollout job gave up: ${reason}`,
        }),
    );
    if (queued) requeuedDeployments++;
  }
  if (requeuedArtifacts || requeuedDeployments) {
    svc.log.info('re-queued in-flight work', { artifacts: requeuedArtifacts, deployments: requeuedDeployments });
  }
  if (failures.length) svc.log.warn('could not re-queue in-flight work', { count: failures.length, first: failures[0] });
  return { artifacts: requeuedArtifacts, deployments: requeuedDeployments };
}

import { eq, inArray } from 'drizzle-orm';
import { artifacts, deployments, IN_FLIGHT_DEPLOYMENT_STATUSES } from '../../db/schema';
import { requeueArtifactVerify, requeueRollout } from '../queues/producers';
import type { Services } from './context';

/**
 * Re-queues work the database says is in flight but no job carries: at process start (our
 * Redis keeps nothing on disk, so a Redis restart loses every queued job) and at each
 * maintenance sweep (a job whose retries an outage outlasted). Counts what it re-queued.
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
  const attempt = async (what: string, requeue: () => Promise<boolean>) =>
    requeue().catch((err: unknown) => (failures.push(`${what}: ${String(err)}`), false));
  let requeuedArtifacts = 0;
  for (const a of verifying) if (await attempt(`artifact ${a.id}`, () => requeueArtifactVerify(svc.queues, { artifactId: a.id }))) requeuedArtifacts++;
  let requeuedDeployments = 0;
  for (const d of inFlight) if (await attempt(`deployment ${d.id}`, () => requeueRollout(svc.queues, { deploymentId: d.id }))) requeuedDeployments++;
  if (requeuedArtifacts || requeuedDeployments) {
    svc.log.info('re-queued in-flight work', { artifacts: requeuedArtifacts, deployments: requeuedDeployments });
  }
  if (failures.length) svc.log.warn('could not re-queue in-flight work', { count: failures.length, first: failures[0] });
  return { artifacts: requeuedArtifacts, deployments: requeuedDeployments };
}

import { eq, inArray } from 'drizzle-orm';
import { artifacts, deployments, IN_FLIGHT_DEPLOYMENT_STATUSES } from '../../db/schema';
import { enqueueArtifactVerify, enqueueRollout } from '../queues/producers';
import type { Services } from './context';

/**
 * At process start, re-queues work the database says is in flight. Our Redis keeps nothing on
 * disk, so a Redis restart loses every queued job; job ids are derived from the entity, so
 * re-queuing work whose job still exists is a no-op.
 */
export async function requeueInFlightWork(svc: Pick<Services, 'db' | 'queues' | 'log'>): Promise<{ artifacts: number; deployments: number }> {
  const verifying = await svc.db.select({ id: artifacts.id }).from(artifacts).where(eq(artifacts.status, 'verifying'));
  for (const a of verifying) await enqueueArtifactVerify(svc.queues, { artifactId: a.id });
  const inFlight = await svc.db
    .select({ id: deployments.id })
    .from(deployments)
    .where(inArray(deployments.status, [...IN_FLIGHT_DEPLOYMENT_STATUSES]))
    .orderBy(deployments.createdAt);
  for (const d of inFlight) await enqueueRollout(svc.queues, { deploymentId: d.id });
  if (verifying.length || inFlight.length) svc.log.info('re-queued in-flight work', { artifacts: verifying.length, deployments: inFlight.length });
  return { artifacts: verifying.length, deployments: inFlight.length };
}

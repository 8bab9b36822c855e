import type { Job } from 'bullmq';
import { QUEUE_DEFS, type JobPayload } from '../../server/queues/definitions';
import type { Services } from '../../server/services/context';
import { runRollout } from '../../server/services/deployments/rollout.service';

export function rolloutProcessor(svc: Services) {
  return async (job: Job<JobPayload<'rollout'>>) => {
    const { deploymentId } = QUEUE_DEFS.rollout.payload.parse(job.data);
    await runRollout(svc, deploymentId);
  };
}

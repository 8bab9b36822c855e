import { UnrecoverableError, type Job } from 'bullmq';
import { safeErrorMessage } from '../../server/logger';
import { asJobFailure } from '../../server/outage';
import { LIFECYCLE_JOB, QUEUE_DEFS, type JobPayload, type LifecyclePayload } from '../../server/queues/definitions';
import type { Services } from '../../server/services/context';
import { runLifecycle } from '../../server/services/apps/lifecycle-job.service';
import { runRollout } from '../../server/services/deployments/rollout.service';

/** The rollout queue: rollouts, and scale/restart jobs serialised with them. */
export function rolloutProcessor(svc: Services) {
  return async (job: Job<JobPayload<'rollout'> | LifecyclePayload>) => {
    if (job.name === LIFECYCLE_JOB.jobName) return runLifecycle(svc, LIFECYCLE_JOB.payload.parse(job.data));
    const { deploymentId } = QUEUE_DEFS.rollout.payload.parse(job.data);
    await runRollout(svc, deploymentId).catch((err: unknown) => {
      const failure = asJobFailure(err);
      if (failure !== err || !(err instanceof Error)) throw failure;
      // Not an outage (a missing deployment, a bug): a retry would fail the same way.
      throw Object.assign(new UnrecoverableError(safeErrorMessage(err)), { stack: err.stack, cause: err });
    });
  };
}

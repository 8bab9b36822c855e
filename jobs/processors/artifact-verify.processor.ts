import { UnrecoverableError, type Job } from 'bullmq';
import { safeErrorMessage } from '../../server/logger';
import { asJobFailure, unavailableDependency } from '../../server/outage';
import { QUEUE_DEFS, type JobPayload } from '../../server/queues/definitions';
import type { Services } from '../../server/services/context';
import { failArtifactVerification, verifyArtifact } from '../../server/services/artifacts/verify.service';

export function artifactVerifyProcessor(svc: Services) {
  return async (job: Job<JobPayload<'artifactVerify'>>) => {
    const payload = QUEUE_DEFS.artifactVerify.payload.safeParse(job.data);
    // A malformed payload will not get better with retries.
    if (!payload.success) throw new UnrecoverableError(`bad payload: ${payload.error.message}`);
    return verifyArtifact(svc, payload.data.artifactId).catch((err: unknown) => {
      const failure = asJobFailure(err);
      // BullMQ keeps the message (failedReason): not a failed query's parameters.
      if (failure === err && err instanceof Error) err.message = safeErrorMessage(err);
      throw failure;
    });
  };
}

/**
 * After the last attempt fails, the artifact is marked failed; but not for an outage (the
 * database, the queue or the store unreachable): its bytes are fine, and the maintenance sweep
 * runs the job again once the dependency is back.
 */
export function onArtifactVerifyExhausted(svc: Services) {
  return async (job: Job<JobPayload<'artifactVerify'>> | undefined, err: Error) => {
    if (!job || (job.attemptsMade < (job.opts.attempts ?? 1) && !(err instanceof UnrecoverableError))) return;
    const dependency = unavailableDependency(err);
    if (dependency) {
      svc.log.warn('verification waits for a dependency; the maintenance sweep resumes it', { artifactId: job.data.artifactId, dependency });
      return;
    }
    await failArtifactVerification(svc, job.data.artifactId, `verification gave up after ${job.attemptsMade} attempts: ${err.message}`);
  };
}

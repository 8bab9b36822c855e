import type { Job } from 'bullmq';
import { QUEUE_DEFS, type JobPayload } from '../../server/queues/definitions';
import type { Services } from '../../server/services/context';
import { applyRetention } from '@/server/services/artifacts/retention.service';

/** One app's retention pass; idempotent, so BullMQ's retries are safe. */
export function retentionProcessor(svc: Services) {
  return async (job: Job<JobPayload<'retention'>>) => {
    const { appId } = QUEUE_DEFS.retention.payload.parse(job.data);
    const { retain, deleted } = await applyRetention(svc, appId);
    return { retain, deleted: deleted.length };
  };
}

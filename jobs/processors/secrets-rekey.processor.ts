import { UnrecoverableError, type Job } from 'bullmq';
import { QUEUE_DEFS, type JobPayload } from '../../server/queues/definitions';
import type { Services } from '../../server/services/context';
import { rekeySecrets } from '../../server/services/config/rekey.service';

/** Moves config secrets under the current key; logs counts only. */
export function secretsRekeyProcessor(svc: Services) {
  return async (job: Job<JobPayload<'secretsRekey'>>) => {
    QUEUE_DEFS.secretsRekey.payload.parse(job.data);
    const result = await rekeySecrets(svc);
    svc.log.info('config secrets re-encrypted', { jobId: job.id, keyId: svc.secrets.keyId, ...result });
    // Another attempt opens them no better: the operator has to supply the key they were sealed under.
    if (result.unreadable > 0) {
      throw new UnrecoverableError(`${result.unreadable} config version(s) hold secrets neither the current nor the previous key opens`);
    }
    return result;
  };
}

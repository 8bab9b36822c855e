import { eq } from 'drizzle-orm';
import { artifacts } from '../../../db/schema';
import { artifactTopic } from '../../queues/notifier';
import { enqueueRetention } from '../../queues/producers';
import type { Services } from '../context';
import { findVerifyingKey } from '../keys/keys.service';
import { transitionArtifact } from './artifacts.repo';
import { checkStoredObject, type VerifyFailure } from './remote-check';

export type { VerifyFailure } from './remote-check';

export interface VerifyOutcome {
  status: 'stored' | 'failed' | 'skipped';
  reason?: VerifyFailure;
  verified?: boolean;
}

type VerifyServices = Pick<Services, 'db' | 'storage' | 'env' | 'log' | 'metrics' | 'queues' | 'notifier'>;

/**
 * The verification job: the stored object must match the declaration, and a signature, when
 * given, must verify against one of the app's active keys (then `verified` is true). Ends
 * `stored` or `failed` with a reason and an event; a stored artifact triggers retention.
 * Storage errors propagate so the job retries with backoff; a mismatch is final.
 */
export async function verifyArtifact(svc: VerifyServices, artifactId: string): Promise<VerifyOutcome> {
  const [row] = await svc.db.select().from(artifacts).where(eq(artifacts.id, artifactId)).limit(1);
  if (!row || row.status !== 'verifying') return { status: 'skipped' };

  let finding = await checkStoredObject(svc.storage, svc.env, row);
  let keyId: string | null = null;
  if (!finding && row.signature) {
    keyId = await findVerifyingKey(svc.db, row.appId, row.digest, row.signature);
    if (!keyId)
      finding = {
        reason: 'signature_invalid',
        detail: 'the signature does not verify against any active key of the app',
      };
  }

  const now = new Date();
  const moved = await svc.db.transaction(async (tx) => {
    if (!finding) {
      return transitionArtifact(
        tx,
        row.id,
        ['verifying'],
        'stored',
        { storedAt: now, verified: keyId !== null, verifiedKeyId: keyId },
        `verified ${row.sizeBytes} bytes${keyId ? ', signature valid' : ''}`,
      );
    }
    // A refused object frees its bytes now. Deleted first: if storage fails, the job retries
    // and the row stays verifying.
    await svc.storage.delete(row.storageKey);
    return transitionArtifact(
      tx,
      row.id,
      ['verifying'],
      'failed',
      { failureReason: finding.reason },
      `${finding.reason}: ${finding.detail}`,
    );
  });
  if (!moved) return { status: 'skipped' };
  await svc.notifier.publish(artifactTopic(row.id));

  svc.metrics.artifactEvents.inc();
  svc.metrics.artifactVerifications.inc({ outcome: finding?.reason ?? 'stored' });
  if (row.completedAt) svc.metrics.artifactCompleteToStored.observe((now.getTime() - row.completedAt.getTime()) / 1000);
  if (finding?.reason.startsWith('digest_mismatch')) svc.metrics.artifactDigestMismatches.inc();
  if (finding) svc.metrics.artifactVerifyFailures.inc({ reason: finding.reason });
  svc.log.info('artifact verified', { artifactId, status: moved.status, reason: finding?.reason });
  if (finding) return { status: 'failed', reason: finding.reason };

  svc.metrics.artifactsTotal.inc();
  await enqueueRetention(svc.queues, { appId: row.appId }).catch((err: unknown) =>
    svc.log.warn('enqueue retention failed', { err }),
  );
  return { status: 'stored', verified: keyId !== null };
}

/** Called when the verify job ran out of attempts: the artifact must not stay `verifying` forever. */
export async function failArtifactVerification(
  svc: Pick<Services, 'db'>,
  artifactId: string,
  message: string,
): Promise<void> {
  await svc.db.transaction((tx) =>
    transitionArtifact(tx, artifactId, ['verifying'], 'failed', { failureReason: 'verification_error' }, message),
  );
}

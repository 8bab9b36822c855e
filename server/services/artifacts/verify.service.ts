import { eq } from 'drizzle-orm';
import type { Queryable } from '../../../db/client';
import { artifacts } from '../../../db/schema';
import { artifactTopic } from '../../queues/notifier';
import { enqueueRetention } from '../../queues/producers';
import type { Services } from '../context';
import { findVerifyingKey } from '../keys/keys.service';
import { transitionArtifact, type ArtifactRow } from './artifacts.repo';
import { checkStoredObject, type Finding, type VerifyFailure } from './remote-check';

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

  const objectFinding = await checkStoredObject(svc.storage, svc.env, row);
  const { keyId, finding } = objectFinding
    ? { keyId: null, finding: objectFinding }
    : await checkSignature(svc.db, row);

  // A transaction, not one statement that commits by itself: a worker killed while its verdict
  // waits on a lock never commits it, and the job handed over decides (and announces) again.
  const moved = await svc.db.transaction(async (tx) => {
    if (!finding) {
      return transitionArtifact(
        tx,
        row.id,
        ['verifying'],
        'stored',
        { storedAt: new Date(), verified: keyId !== null, verifiedKeyId: keyId },
        verifiedMessage(row.sizeBytes, keyId),
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
  announceVerdict(svc, moved, finding?.reason ?? null);
  if (finding) return { status: 'failed', reason: finding.reason };
  await enqueueRetention(svc.queues, { appId: row.appId }).catch((err: unknown) =>
    svc.log.warn('enqueue retention failed', { err }),
  );
  return { status: 'stored', verified: keyId !== null };
}

/**
 * The signature's verdict, when the artifact carries one: the app's active key that verifies
 * it (then the artifact is `verified`), or a `signature_invalid` finding. Unsigned: no key.
 */
export async function checkSignature(
  db: Queryable,
  row: Pick<ArtifactRow, 'appId' | 'digest' | 'signature'>,
): Promise<{ keyId: string | null; finding: Finding | null }> {
  if (!row.signature) return { keyId: null, finding: null };
  const keyId = await findVerifyingKey(db, row.appId, row.digest, row.signature);
  return keyId
    ? { keyId, finding: null }
    : {
        keyId: null,
        finding: {
          reason: 'signature_invalid',
          detail: 'the signature does not verify against any active key of the app',
        },
      };
}

export const verifiedMessage = (sizeBytes: number, keyId: string | null) =>
  `verified ${sizeBytes} bytes${keyId ? ', signature valid' : ''}`;

/**
 * After a verdict is committed, by the job or by complete itself: long-polls woken, the outcome
 * counted (complete -> stored timed to now, after the commit) and logged. The wake-up is not
 * waited for: it is best effort (it never rejects; waiters re-read on a timer), and with Redis
 * away it would hold a complete's answer for the command timeout.
 */
export function announceVerdict(
  svc: Pick<Services, 'log' | 'metrics' | 'notifier'>,
  row: ArtifactRow,
  failure: VerifyFailure | null,
): void {
  if (row.completedAt) svc.metrics.artifactCompleteToStored.observe((Date.now() - row.completedAt.getTime()) / 1000);
  void svc.notifier.publish(artifactTopic(row.id));
  svc.metrics.artifactEvents.inc();
  svc.metrics.artifactVerifications.inc({ outcome: failure ?? 'stored' });
  if (failure?.startsWith('digest_mismatch')) svc.metrics.artifactDigestMismatches.inc();
  if (failure) svc.metrics.artifactVerifyFailures.inc({ reason: failure });
  else svc.metrics.artifactsTotal.inc();
  svc.log.info('artifact verified', { artifactId: row.id, status: row.status, reason: failure ?? undefined });
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

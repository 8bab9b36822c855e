import { and, eq, ne } from 'drizzle-orm';
import { isUniqueViolation } from '../../../db/errors';
import { artifacts } from '../../../db/schema';
import { AppError, isAppError } from '../../errors';
import { enqueueArtifactVerify, enqueueRetention } from '../../queues/producers';
import type { ObjectInfo } from '../../storage/port';
import type { AppRow } from '../apps/apps.service';
import type { ServiceCtx } from '../context';
import { getArtifactOrThrow, transitionArtifact, type ArtifactRow } from './artifacts.repo';
import { discardUpload } from './discard-upload';
import { effectiveLimits, withReservedQuota } from './quota';
import { headProvesBytes } from './remote-check';
import { announceVerdict, checkSignature, verifiedMessage } from './verify.service';

export interface CompletionClaims {
  idempotencyKey?: string;
  signature?: string;
  /** When the complete request reached the service: complete -> stored is timed from it. */
  receivedAt?: Date;
  /** What the complete's HEAD of the upload told, once `assertUploaded` passed it. */
  uploaded?: ObjectInfo;
}

/** The same key may only ever complete one digest of an app (409 `idempotency_conflict`). */
export async function assertIdempotencyKey(
  ctx: ServiceCtx,
  app: AppRow,
  row: ArtifactRow | null,
  key: string | undefined,
): Promise<void> {
  if (!key) return;
  if (row?.idempotencyKey && row.idempotencyKey !== key) {
    throw new AppError('idempotency_conflict', 'this artifact was completed with a different idempotency key');
  }
  const [clash] = await ctx.db
    .select({ id: artifacts.id })
    .from(artifacts)
    .where(
      and(eq(artifacts.appId, app.id), eq(artifacts.idempotencyKey, key), row ? ne(artifacts.id, row.id) : undefined),
    )
    .limit(1);
  if (clash) throw new AppError('idempotency_conflict', 'idempotency key already used for a different digest');
}

/**
 * The uploaded bytes are in storage: reserve quota and record the completion, all or nothing.
 * When the complete's HEAD (`claims.uploaded`) proves the bytes, the signature is checked here
 * too and the artifact ends `stored` in the same statement: no job, no queue hop. Otherwise it
 * ends `verifying` and the verification job is queued. An upload over quota, or with a signature
 * no active key verifies, is discarded (object deleted, row failed) and refused. Shared by the
 * single-PUT, multipart and legacy uploads. A repeat on an artifact already verifying re-queues
 * its (deduplicated) job, which is how a client recovers from a queue outage.
 */
export async function beginVerification(
  ctx: ServiceCtx,
  app: AppRow,
  row: ArtifactRow,
  claims: CompletionClaims,
): Promise<ArtifactRow> {
  let current = row;
  if (row.status === 'pending') {
    const signature = claims.signature ?? row.signature;
    const inline =
      ctx.env.AETHER_VERIFY_INLINE && claims.uploaded !== undefined && headProvesBytes(ctx.env, claims.uploaded);
    const verdict = inline ? await verifySignatureOrRefuse(ctx, { ...row, signature }) : { keyId: null };
    const completion = {
      completedAt: claims.receivedAt ?? new Date(),
      idempotencyKey: row.idempotencyKey ?? claims.idempotencyKey ?? null,
      signature,
    };
    // Only the upload this complete checked: a presign or multipart init in between resets the
    // row (size, upload id) in place, and its object was never looked at.
    const same = { sizeBytes: row.sizeBytes, multipartUploadId: row.multipartUploadId };
    try {
      const moved =
        verdict === SETTLED_ELSEWHERE
          ? undefined
          : await withReservedQuota(ctx.db, app, ctx.env, { sizeBytes: row.sizeBytes, artifactId: row.id }, (q) =>
              inline
                ? transitionArtifact(
                    q,
                    row.id,
                    ['pending'],
                    'stored',
                    {
                      ...completion,
                      storedAt: new Date(),
                      verified: verdict.keyId !== null,
                      verifiedKeyId: verdict.keyId,
                    },
                    `upload completed; ${verifiedMessage(row.sizeBytes, verdict.keyId)}`,
                    same,
                  )
                : transitionArtifact(
                    q,
                    row.id,
                    ['pending'],
                    'verifying',
                    completion,
                    'upload completed; verification queued',
                    same,
                  ),
            );
      // Lost a race with a concurrent complete: theirs settled it; report the fresh state.
      current = moved ?? (await getArtifactOrThrow(ctx.db, app.id, row.digest));
      if (moved?.status === 'stored') await announceStored(ctx, app, moved);
      else if (moved) ctx.metrics.artifactEvents.inc();
      else if (current.status === 'pending') {
        throw new AppError(
          'conflict',
          'the upload was restarted (presigned again) while completing: PUT to the new URL, then complete',
        );
      } else if (current.status === 'failed' || current.status === 'deleted') {
        // A racing call refused it: the answer a retry of this complete would get.
        const why = current.failureReason ? ` (${current.failureReason})` : '';
        throw new AppError('conflict', `artifact is ${current.status}${why}; presign and upload again`);
      }
      // The winner may have used another key: answer the 409 this call would get a moment later.
      else await assertIdempotencyKey(ctx, app, current, claims.idempotencyKey);
    } catch (err) {
      if (isUniqueViolation(err))
        throw new AppError('idempotency_conflict', 'idempotency key already used for a different digest');
      if (isAppError(err) && err.code === 'quota_exceeded') {
        ctx.metrics.artifactQuotaExceeded.inc();
        // Refused for good: the bytes go now, and the row stops holding quota.
        await discardUpload(ctx, row, 'quota_exceeded', err.message);
      }
      throw err;
    }
  }
  if (current.status === 'verifying') {
    await enqueueArtifactVerify(ctx.queues, { artifactId: current.id }).catch((err: unknown) => {
      ctx.log.error('enqueue verify failed', { artifactId: current.id, err });
      throw new AppError('service_unavailable', 'job queue unavailable; retry complete');
    });
  }
  return current;
}

/** A racing complete settled the artifact before this one's refusal could: its outcome stands. */
const SETTLED_ELSEWHERE = Symbol('settled elsewhere');

/**
 * The key that verifies the upload's signature (null when unsigned). A bad one refuses the
 * upload for good, unless a racing complete already settled it.
 */
async function verifySignatureOrRefuse(
  ctx: ServiceCtx,
  row: ArtifactRow,
): Promise<{ keyId: string | null } | typeof SETTLED_ELSEWHERE> {
  const { keyId, finding } = await checkSignature(ctx.db, row);
  if (!finding) return { keyId };
  const discarded = await discardUpload(ctx, row, finding.reason, finding.detail);
  if (discarded === 'moved_on') return SETTLED_ELSEWHERE;
  ctx.metrics.artifactVerifications.inc({ outcome: finding.reason });
  ctx.metrics.artifactVerifyFailures.inc({ reason: finding.reason });
  // Not discarded (storage or the database away): refused all the same; pending GC removes it.
  const fate = discarded === 'discarded' ? 'refused and deleted' : 'refused';
  throw new AppError('bad_request', `signature verification failed: ${finding.detail}; the upload was ${fate}`);
}

/**
 * Stored by complete itself: what the job does after its verdict, and a retention pass when the
 * app keeps only its latest (queued before the answer, so the pass follows the store; one not
 * queued, Redis away, is the maintenance sweep's to run).
 */
async function announceStored(ctx: ServiceCtx, app: AppRow, row: ArtifactRow): Promise<void> {
  announceVerdict(ctx, row, null);
  if (effectiveLimits(app, ctx.env).retainLatest === null) return;
  await enqueueRetention(ctx.queues, { appId: app.id }).catch((err: unknown) =>
    ctx.log.warn('enqueue retention failed', { err }),
  );
}

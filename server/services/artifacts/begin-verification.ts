import { and, eq, ne } from 'drizzle-orm';
import { isUniqueViolation } from '../../../db/errors';
import { artifacts } from '../../../db/schema';
import { AppError, isAppError } from '../../errors';
import { enqueueArtifactVerify } from '../../queues/producers';
import type { AppRow } from '../apps/apps.service';
import type { ServiceCtx } from '../context';
import { getArtifactOrThrow, transitionArtifact, type ArtifactRow } from './artifacts.repo';
import { discardUpload } from './discard-upload';
import { reserveQuota } from './quota';

export interface CompletionClaims {
  idempotencyKey?: string;
  signature?: string;
  /** When the complete request reached the service: complete -> stored is timed from it. */
  receivedAt?: Date;
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
 * The uploaded bytes are in storage: reserve quota, record the completion and queue the
 * verification job, all or nothing. An upload over quota is discarded (object deleted, row failed). Shared by the single-PUT and multipart completes. A
 * repeat on an artifact already verifying re-queues its (deduplicated) job, which is how a
 * client recovers from a queue outage.
 */
export async function beginVerification(
  ctx: ServiceCtx,
  app: AppRow,
  row: ArtifactRow,
  claims: CompletionClaims,
): Promise<ArtifactRow> {
  let current = row;
  if (row.status === 'pending') {
    try {
      const moved = await ctx.db.transaction(async (tx) => {
        await reserveQuota(tx, app, ctx.env, row.sizeBytes, row.id);
        return transitionArtifact(
          tx,
          row.id,
          ['pending'],
          'verifying',
          {
            completedAt: claims.receivedAt ?? new Date(),
            idempotencyKey: row.idempotencyKey ?? claims.idempotencyKey ?? null,
            signature: claims.signature ?? row.signature,
          },
          'upload completed; verification queued',
        );
      });
      // Lost a race with a concurrent complete: theirs queued the job; report the fresh state.
      current = moved ?? (await getArtifactOrThrow(ctx.db, app.id, row.digest));
      if (moved) ctx.metrics.artifactEvents.inc();
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

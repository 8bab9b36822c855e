import { and, eq } from 'drizzle-orm';
import type { Queryable } from '../../../db/client';
import { artifacts } from '../../../db/schema';
import { artifactStorageKey } from '../../contract/digest';
import type { TCompleteResult, TPresignResult } from '../../contract/outputs';
import type { TCompleteInput, TPresignInput } from '../../contract/schemas';
import { AppError, isAppError } from '../../errors';
import { getAppForActor, type AppRow } from '../apps/app-access';
import type { ServiceCtx } from '../context';
import { toArtifactDto } from '../dto';
import { findArtifactOfAppNamed, getArtifactOrThrow, type ArtifactRow } from './artifacts.repo';
import { assertIdempotencyKey, beginVerification } from './begin-verification';
import { assertUploaded } from './check-uploaded';
import { hasQuotaLimits, precheckUpload, reserveUpload } from './quota';

/**
 * Refuses (`size_exceeded`) a declared size over AETHER_MAX_ARTIFACT_SIZE_BYTES or over what the
 * store can hold (`storeMax`: one PUT's limit for a single upload, the object limit otherwise).
 */
export function assertSizeAllowed(ctx: ServiceCtx, sizeBytes: number, storeMax = ctx.storage.limits.maxObjectBytes) {
  const max = ctx.env.AETHER_MAX_ARTIFACT_SIZE_BYTES;
  if (max > 0 && sizeBytes > max) {
    ctx.metrics.artifactSizeExceeded.inc();
    throw new AppError('size_exceeded', `artifact of ${sizeBytes} bytes exceeds the ${max}-byte limit`);
  }
  if (sizeBytes > storeMax) {
    ctx.metrics.artifactSizeExceeded.inc();
    throw new AppError(
      'size_exceeded',
      `artifact of ${sizeBytes} bytes exceeds the ${storeMax} bytes the object store accepts`,
    );
  }
}

/** Rethrows `err`, counting it first when it is a quota refusal. */
function countQuotaRefusal(ctx: ServiceCtx, err: unknown): never {
  if (isAppError(err) && err.code === 'quota_exceeded') ctx.metrics.artifactQuotaExceeded.inc();
  throw err;
}

/** {@link precheckUpload}, counted: a full app is told before a body moves or an upload is created. */
export async function precheckQuota(ctx: ServiceCtx, app: AppRow, digest: string, sizeBytes: number): Promise<void> {
  await precheckUpload(ctx.db, app, ctx.env, digest, sizeBytes).catch((err: unknown) => countQuotaRefusal(ctx, err));
}

export interface PendingUpload {
  multipartUploadId?: string | null;
  /** Declared multipart layout: every part but the last is this size. */
  partSizeBytes?: number | null;
}

/**
 * Records (or resets) a pending artifact row for an upload, after reserving quota for it in the
 * same transaction under the app lock: pending uploads hold quota, so racing presigns of a full
 * app cannot all get a URL. Only restartable rows (pending, failed, deleted) are reset; a
 * stored or verifying row is returned as null (and needs no room). A multipart upload the reset
 * replaces is aborted: read under the row lock, so of racing inits each aborts the one it
 * replaced and only the last stays, instead of orphans whose part URLs still take bytes.
 */
export async function reservePending(
  ctx: ServiceCtx,
  app: AppRow,
  digest: string,
  sizeBytes: number,
  upload: PendingUpload = {},
): Promise<ArtifactRow | null> {
  const multipartUploadId = upload.multipartUploadId ?? null;
  const partSizeBytes = upload.partSizeBytes ?? null;
  const storageKey = artifactStorageKey(app.name, digest);
  const ofDigest = and(eq(artifacts.appId, app.id), eq(artifacts.digest, digest));
  const insertNew = (q: Queryable) =>
    q
      .insert(artifacts)
      .values({ appId: app.id, digest, sizeBytes, storageKey, multipartUploadId, partSizeBytes })
      .onConflictDoNothing()
      .returning();
  // A new digest of an app without limits needs no lock and no read first: one statement.
  if (!hasQuotaLimits(app, ctx.env)) {
    const [inserted] = await insertNew(ctx.db);
    if (inserted) return inserted;
  }
  let reserved: { row: ArtifactRow | null; replaced: string | null };
  try {
    reserved = await ctx.db.transaction(async (tx) => {
      const [existing] = await tx.select({ status: artifacts.status }).from(artifacts).where(ofDigest).limit(1);
      if (existing && HELD_BY_UPLOAD.has(existing.status)) return { row: null, replaced: null };
      // App lock first, row lock second: the order of a complete's reservation.
      await reserveUpload(tx, app, ctx.env, digest, sizeBytes);
      // A new digest is inserted as it should be; a known one is locked and reset.
      const insert = () => insertNew(tx);
      const lock = () =>
        tx
          .select({ id: artifacts.id, status: artifacts.status, multipartUploadId: artifacts.multipartUploadId })
          .from(artifacts)
          .where(ofDigest)
          .for('update');
      if (!existing) {
        const [inserted] = await insert();
        if (inserted) return { row: inserted, replaced: null };
      }
      // Known, or inserted first by a racing presign. Gone since we looked (pending GC, a
      // multipart abort): insert it afresh, once.
      let [current] = await lock();
      if (!current) {
        const [inserted] = await insert();
        if (inserted) return { row: inserted, replaced: null };
        [current] = await lock();
      }
      if (current) {
        if (HELD_BY_UPLOAD.has(current.status)) return { row: null, replaced: null };
        const replaced = current.multipartUploadId !== multipartUploadId ? current.multipartUploadId : null;
        const [reset] = await tx
          .update(artifacts)
          .set({
            sizeBytes,
            status: 'pending',
            failureReason: null,
            multipartUploadId,
            partSizeBytes,
            verified: false,
            verifiedKeyId: null,
            completedAt: null,
            updatedAt: new Date(),
          })
          .where(eq(artifacts.id, current.id))
          .returning();
        return { row: reset ?? null, replaced };
      }
      throw new AppError('conflict', `artifact ${digest.slice(0, 12)} kept changing under this upload; retry`);
    });
  } catch (err) {
    countQuotaRefusal(ctx, err);
  }
  const { row, replaced } = reserved;
  if (replaced) {
    await ctx.storage
      .abortMultipart(storageKey, { uploadId: replaced })
      .catch((err: unknown) => ctx.log.warn('abort of a replaced multipart upload failed', { err }));
  }
  return row;
}

/** Rows an upload cannot restart: their bytes are in (or being checked). */
const HELD_BY_UPLOAD: ReadonlySet<string> = new Set(['stored', 'verifying']);

/**
 * Step 1 of an upload: records a pending artifact and hands out a presigned PUT. Asking
 * again for a pending or failed digest presigns again (an interrupted upload can restart).
 */
export async function presignArtifact(ctx: ServiceCtx, input: TPresignInput): Promise<TPresignResult> {
  ctx.metrics.artifactPresigns.inc();
  const app = await getAppForActor(ctx, ctx.db, input.app_name);
  const sizeBytes = input.size_bytes ?? UNDECLARED_SIZE;
  if (input.size_bytes !== undefined) assertSizeAllowed(ctx, input.size_bytes, ctx.storage.limits.maxPutBytes);
  const row = await reservePending(ctx, app, input.digest, sizeBytes);
  if (!row) {
    const existing = await getArtifactOrThrow(ctx.db, app.id, input.digest);
    return {
      method: 'NONE',
      upload_url: '',
      headers: {},
      storage_key: existing.storageKey,
      expires_at: null,
      artifact: toArtifactDto(existing, app.name),
    };
  }
  let put;
  try {
    // A declared size binds the URL: the reserved quota is all the bytes it can write.
    put = await ctx.storage.presignPut(row.storageKey, {
      sha256: input.digest,
      expiresInSecs: ctx.env.AETHER_PRESIGN_EXPIRE_SECS,
      sizeBytes: input.size_bytes,
    });
  } catch (err) {
    ctx.metrics.artifactPresignFailures.inc();
    ctx.log.error('presign failed', { err });
    throw new AppError('service_unavailable', 'object storage did not answer; retry');
  }
  return {
    method: 'PUT',
    upload_url: put.url,
    headers: put.headers,
    storage_key: row.storageKey,
    expires_at: put.expiresAt.toISOString(),
    artifact: toArtifactDto(row, app.name),
  };
}

/**
 * A pending row presigned without a size (a tar.gz is never empty, so 0 is free to mean it):
 * it holds no bytes of quota until complete learns the real size from storage.
 */
export const UNDECLARED_SIZE = 0;

/**
 * Complete of an upload presigned without a size: the object's real size (from storage) must
 * be the one the client reports; it becomes the row's size before quota is reserved for it.
 */
async function adoptStoredSize(ctx: ServiceCtx, row: ArtifactRow, sizeBytes: number): Promise<ArtifactRow> {
  const info = await ctx.storage.head(row.storageKey).catch((err: unknown) => {
    ctx.log.error('head before complete failed', { artifactId: row.id, err });
    throw new AppError('service_unavailable', 'object storage did not answer; retry complete');
  });
  if (!info) {
    throw new AppError(
      'not_found',
      `object was not uploaded: PUT artifact ${row.digest.slice(0, 12)} to its presigned URL, then complete`,
    );
  }
  if (info.sizeBytes !== sizeBytes)
    throw new AppError('size_mismatch', `storage holds ${info.sizeBytes} bytes, not ${sizeBytes}`);
  const [sized] = await ctx.db
    .update(artifacts)
    .set({ sizeBytes, updatedAt: new Date() })
    .where(and(eq(artifacts.id, row.id), eq(artifacts.status, 'pending'), eq(artifacts.sizeBytes, UNDECLARED_SIZE)))
    .returning();
  return sized ?? (await getArtifactOrThrow(ctx.db, row.appId, row.digest));
}

/**
 * Step 3 of an upload: the client says the PUT finished. Quota is reserved and the upload
 * verified here when a HEAD proves it (the artifact is `stored` in the answer); otherwise it
 * moves to `verifying` and a job verifies it, the outcome read with `get`/`wait`.
 * The same idempotency key and digest replay the same answer.
 */
export async function completeArtifact(ctx: ServiceCtx, input: TCompleteInput): Promise<TCompleteResult> {
  const t0 = performance.now();
  const receivedAt = new Date();
  try {
    // Both reads at once, one round trip of waiting: the artifact's is only used once the app's
    // own lookup (which checks the caller may see it) has passed.
    const [app, found] = await Promise.all([
      getAppForActor(ctx, ctx.db, input.app_name),
      findArtifactOfAppNamed(ctx.db, input.app_name, input.digest),
    ]);
    assertSizeAllowed(ctx, input.size_bytes);
    let row = found?.appId === app.id ? found : null;
    await assertIdempotencyKey(ctx, app, row, input.idempotency_key);
    if (row?.status === 'stored') {
      if (input.size_bytes !== row.sizeBytes)
        throw new AppError('size_mismatch', `artifact is stored with ${row.sizeBytes} bytes, not ${input.size_bytes}`);
      return completeResult(row, row.idempotencyKey === null || row.idempotencyKey !== input.idempotency_key);
    }
    if (!row) {
      if (ctx.env.AETHER_REQUIRE_PRESIGN)
        throw new AppError('presign_required', 'presign before completing (AETHER_REQUIRE_PRESIGN)');
      // Without a presign there must already be bytes in storage (put there by another tool);
      // otherwise this is a complete for nothing, refused before anything is written.
      if (!(await ctx.storage.head(artifactStorageKey(app.name, input.digest)))) {
        throw new AppError(
          'not_found',
          `nothing was uploaded for artifact ${input.digest.slice(0, 12)}; presign first`,
        );
      }
      row = await reservePending(ctx, app, input.digest, input.size_bytes);
      if (!row) row = await getArtifactOrThrow(ctx.db, app.id, input.digest);
    }
    if (row.status === 'failed' || row.status === 'deleted') {
      throw new AppError(
        'conflict',
        `artifact is ${row.status}${row.failureReason ? ` (${row.failureReason})` : ''}; presign and upload again`,
      );
    }
    if (row.status === 'pending' && row.multipartUploadId) {
      throw new AppError(
        'conflict',
        'a multipart upload of this digest is in progress: finish it with multipart/complete, or abort it',
      );
    }
    if (row.status === 'pending' && !row.multipartUploadId && row.sizeBytes === UNDECLARED_SIZE) {
      row = await adoptStoredSize(ctx, row, input.size_bytes);
    }
    if (input.size_bytes !== row.sizeBytes) {
      throw new AppError(
        'size_mismatch',
        `size ${input.size_bytes} does not match the ${row.sizeBytes} bytes declared at presign`,
      );
    }
    const uploaded = row.status === 'pending' ? await assertUploaded(ctx, row) : undefined;
    const current = await beginVerification(ctx, app, row, {
      idempotencyKey: input.idempotency_key,
      signature: input.signature,
      receivedAt,
      uploaded,
    });
    if (input.upload_duration_secs !== undefined) ctx.metrics.artifactPutDuration.observe(input.upload_duration_secs);
    ctx.metrics.artifactCompletes.inc();
    return completeResult(current, false);
  } catch (err) {
    if (!isAppError(err) || err.httpStatus >= 500) ctx.metrics.artifactCompleteFailures.inc();
    throw err;
  } finally {
    ctx.metrics.artifactCompleteDuration.observe((performance.now() - t0) / 1000);
  }
}

export function completeResult(row: ArtifactRow, duplicate: boolean): TCompleteResult {
  return {
    artifact_id: row.id,
    digest: row.digest,
    duplicate,
    verified: row.verified,
    storage_key: row.storageKey,
    status: row.status,
    idempotency_key: row.idempotencyKey,
  };
}

import { eq } from 'drizzle-orm';
import { artifacts } from '../../../db/schema';
import { artifactStorageKey } from '../../contract/digest';
import type { TCompleteResult, TMultipartInitResult, TPresignedParts } from '../../contract/outputs';
import {
  MAX_PARTS,
  type TMultipartAbortInput,
  type TMultipartCompleteInput,
  type TMultipartInitInput,
  type TMultipartPresignPartInput,
  type TMultipartPresignPartsInput,
} from '../../contract/schemas';
import { AppError, isAppError } from '../../errors';
import { slotOf } from '../../storage/fs-part-layout';
import { getAppForActor, type AppRow } from '../apps/app-access';
import type { ServiceCtx } from '../context';
import { findArtifact, type ArtifactRow } from './artifacts.repo';
import { assertIdempotencyKey, beginVerification } from './begin-verification';
import { assertUploaded } from './check-uploaded';
import { discardUpload } from './discard-upload';
import { assertSizeAllowed, completeResult, precheckQuota, reservePending } from './upload.service';

/** The pending multipart row for `upload_id`, with the seed's error codes for everything else. */
async function pendingUpload(ctx: ServiceCtx, app: AppRow, digest: string, uploadId: string): Promise<ArtifactRow> {
  return assertPendingUpload(await findArtifact(ctx.db, app.id, digest), uploadId);
}

function assertPendingUpload(row: ArtifactRow | null | undefined, uploadId: string): ArtifactRow {
  if (!row || row.status === 'failed' || row.status === 'deleted')
    throw new AppError('unknown_digest', 'no multipart upload for this digest; init first');
  if (row.status === 'stored' || row.status === 'verifying')
    throw new AppError('already_stored', `artifact is already ${row.status}`);
  if (row.multipartUploadId !== uploadId)
    throw new AppError('upload_id_mismatch', 'upload_id does not match the upload in progress for this digest');
  return row;
}

/**
 * Starts (or restarts) a multipart upload; a previous unfinished upload of the digest is aborted.
 * With `presign_part_numbers`, the answer carries those parts' URLs too; `part_size_bytes` tells
 * the store how the parts are cut.
 */
export async function initMultipart(ctx: ServiceCtx, input: TMultipartInitInput): Promise<TMultipartInitResult> {
  const app = await getAppForActor(ctx, ctx.db, input.app_name);
  assertSizeAllowed(ctx, input.size_bytes);
  const previous = await findArtifact(ctx.db, app.id, input.digest);
  if (previous?.status === 'stored' || previous?.status === 'verifying')
    throw new AppError('already_stored', `artifact is already ${previous.status}`);
  const layout =
    input.part_size_bytes === undefined
      ? undefined
      : { sizeBytes: input.size_bytes, partSizeBytes: input.part_size_bytes };
  if (layout && Math.ceil(layout.sizeBytes / layout.partSizeBytes) > MAX_PARTS) {
    throw new AppError(
      'bad_request',
      `part_size_bytes ${layout.partSizeBytes} cuts ${layout.sizeBytes} bytes into more than ${MAX_PARTS} parts`,
    );
  }
  const key = artifactStorageKey(app.name, input.digest);
  // A full app is told before an upload is created; the locked reservation below decides.
  await precheckQuota(ctx, app, input.digest, input.size_bytes);
  const { uploadId } = await ctx.storage.createMultipart(key, {
    sha256: input.digest,
    layout,
    sizeBytes: input.size_bytes,
  });
  const row = await reservePending(ctx, app, input.digest, input.size_bytes, {
    multipartUploadId: uploadId,
    partSizeBytes: input.part_size_bytes,
  }).catch(async (err: unknown) => {
    await ctx.storage.abortMultipart(key, { uploadId }).catch(() => undefined);
    throw err;
  });
  if (!row) {
    await ctx.storage.abortMultipart(key, { uploadId });
    throw new AppError('already_stored', 'artifact was stored meanwhile');
  }
  ctx.metrics.artifactMultipartInits.inc();
  const started = { upload_id: uploadId, storage_key: row.storageKey };
  if (!input.presign_part_numbers) return started;
  const presigned = await presignParts(ctx, row, uploadId, input.presign_part_numbers);
  return { ...started, presigned };
}

export async function presignMultipartPart(
  ctx: ServiceCtx,
  input: TMultipartPresignPartInput,
): Promise<{ url: string; method: 'PUT'; headers: Record<string, string> }> {
  const { parts } = await presignMultipartParts(ctx, { ...input, part_numbers: [input.part_number] });
  const { url, method, headers } = parts[0]!;
  return { url, method, headers };
}

/** Presigned PUTs for several parts of a pending multipart upload (one check, one touch). */
export async function presignMultipartParts(
  ctx: ServiceCtx,
  input: TMultipartPresignPartsInput,
): Promise<{
  parts: Array<{ part_number: number; url: string; method: 'PUT'; headers: Record<string, string> }>;
  expires_at: string;
}> {
  const app = await getAppForActor(ctx, ctx.db, input.app_name);
  const row = await pendingUpload(ctx, app, input.digest, input.upload_id);
  // A long upload is alive while it asks for parts: keep pending-upload GC away from it.
  await ctx.db.update(artifacts).set({ updatedAt: new Date() }).where(eq(artifacts.id, row.id));
  return presignParts(ctx, row, input.upload_id, input.part_numbers);
}

/** With a declared layout, each part's URL is bound to its slot's size; a part beyond it has none. */
function partSizeOf(row: ArtifactRow, partNumber: number): number | undefined {
  if (row.partSizeBytes === null) return undefined;
  const slot = slotOf({ sizeBytes: row.sizeBytes, partSizeBytes: row.partSizeBytes }, partNumber);
  if (!slot)
    throw new AppError(
      'bad_request',
      `part ${partNumber} is beyond the ${Math.ceil(row.sizeBytes / row.partSizeBytes)} parts declared at init`,
    );
  return slot.length;
}

async function presignParts(
  ctx: ServiceCtx,
  row: ArtifactRow,
  uploadId: string,
  partNumbers: readonly number[],
): Promise<TPresignedParts> {
  const expiresInSecs = ctx.env.AETHER_PRESIGN_EXPIRE_SECS;
  const expiresAt = new Date(Date.now() + expiresInSecs * 1000);
  const sizes = partNumbers.map((n) => partSizeOf(row, n));
  const parts = await Promise.all(
    partNumbers.map(async (partNumber, i) => {
      const part = await ctx.storage.presignPart(row.storageKey, {
        uploadId,
        partNumber,
        expiresInSecs,
        sizeBytes: sizes[i],
      });
      return { part_number: partNumber, url: part.url, method: 'PUT' as const, headers: part.headers };
    }),
  );
  ctx.metrics.artifactMultipartPartPresigns.inc(parts.length);
  return { parts, expires_at: expiresAt.toISOString() };
}

/** Assembles the parts in storage, then continues exactly like a single-PUT complete. */
export async function completeMultipart(ctx: ServiceCtx, input: TMultipartCompleteInput): Promise<TCompleteResult> {
  const t0 = performance.now();
  try {
    const app = await getAppForActor(ctx, ctx.db, input.app_name);
    assertSizeAllowed(ctx, input.size_bytes);
    const existing = await findArtifact(ctx.db, app.id, input.digest);
    // Idempotent replay: the upload was assembled and completed already.
    if (
      existing &&
      (existing.status === 'stored' || existing.status === 'verifying') &&
      existing.multipartUploadId === input.upload_id
    ) {
      await assertIdempotencyKey(ctx, app, existing, input.idempotency_key);
      return completeResult(existing, false);
    }
    // Judge the same read as the replay check: a second read could see a racing complete's
    // verification finish and refuse this retry as already_stored.
    const row = assertPendingUpload(existing, input.upload_id);
    await assertIdempotencyKey(ctx, app, row, input.idempotency_key);
    if (input.size_bytes !== row.sizeBytes) {
      throw new AppError(
        'size_mismatch',
        `size ${input.size_bytes} does not match the ${row.sizeBytes} bytes declared at init`,
      );
    }
    // Assemble under the row lock: a retried complete racing the first waits here, then finds
    // the upload assembled and answers as a replay instead of assembling twice.
    const replay = await ctx.db
      .transaction(async (tx) => {
        const [locked] = await tx.select().from(artifacts).where(eq(artifacts.id, row.id)).for('update');
        if (locked && locked.multipartUploadId === input.upload_id && locked.completedAt) return locked;
        if (!locked || locked.status !== 'pending' || locked.multipartUploadId !== input.upload_id) {
          throw new AppError('upload_id_mismatch', 'this multipart upload is no longer in progress');
        }
        await ctx.storage.completeMultipart(row.storageKey, {
          uploadId: input.upload_id,
          parts: input.parts.map((p) => ({ partNumber: p.part_number, etag: p.etag })),
        });
        await tx
          .update(artifacts)
          .set({ updatedAt: new Date(), completedAt: new Date() })
          .where(eq(artifacts.id, row.id));
        return null;
      })
      .catch(async (err: unknown) => {
        // Assembled bytes that are not the declared digest are final (a part list can be fixed, this cannot).
        if (isAppError(err) && err.code === 'digest_mismatch')
          await discardUpload(ctx, row, 'digest_mismatch', err.message);
        throw err;
      });
    if (replay) {
      await assertIdempotencyKey(ctx, app, replay, input.idempotency_key);
      return completeResult(
        replay.status === 'pending'
          ? await beginVerification(ctx, app, replay, {
              idempotencyKey: input.idempotency_key,
              signature: input.signature,
            })
          : replay,
        false,
      );
    }
    const uploaded = await assertUploaded(ctx, row);
    const current = await beginVerification(ctx, app, row, {
      idempotencyKey: input.idempotency_key,
      signature: input.signature,
      uploaded,
    });
    ctx.metrics.artifactMultipartCompletes.inc();
    ctx.metrics.artifactMultipartParts.observe(input.parts.length);
    for (const size of partSizesOf(row.sizeBytes, input.parts.length, row.partSizeBytes))
      ctx.metrics.artifactMultipartPartSize.observe(size);
    if (input.upload_duration_secs !== undefined) ctx.metrics.artifactPutDuration.observe(input.upload_duration_secs);
    return completeResult(current, false);
  } catch (err) {
    ctx.metrics.artifactMultipartCompleteFailures.inc();
    throw err;
  } finally {
    ctx.metrics.artifactCompleteDuration.observe((performance.now() - t0) / 1000);
  }
}

/** Discards an unfinished multipart upload and its pending row. */
export async function abortMultipart(ctx: ServiceCtx, input: TMultipartAbortInput): Promise<{ aborted: boolean }> {
  const app = await getAppForActor(ctx, ctx.db, input.app_name);
  const row = await pendingUpload(ctx, app, input.digest, input.upload_id);
  await ctx.storage.abortMultipart(row.storageKey, { uploadId: input.upload_id });
  await ctx.db.delete(artifacts).where(eq(artifacts.id, row.id));
  return { aborted: true };
}

/**
 * Each part's size for `artifact_multipart_part_size_bytes`: exact from a declared layout
 * (every part but the last of `partSize`), otherwise the seed's estimate, an even split.
 */
export function partSizesOf(sizeBytes: number, parts: number, partSize: number | null): number[] {
  if (partSize !== null && Math.ceil(sizeBytes / partSize) === parts) {
    return Array.from({ length: parts }, (_, i) => (i < parts - 1 ? partSize : sizeBytes - partSize * (parts - 1)));
  }
  return Array.from({ length: parts }, () => Math.round(sizeBytes / parts));
}

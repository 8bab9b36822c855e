import { AppError } from '../../errors';
import type { ObjectInfo } from '../../storage/port';
import type { ServiceCtx } from '../context';
import type { ArtifactRow } from './artifacts.repo';
import { discardUpload } from './discard-upload';
import { checkObjectInfo } from './remote-check';

/**
 * Before a complete reserves quota: the bytes must be in storage, and what a HEAD tells
 * must match the declaration. Nothing uploaded yet is `not_found` and changes nothing (the URL
 * may still be used); a wrong object is final, so it is discarded at once and refused. Returns
 * what the HEAD told, for the verification that follows.
 */
export async function assertUploaded(ctx: ServiceCtx, row: ArtifactRow): Promise<ObjectInfo> {
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
  const finding = checkObjectInfo(ctx.env, row, info);
  if (!finding) return info;
  await discardUpload(ctx, row, finding.reason, finding.detail);
  if (finding.reason !== 'size_mismatch') ctx.metrics.artifactDigestMismatches.inc();
  // The seed's codes at complete: size_mismatch, digest_mismatch_remote (metadata), _remote_hash (bytes).
  const code =
    finding.reason === 'size_mismatch' || finding.reason === 'digest_mismatch_remote'
      ? finding.reason
      : 'digest_mismatch_remote_hash';
  throw new AppError(code, `upload refused and deleted: ${finding.detail}`);
}

import { and, eq, isNull } from 'drizzle-orm';
import type { Db } from '../../../db/client';
import { artifacts } from '../../../db/schema';
import { AppError } from '../../errors';
import type { PutGate } from '../../storage/fs.driver';

/**
 * The fs store's gate for signed PUTs: bytes land only at the key of a pending single-PUT
 * upload of the signed size, under that row's lock. A URL outlives its upload (refused and
 * discarded, failed verification, collected, resized by a new presign, replaced by a multipart
 * upload), and a PUT through it would otherwise leave bytes that no quota counts and no GC
 * collects. Discard and GC lock the row FOR UPDATE, so they wait for a commit in progress and
 * then delete what it wrote.
 */
export function pendingUploadGate(db: Db): PutGate {
  return (key, sizeBytes, commit) =>
    db.transaction(async (tx) => {
      const [row] = await tx
        .select({ id: artifacts.id })
        .from(artifacts)
        .where(
          and(
            eq(artifacts.storageKey, key),
            eq(artifacts.status, 'pending'),
            isNull(artifacts.multipartUploadId),
            sizeBytes === undefined ? undefined : eq(artifacts.sizeBytes, sizeBytes),
          ),
        )
        .for('share');
      if (!row) throw new AppError('conflict', 'no upload is waiting for these bytes: presign again, then PUT to the new URL');
      await commit();
    });
}

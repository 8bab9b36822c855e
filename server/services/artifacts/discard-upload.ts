import { and, eq } from 'drizzle-orm';
import { artifacts } from '../../../db/schema';
import type { Services } from '../context';
import { transitionArtifact, type ArtifactRow } from './artifacts.repo';

/**
 * An upload refused for good at complete (over quota, wrong size or digest): its bytes leave
 * storage now rather than at the next pending GC, and the row turns `failed`, which holds no
 * quota. Under the row lock, storage first: if storage fails the row stays pending (still
 * counted) and pending GC removes both later. Never throws: the caller's refusal is the answer.
 * Only the upload the caller judged: a row that left `pending`, or was reset by a new presign
 * (another size or multipart upload), is someone else's now and is left alone (`moved_on`).
 */
export async function discardUpload(
  svc: Pick<Services, 'db' | 'storage' | 'log'>,
  row: ArtifactRow,
  reason: string,
  detail: string,
): Promise<'discarded' | 'moved_on' | 'failed'> {
  try {
    return await svc.db.transaction(async (tx) => {
      const [locked] = await tx
        .select()
        .from(artifacts)
        .where(and(eq(artifacts.id, row.id), eq(artifacts.status, 'pending')))
        .for('update');
      if (!locked || locked.sizeBytes !== row.sizeBytes || locked.multipartUploadId !== row.multipartUploadId) return 'moved_on';
      if (locked.multipartUploadId) await svc.storage.abortMultipart(locked.storageKey, { uploadId: locked.multipartUploadId });
      await svc.storage.delete(locked.storageKey);
      await transitionArtifact(tx, locked.id, ['pending'], 'failed', { failureReason: reason, multipartUploadId: null }, `${reason}: ${detail}`);
      return 'discarded' as const;
    });
  } catch (err) {
    svc.log.warn('could not discard a refused upload; pending GC will', { artifactId: row.id, err });
    return 'failed';
  }
}

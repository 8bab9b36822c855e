import { and, eq, inArray, isNotNull, lt, ne, notExists, or } from 'drizzle-orm';
import type { Queryable } from '../../../db/client';
import { artifacts, deployments } from '../../../db/schema';
import type { Services } from '../context';
import type { ArtifactRow } from './artifacts.repo';

type GcServices = Pick<Services, 'db' | 'storage' | 'env' | 'log' | 'metrics'>;

// Rows examined per run; the rest wait for the next run (every AETHER_PENDING_GC_INTERVAL_SECS).
const GC_BATCH = 200;

export interface PendingGcResult {
  /** Rows removed (with their upload and partial object). */
  deleted: number;
  /** Rows whose cleanup failed (storage unreachable...); retried by the next run. */
  failed: number;
}

/**
 * Stale uploads: `pending` rows untouched for the TTL, and `failed` rows as old that still name
 * a multipart upload (parts nobody will assemble). Never a row a deployment references, though
 * none should: only stored artifacts can be deployed, and the FK would refuse the delete.
 */
function staleUpload(db: Queryable, cutoff: Date) {
  return and(
    lt(artifacts.updatedAt, cutoff),
    or(eq(artifacts.status, 'pending'), and(eq(artifacts.status, 'failed'), isNotNull(artifacts.multipartUploadId))),
    notExists(db.select({ id: deployments.id }).from(deployments).where(eq(deployments.artifactId, artifacts.id))),
  );
}

/** Whether another live row names the same object (keys are per app + digest, so never today). */
async function keyInUse(db: Queryable, row: ArtifactRow): Promise<boolean> {
  const [other] = await db
    .select({ id: artifacts.id })
    .from(artifacts)
    .where(and(eq(artifacts.storageKey, row.storageKey), ne(artifacts.id, row.id), inArray(artifacts.status, ['verifying', 'stored'])))
    .limit(1);
  return other !== undefined;
}

/**
 * Removes one stale row, holding its row lock throughout: a concurrent complete, presign or
 * multipart call on it waits, then finds the row gone (or, if it got there first, this finds the
 * row no longer stale and leaves it). Storage is cleaned before the row is deleted, so a crash
 * leaves a row for the next run, never an object nothing points at.
 */
async function collectOne(svc: GcServices, id: string, cutoff: Date): Promise<boolean> {
  return svc.db.transaction(async (tx) => {
    // skip locked: a concurrent GC run (another worker process) already has this row.
    const [row] = await tx
      .select()
      .from(artifacts)
      .where(and(eq(artifacts.id, id), staleUpload(tx, cutoff)))
      .for('update', { skipLocked: true });
    if (!row) return false;
    if (row.multipartUploadId) await svc.storage.abortMultipart(row.storageKey, { uploadId: row.multipartUploadId });
    // The row is pending or failed under our lock, so whatever sits at its key (a finished PUT
    // never completed, a rejected object, or nothing) is not a stored artifact. Deleting a
    // missing object is a no-op.
    if (!(await keyInUse(tx, row))) await svc.storage.delete(row.storageKey);
    await tx.delete(artifacts).where(eq(artifacts.id, row.id));
    return true;
  });
}

/**
 * Pending-upload GC: removes uploads older than AETHER_PENDING_TTL_SECS (see
 * {@link staleUpload}): aborts the multipart upload, deletes any partial object, then deletes
 * the row (its events cascade). One row's failure is logged and left for the next run.
 */
export async function collectStalePending(svc: GcServices, now: Date = new Date()): Promise<PendingGcResult> {
  svc.metrics.artifactPendingGcRuns.inc();
  const cutoff = new Date(now.getTime() - svc.env.AETHER_PENDING_TTL_SECS * 1000);
  const candidates = await svc.db
    .select({ id: artifacts.id })
    .from(artifacts)
    .where(staleUpload(svc.db, cutoff))
    .orderBy(artifacts.updatedAt)
    .limit(GC_BATCH);

  const result: PendingGcResult = { deleted: 0, failed: 0 };
  for (const { id } of candidates) {
    try {
      if (!(await collectOne(svc, id, cutoff))) continue;
      result.deleted += 1;
      svc.metrics.artifactPendingGcDeleted.inc();
    } catch (err) {
      result.failed += 1;
      svc.log.warn('pending gc of an artifact failed', { artifactId: id, err });
    }
  }
  if (result.deleted || result.failed) svc.log.info('pending gc', { ...result, cutoff: cutoff.toISOString() });
  return result;
}

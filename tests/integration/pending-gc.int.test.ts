import { eq, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactEvents, artifacts, deployments } from '../../db/schema';
import { artifactStorageKey } from '../../server/contract/digest';
import { AppError } from '../../server/errors';
import { collectStalePending } from '../../server/services/artifacts/pending-gc.service';
import { sha256, tarGz } from '../support/artifacts';
import { DB_KINDS, startTestPlane, type TestPlane } from '../support/harness';
import { uploadArtifact } from '../support/upload';
import { counterValue, pollUntil } from '../support/poll';
import { configVersionOf } from '../support/config-version';

const TTL_ENV = { AETHER_PENDING_TTL_SECS: '60' };


/** Backdates a row's last update, which is what the TTL is measured from. */
async function age(plane: TestPlane, id: string, secs: number) {
  await plane.services.db
    .update(artifacts)
    .set({ updatedAt: new Date(Date.now() - secs * 1000) })
    .where(eq(artifacts.id, id));
}

/** Presign (and optionally PUT) without completing: an upload the client walked away from. */
async function abandonedUpload(plane: TestPlane, app: string, bytes: Buffer, put: boolean) {
  const presigned = await plane.caller('deployer').artifacts.presign({ app_name: app, digest: sha256(bytes), size_bytes: bytes.length });
  if (put) {
    const res = await fetch(presigned.upload_url, { method: 'PUT', headers: presigned.headers, body: new Uint8Array(bytes) });
    expect(res.ok).toBe(true);
  }
  return presigned.artifact;
}

/** A multipart upload with one part on disk, and its row (inserted directly) in `status`. */
async function multipartRow(plane: TestPlane, appId: string, app: string, label: string, status: 'pending' | 'failed') {
  const bytes = tarGz({ 'index.js': `// ${label}\n` });
  const digest = sha256(bytes);
  const key = artifactStorageKey(app, digest);
  const { storage } = plane.services;
  const { uploadId } = await storage.createMultipart(key, { sha256: digest });
  const part = await storage.presignPart(key, { uploadId, partNumber: 1, expiresInSecs: 300 });
  const res = await fetch(part.url, { method: 'PUT', headers: part.headers, body: new Uint8Array(bytes) });
  expect(res.ok).toBe(true);
  const [row] = await plane.services.db
    .insert(artifacts)
    .values({ appId, digest, sizeBytes: bytes.length, storageKey: key, multipartUploadId: uploadId, status })
    .returning();
  return { row: row!, key, uploadId, etag: res.headers.get('etag')! };
}

async function rowsById(plane: TestPlane, ids: string[]) {
  const rows = await plane.services.db.select().from(artifacts).where(inArray(artifacts.id, ids));
  return new Map(rows.map((r) => [r.id, r]));
}

describe.each(DB_KINDS)('pending-upload GC on %s', (kind) => {
  let plane: TestPlane;
  let appId: string;
  beforeAll(async () => {
    plane = await startTestPlane(kind, TTL_ENV);
    appId = (await plane.caller('deployer').apps.create({ name: 'gc' })).id;
  });
  afterAll(async () => plane?.close());

  it('removes stale pending rows and their partial objects; leaves fresh pending and stored rows', async () => {
    const staleWithObject = await abandonedUpload(plane, 'gc', tarGz({ 'a.js': 'stale, uploaded' }), true);
    const staleEmpty = await abandonedUpload(plane, 'gc', tarGz({ 'b.js': 'stale, never uploaded' }), false);
    const fresh = await abandonedUpload(plane, 'gc', tarGz({ 'c.js': 'fresh' }), true);
    const { completed } = await uploadArtifact(plane, 'gc', tarGz({ 'd.js': 'stored long ago' }));
    expect(completed.status).toBe('stored');
    await plane.services.db.insert(artifactEvents).values({ artifactId: staleWithObject.artifact_id, type: 'note', message: 'cascades' });
    for (const id of [staleWithObject.artifact_id, staleEmpty.artifact_id, completed.artifact_id]) await age(plane, id, 120);
    expect(await plane.services.storage.head(staleWithObject.storage_key)).not.toBeNull();

    const deletedBefore = await counterValue(plane, 'artifact_pending_gc_deleted_total');
    const runsBefore = await counterValue(plane, 'artifact_pending_gc_runs_total');
    expect(await collectStalePending(plane.services)).toEqual({ deleted: 2, failed: 0 });

    const rows = await rowsById(plane, [staleWithObject.artifact_id, staleEmpty.artifact_id, fresh.artifact_id, completed.artifact_id]);
    expect(rows.has(staleWithObject.artifact_id)).toBe(false);
    expect(rows.has(staleEmpty.artifact_id)).toBe(false);
    expect(await plane.services.db.select().from(artifactEvents).where(eq(artifactEvents.artifactId, staleWithObject.artifact_id))).toEqual([]);
    expect(await plane.services.storage.head(staleWithObject.storage_key)).toBeNull();
    expect(rows.get(fresh.artifact_id)?.status).toBe('pending');
    expect(await plane.services.storage.head(fresh.storage_key)).not.toBeNull();
    expect(rows.get(completed.artifact_id)?.status).toBe('stored');
    expect(await plane.services.storage.head(completed.storage_key)).not.toBeNull();

    expect(await counterValue(plane, 'artifact_pending_gc_deleted_total')).toBe(deletedBefore + 2);
    expect(await counterValue(plane, 'artifact_pending_gc_runs_total')).toBe(runsBefore + 1);
    // Nothing stale is left: the next run deletes nothing.
    expect(await collectStalePending(plane.services)).toEqual({ deleted: 0, failed: 0 });
  });

  it('aborts stale multipart uploads (pending, or failed with an upload id) so they cannot complete', async () => {
    const pending = await multipartRow(plane, appId, 'gc', 'multipart pending', 'pending');
    const failed = await multipartRow(plane, appId, 'gc', 'multipart failed', 'failed');
    const [failedPlain] = await plane.services.db
      .insert(artifacts)
      .values({ appId, digest: 'f'.repeat(64), sizeBytes: 1, storageKey: artifactStorageKey('gc', 'f'.repeat(64)), status: 'failed' })
      .returning();
    for (const id of [pending.row.id, failed.row.id, failedPlain!.id]) await age(plane, id, 120);

    expect(await collectStalePending(plane.services)).toEqual({ deleted: 2, failed: 0 });
    const rows = await rowsById(plane, [pending.row.id, failed.row.id, failedPlain!.id]);
    expect([rows.has(pending.row.id), rows.has(failed.row.id)]).toEqual([false, false]);
    // A failed row without an upload keeps its failure reason for people to read.
    expect(rows.get(failedPlain!.id)?.status).toBe('failed');

    for (const m of [pending, failed]) {
      const err = await plane.services.storage.completeMultipart(m.key, { uploadId: m.uploadId, parts: [{ partNumber: 1, etag: m.etag }] }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe('not_found');
      expect(await plane.services.storage.head(m.key)).toBeNull();
    }
  });

  it('measures staleness from `now` and never removes a row a deployment references', async () => {
    const referenced = await abandonedUpload(plane, 'gc', tarGz({ 'e.js': 'referenced' }), true);
    await plane.services.db
      .insert(deployments)
      .values({ appId, configVersionId: await configVersionOf(plane.services.db, appId), artifactId: referenced.artifact_id, digest: referenced.digest, status: 'failed', createdBy: 'test' });
    const later = await abandonedUpload(plane, 'gc', tarGz({ 'f.js': 'fresh now, stale in an hour' }), false);

    // An hour from now every pending row is stale (earlier tests' fresh one too), save the referenced one.
    expect((await collectStalePending(plane.services, new Date(Date.now() + 3600_000))).deleted).toBeGreaterThanOrEqual(1);
    const rows = await rowsById(plane, [referenced.artifact_id, later.artifact_id]);
    expect(rows.get(referenced.artifact_id)?.status).toBe('pending');
    expect(await plane.services.storage.head(referenced.storage_key)).not.toBeNull();
    expect(rows.has(later.artifact_id)).toBe(false);
  });
});

describe.each(DB_KINDS)('maintenance sweep on %s', (kind) => {
  let plane: TestPlane;
  beforeAll(async () => {
    plane = await startTestPlane(kind, { ...TTL_ENV, AETHER_RETAIN_LATEST_PER_APP: '1' });
  });
  afterAll(async () => plane?.close());

  it('is scheduled by startWorkers and runs GC, retention and the gauge right away', async () => {
    await plane.caller('deployer').apps.create({ name: 'swept' });
    const stale = await abandonedUpload(plane, 'swept', tarGz({ 'a.js': 'stale' }), true);
    await age(plane, stale.artifact_id, 120);
    const stored: string[] = [];
    for (const i of [0, 1]) {
      const { completed } = await uploadArtifact(plane, 'swept', tarGz({ 'index.js': `// swept ${i}\n` }));
      expect(completed.status).toBe('stored');
      await plane.services.db.update(artifacts).set({ storedAt: new Date(Date.now() - (2 - i) * 60_000) }).where(eq(artifacts.id, completed.artifact_id));
      stored.push(completed.artifact_id);
    }
    // Drop the passes the stores queued: only the sweep may trigger retention here.
    await plane.services.queues.retention.drain();

    const workers = plane.startWorkers();
    await workers.ready;
    const schedulers = await plane.services.queues.maintenance.getJobSchedulers();
    expect(schedulers).toEqual([expect.objectContaining({ key: 'pending-gc', name: 'maintenance.sweep', every: 60_000 })]);

    const rows = await pollUntil(
      () => rowsById(plane, [stale.artifact_id, ...stored]),
      (m) => !m.has(stale.artifact_id) && m.get(stored[0]!)?.status === 'deleted',
      15_000,
    );
    expect(rows.has(stale.artifact_id)).toBe(false);
    expect(stored.map((id) => rows.get(id)?.status)).toEqual(['deleted', 'stored']);
    const gauge = await pollUntil(() => counterValue(plane, 'artifacts_total'), (v) => v === 1, 5_000);
    expect(gauge).toBe(1);
  });
});

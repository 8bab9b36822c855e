import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applications, artifactEvents, artifacts } from '../../db/schema';
import { findArtifact } from '../../server/services/artifacts/artifacts.repo';
import { beginVerification } from '../../server/services/artifacts/begin-verification';
import path from 'node:path';
import { sha256, tarGz } from '../support/artifacts';
import { callFace, type Face, type FaceResult } from '../support/faces';
import { startTestPlane, type TestPlane } from '../support/harness';
import { filesUnder, statusCounts } from '../support/plane-state';
import { fixedSizeArtifact, pollSettled, stageUpload, type Staged } from '../support/staged-uploads';

/**
 * Concurrent completes on real PostgreSQL (PGlite is one connection and cannot race), over
 * real HTTP on both faces: quotas hold under contention, and idempotency keys stay unique.
 */

const QUOTA = 7;
const CLIENTS = 50;

const faceOf = (i: number): Face => (i % 2 === 0 ? 'trpc' : 'rest');

function completeAll(plane: TestPlane, app: string, staged: Staged[], key?: (i: number) => string | undefined): Promise<FaceResult[]> {
  return Promise.all(
    staged.map((s, i) =>
      callFace(plane, faceOf(i), { op: 'complete', input: { app_name: app, digest: s.digest, size_bytes: s.sizeBytes, idempotency_key: key?.(i) } }),
    ),
  );
}

const summary = (results: FaceResult[]) => results.map((r) => `${r.status}:${r.code ?? (r.data as { status?: string }).status}`).sort();

describe('races on postgres', () => {
  let plane: TestPlane;
  beforeAll(async () => {
    // The environment's per-app default: every app holds at most QUOTA artifacts unless overridden.
    plane = await startTestPlane('postgres', { AETHER_MAX_ARTIFACTS_PER_APP: String(QUOTA) });
    plane.startWorkers();
  });
  afterAll(async () => plane?.close());

  async function appWith(name: string, limits: { max_artifacts?: number; max_total_bytes?: number } = {}) {
    const app = await plane.caller('deployer').apps.create({ name });
    if (Object.keys(limits).length) await plane.caller('admin').apps.setLimits({ app_name: name, ...limits });
    return app;
  }

  async function stageMany(app: string, n: number, bytesOf: (i: number) => Buffer): Promise<Staged[]> {
    return Promise.all(Array.from({ length: n }, (_, i) => stageUpload(plane, app, bytesOf(i))));
  }

  /** Presigns (PUT URLs) for `bytes`, all at once, over both faces. */
  function presignAll(app: string, bytes: Buffer[]): Promise<FaceResult[]> {
    return Promise.all(bytes.map((b, i) => callFace(plane, faceOf(i), { op: 'presign', input: { app_name: app, digest: sha256(b), size_bytes: b.length } })));
  }

  /** Object files of the app in the fs store: what is on disk, not what the rows say. */
  const objectFilesOf = async (app: string) => (await filesUnder(path.join(plane.dataDir, 'objects', 'artifacts', app))).filter((f) => f.endsWith('app.tar.gz'));

  it(`hands out exactly ${QUOTA} of ${CLIENTS} concurrent presigns under an artifact-count quota: pending uploads hold quota`, async () => {
    const app = await appWith('race-presign-count');
    const bytes = Array.from({ length: CLIENTS }, (_, i) => tarGz({ 'package.json': '{}', 'n.txt': `presign ${i}` }));

    const results = await presignAll('race-presign-count', bytes);

    const won = results.filter((r) => r.status === 200);
    expect(won, summary(results).join(' ')).toHaveLength(QUOTA);
    for (const r of won) expect((r.data as { method: string }).method).toBe('PUT');
    for (const r of results.filter((x) => x.status !== 200)) expect({ status: r.status, code: r.code }).toEqual({ status: 403, code: 'quota_exceeded' });
    expect(await statusCounts(plane, app.id)).toEqual({ pending: QUOTA });
    expect((await plane.caller('reader').apps.limits({ app_name: 'race-presign-count' })).usage.artifacts).toBe(QUOTA);
  });

  it(`hands out exactly ${QUOTA} of ${CLIENTS} concurrent presigns under a byte quota, counting the declared sizes`, async () => {
    const size = fixedSizeArtifact('probe').length;
    const app = await appWith('race-presign-bytes', { max_artifacts: 1000, max_total_bytes: QUOTA * size + size - 1 });
    const bytes = Array.from({ length: CLIENTS }, (_, i) => fixedSizeArtifact(`presign bytes ${i}`));

    const results = await presignAll('race-presign-bytes', bytes);

    expect(results.filter((r) => r.status === 200), summary(results).join(' ')).toHaveLength(QUOTA);
    for (const r of results.filter((x) => x.status !== 200)) expect({ status: r.status, code: r.code }).toEqual({ status: 403, code: 'quota_exceeded' });
    expect(await statusCounts(plane, app.id)).toEqual({ pending: QUOTA });
    expect((await plane.caller('reader').apps.limits({ app_name: 'race-presign-bytes' })).usage).toEqual({ artifacts: QUOTA, bytes: QUOTA * size });
  });

  it(`starts exactly ${QUOTA} of ${CLIENTS} concurrent multipart uploads under a count quota, and leaves no upload behind for the others`, async () => {
    const app = await appWith('race-init');
    const bytes = Array.from({ length: CLIENTS }, (_, i) => tarGz({ 'package.json': '{}', 'm.txt': `multipart ${i}` }));

    const results = await Promise.all(
      bytes.map((b, i) => callFace(plane, faceOf(i), { op: 'multipartInit', input: { app_name: 'race-init', digest: sha256(b), size_bytes: b.length } })),
    );

    expect(results.filter((r) => r.status === 200), summary(results).join(' ')).toHaveLength(QUOTA);
    for (const r of results.filter((x) => x.status !== 200)) expect({ status: r.status, code: r.code }).toEqual({ status: 403, code: 'quota_exceeded' });
    expect(await statusCounts(plane, app.id)).toEqual({ pending: QUOTA });
    // Uploads created by the losers before the locked check refused them were aborted.
    const uploads = new Set((await filesUnder(path.join(plane.dataDir, 'objects', '.multipart'))).map((f) => f.split('/')[0]));
    expect(uploads.size).toBe(QUOTA);
  });

  it(`lets exactly ${QUOTA} of ${CLIENTS} concurrent completes through a count quota lowered after the uploads, deleting the losers at once`, async () => {
    const app = await appWith('race-count', { max_artifacts: 1000 });
    const staged = await stageMany('race-count', CLIENTS, (i) => tarGz({ 'package.json': '{}', 'n.txt': `count ${i}` }));
    expect(await objectFilesOf('race-count')).toHaveLength(CLIENTS);
    await plane.caller('admin').apps.setLimits({ app_name: 'race-count', max_artifacts: QUOTA });

    const results = await completeAll(plane, 'race-count', staged);

    const won = results.filter((r) => r.status === 200);
    const lost = results.filter((r) => r.status !== 200);
    expect(won, summary(results).join(' ')).toHaveLength(QUOTA);
    for (const r of won) expect(['verifying', 'stored']).toContain((r.data as { status: string }).status);
    for (const r of lost) expect({ status: r.status, code: r.code }).toEqual({ status: 403, code: 'quota_exceeded' });
    // Refused uploads are gone from disk when the answer comes, and their rows hold nothing.
    expect(await objectFilesOf('race-count')).toHaveLength(QUOTA);
    const counts = await statusCounts(plane, app.id);
    expect((counts.verifying ?? 0) + (counts.stored ?? 0)).toBe(QUOTA);
    expect(counts.failed).toBe(CLIENTS - QUOTA);
    const failed = await plane.services.db.select().from(artifacts).where(and(eq(artifacts.appId, app.id), eq(artifacts.status, 'failed')));
    for (const row of failed) expect(row.failureReason).toBe('quota_exceeded');

    for (const r of won) expect((await pollSettled(plane, 'race-count', (r.data as { digest: string }).digest)).status).toBe('stored');
    expect(await statusCounts(plane, app.id)).toEqual({ stored: QUOTA, failed: CLIENTS - QUOTA });
    expect((await plane.caller('reader').apps.limits({ app_name: 'race-count' })).usage.artifacts).toBe(QUOTA);
  });

  it(`lets exactly ${QUOTA} of ${CLIENTS} concurrent completes through a byte quota lowered after the uploads`, async () => {
    const size = fixedSizeArtifact('probe').length;
    const app = await appWith('race-bytes', { max_artifacts: 1000 });
    const staged = await stageMany('race-bytes', CLIENTS, (i) => fixedSizeArtifact(`bytes ${i}`));
    for (const s of staged) expect(s.sizeBytes).toBe(size);
    // Room for QUOTA artifacts and not one byte more than QUOTA + 1 would need, minus one.
    await plane.caller('admin').apps.setLimits({ app_name: 'race-bytes', max_total_bytes: QUOTA * size + size - 1 });

    const results = await completeAll(plane, 'race-bytes', staged);

    const won = results.filter((r) => r.status === 200);
    expect(won, summary(results).join(' ')).toHaveLength(QUOTA);
    for (const r of results.filter((x) => x.status !== 200)) expect({ status: r.status, code: r.code }).toEqual({ status: 403, code: 'quota_exceeded' });
    const counts = await statusCounts(plane, app.id);
    expect((counts.verifying ?? 0) + (counts.stored ?? 0)).toBe(QUOTA);
    expect(counts.failed).toBe(CLIENTS - QUOTA);
    expect(await objectFilesOf('race-bytes')).toHaveLength(QUOTA);
    const limits = await plane.caller('reader').apps.limits({ app_name: 'race-bytes' });
    expect(limits.usage).toEqual({ artifacts: QUOTA, bytes: QUOTA * size });
  });

  it('answers 20 concurrent completes of one digest with one key with one artifact', async () => {
    const app = await appWith('race-same', { max_artifacts: 1000 });
    const [one] = await stageMany('race-same', 1, () => tarGz({ 'package.json': '{}', 'same.txt': 'same' }));
    const staged = Array.from({ length: 20 }, () => one!);

    const results = await completeAll(plane, 'race-same', staged, () => 'the-one-key');

    expect(summary(results).filter((s) => !s.startsWith('200'))).toEqual([]);
    const ids = new Set(results.map((r) => (r.data as { artifact_id: string }).artifact_id));
    expect(ids.size).toBe(1);
    for (const r of results) expect(r.data).toMatchObject({ digest: one!.digest, idempotency_key: 'the-one-key' });
    const rows = await plane.services.db.select().from(artifacts).where(eq(artifacts.appId, app.id));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: [...ids][0], idempotencyKey: 'the-one-key' });
    // One transition to stored (verified by the complete that won), not twenty.
    const events = await plane.services.db.select().from(artifactEvents).where(eq(artifactEvents.artifactId, rows[0]!.id));
    expect(events.map((e) => e.type)).toEqual(['stored']);
    expect((await pollSettled(plane, 'race-same', one!.digest)).status).toBe('stored');
  });

  it('lets exactly one of two digests racing with one idempotency key win (10 rounds)', async () => {
    const app = await appWith('race-keys', { max_artifacts: 1000 });
    for (let round = 0; round < 10; round++) {
      const staged = await stageMany('race-keys', 2, (i) => tarGz({ 'package.json': '{}', 'k.txt': `round ${round} digest ${i}` }));
      const results = await completeAll(plane, 'race-keys', staged, () => `key-${round}`);
      expect(summary(results), `round ${round}`).toEqual(['200:stored', '409:idempotency_conflict'].sort());
      const loser = staged[results.findIndex((r) => r.status === 409)]!;
      expect((await plane.caller('reader').artifacts.get({ app_name: 'race-keys', digest: loser.digest })).status).toBe('pending');
    }
    const keyed = await plane.services.db.select().from(artifacts).where(eq(artifacts.appId, app.id));
    expect(keyed.filter((r) => r.idempotencyKey !== null)).toHaveLength(10);
  });

  it('lets exactly one of two idempotency keys racing on one digest win, as when they come one after the other (10 rounds)', async () => {
    await appWith('race-two-keys', { max_artifacts: 1000 });
    // One after the other, the second key is refused:
    const [seq] = await stageMany('race-two-keys', 1, () => tarGz({ 'package.json': '{}', 's.txt': 'sequential' }));
    const first = await callFace(plane, 'trpc', { op: 'complete', input: { app_name: 'race-two-keys', digest: seq!.digest, size_bytes: seq!.sizeBytes, idempotency_key: 'a' } });
    expect(first.status).toBe(200);
    const second = await callFace(plane, 'trpc', { op: 'complete', input: { app_name: 'race-two-keys', digest: seq!.digest, size_bytes: seq!.sizeBytes, idempotency_key: 'b' } });
    expect({ status: second.status, code: second.code }).toEqual({ status: 409, code: 'idempotency_conflict' });

    // At the same time, the answer must be the same: one key wins, the other gets 409.
    for (let round = 0; round < 10; round++) {
      const [one] = await stageMany('race-two-keys', 1, () => tarGz({ 'package.json': '{}', 't.txt': `two keys ${round}` }));
      const results = await completeAll(plane, 'race-two-keys', [one!, one!], (i) => `r${round}-k${i}`);
      expect(summary(results), `round ${round}`).toEqual(['200:stored', '409:idempotency_conflict'].sort());
    }
  });
  it.each([
    ['without limits', {}],
    ['with a bytes quota', { max_total_bytes: 10_000_000 }],
  ] as const)('stores only the upload its complete checked: a presign resetting the row in between wins (%s)', async (label, limits) => {
    const name = `race-reset-${Object.keys(limits).length ? 'quota' : 'free'}`;
    await appWith(name, limits);
    const [app] = await plane.services.db.select().from(applications).where(eq(applications.name, name));
    const s = await stageUpload(plane, name, fixedSizeArtifact(`reset ${label}`));
    // What a complete read and checked before writing...
    const checked = (await findArtifact(plane.services.db, app!.id, s.digest))!;
    const uploaded = (await plane.services.storage.head(checked.storageKey))!;
    // ...then a presign of the digest with another size resets the row to a new, empty upload.
    const bigger = s.sizeBytes + 4096;
    await plane.caller('deployer').artifacts.presign({ app_name: name, digest: s.digest, size_bytes: bigger });
    const ctx = { ...plane.services, actor: { name: 'deployer-user', role: 'deployer' as const, tokenId: null, teams: null } };
    await expect(beginVerification(ctx, app!, checked, { uploaded })).rejects.toMatchObject({ code: 'conflict' });
    expect(await findArtifact(plane.services.db, app!.id, s.digest)).toMatchObject({ status: 'pending', sizeBytes: bigger, storedAt: null });
  });
  it('a bad signature refuses only the upload its complete checked: a presign resetting the row in between keeps its bytes', async () => {
    await appWith('race-reset-signed');
    const [app] = await plane.services.db.select().from(applications).where(eq(applications.name, 'race-reset-signed'));
    const bytes = fixedSizeArtifact('reset signed');
    const s = await stageUpload(plane, 'race-reset-signed', bytes);
    const checked = (await findArtifact(plane.services.db, app!.id, s.digest))!;
    const uploaded = (await plane.services.storage.head(checked.storageKey))!;
    // A new presign of the digest (another size) resets the row before the refusal lands.
    await plane.caller('deployer').artifacts.presign({ app_name: 'race-reset-signed', digest: s.digest, size_bytes: s.sizeBytes + 4096 });
    const ctx = { ...plane.services, actor: { name: 'deployer-user', role: 'deployer' as const, tokenId: null, teams: null } };
    await expect(beginVerification(ctx, app!, checked, { uploaded, signature: 'ab'.repeat(64) })).rejects.toMatchObject({ code: 'conflict' });
    expect(await findArtifact(plane.services.db, app!.id, s.digest)).toMatchObject({ status: 'pending', sizeBytes: s.sizeBytes + 4096 });
    expect(await plane.services.storage.head(checked.storageKey)).not.toBeNull();
  });
});

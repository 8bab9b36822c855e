import { randomUUID } from 'node:crypto';
import { and, eq, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applications, artifactEvents, artifacts, deployments, type DeploymentStatus } from '../../db/schema';
import { enqueueRetention } from '../../server/queues/producers';
import { applyRetention, findRollbackTarget } from '../../server/services/artifacts/retention.service';
import { tarGz } from '../support/artifacts';
import { DB_KINDS, startTestPlane, type TestPlane } from '../support/harness';
import { uploadArtifact } from '../support/upload';
import { counterValue, pollUntil } from '../support/poll';
import { configVersionOf } from '../support/config-version';

interface Stored {
  id: string;
  digest: string;
  storageKey: string;
}


/** An app with `n` stored artifacts through the real upload flow, oldest first (storedAt one minute apart). */
async function appWithStored(plane: TestPlane, name: string, n: number): Promise<{ appId: string; stored: Stored[] }> {
  const { id: appId } = await plane.caller('deployer').apps.create({ name });
  const stored: Stored[] = [];
  const base = Date.now() - 24 * 3600 * 1000;
  for (let i = 0; i < n; i++) {
    const { completed } = await uploadArtifact(plane, name, tarGz({ 'index.js': `// ${name} #${i}\n` }));
    expect(completed.status).toBe('stored');
    const [row] = await plane.services.db
      .update(artifacts)
      .set({ storedAt: new Date(base + i * 60_000) })
      .where(eq(artifacts.id, completed.artifact_id))
      .returning();
    expect(row?.status).toBe('stored');
    stored.push({ id: row!.id, digest: row!.digest, storageKey: row!.storageKey });
  }
  return { appId, stored };
}

async function deploy(plane: TestPlane, appId: string, a: Stored, status: DeploymentStatus, minutesAgo: number) {
  const at = new Date(Date.now() - minutesAgo * 60_000);
  const [row] = await plane.services.db
    .insert(deployments)
    .values({ appId, configVersionId: await configVersionOf(plane.services.db, appId), artifactId: a.id, digest: a.digest, status, createdBy: 'test', createdAt: at, lastTransitionAt: at })
    .returning();
  return row!;
}

async function statusOf(plane: TestPlane, ids: string[]) {
  const rows = await plane.services.db.select().from(artifacts).where(inArray(artifacts.id, ids));
  return new Map(rows.map((r) => [r.id, r]));
}

async function retentionEvents(plane: TestPlane, id: string) {
  return plane.services.db
    .select()
    .from(artifactEvents)
    .where(and(eq(artifactEvents.artifactId, id), eq(artifactEvents.type, 'retention_delete')));
}

async function expectDeleted(plane: TestPlane, victims: Stored[]) {
  const rows = await statusOf(plane, victims.map((v) => v.id));
  for (const v of victims) {
    expect(await plane.services.storage.head(v.storageKey)).toBeNull();
    expect(rows.get(v.id)).toMatchObject({ status: 'deleted', deletedAt: expect.any(Date) });
    expect(await retentionEvents(plane, v.id)).toHaveLength(1);
  }
}

async function expectKept(plane: TestPlane, kept: Stored[]) {
  const rows = await statusOf(plane, kept.map((v) => v.id));
  for (const k of kept) {
    expect(await plane.services.storage.head(k.storageKey)).not.toBeNull();
    expect(rows.get(k.id)?.status).toBe('stored');
  }
}

const sortedIds = (xs: Array<string | Stored>) => xs.map((x) => (typeof x === 'string' ? x : x.id)).sort();

describe.each(DB_KINDS)('artifact retention on %s', (kind) => {
  let plane: TestPlane;
  beforeAll(async () => {
    plane = await startTestPlane(kind, { AETHER_RETAIN_LATEST_PER_APP: '2' });
  });
  afterAll(async () => plane?.close());

  it('keeps the newest N stored artifacts and deletes the objects and rows of the rest', async () => {
    const { appId, stored } = await appWithStored(plane, 'keep-two', 5);
    const before = await counterValue(plane, 'aether_artifact_retention_deleted_total');

    const result = await applyRetention(plane.services, appId);
    expect(result.retain).toBe(2);
    expect(sortedIds(result.deleted)).toEqual(sortedIds(stored.slice(0, 3)));
    await expectDeleted(plane, stored.slice(0, 3));
    await expectKept(plane, stored.slice(3));
    expect(await counterValue(plane, 'aether_artifact_retention_deleted_total')).toBe(before + 3);

    // A second pass finds nothing left to do.
    expect((await applyRetention(plane.services, appId)).deleted).toEqual([]);
  });

  it('spares artifacts of live deployments and the rollback target, even older than N', async () => {
    const { appId, stored: o } = await appWithStored(plane, 'guarded', 8);
    await deploy(plane, appId, o[0]!, 'superseded', 60);
    const target = await deploy(plane, appId, o[1]!, 'superseded', 50);
    await deploy(plane, appId, o[2]!, 'running', 40);
    await deploy(plane, appId, o[3]!, 'rolling_out', 30);
    await deploy(plane, appId, o[4]!, 'failed', 20);
    await deploy(plane, appId, o[5]!, 'rolled_back', 10);
    expect((await findRollbackTarget(plane.services.db, appId))?.id).toBe(target.id);

    const result = await applyRetention(plane.services, appId);
    const victims = [o[0]!, o[4]!, o[5]!];
    expect(sortedIds(result.deleted)).toEqual(sortedIds(victims));
    await expectDeleted(plane, victims);
    await expectKept(plane, [o[1]!, o[2]!, o[3]!, o[6]!, o[7]!]);
  });

  it("uses the app's own retainLatest over the env default", async () => {
    const { appId, stored } = await appWithStored(plane, 'override', 5);
    await plane.services.db.update(applications).set({ retainLatest: 4 }).where(eq(applications.id, appId));
    expect(sortedIds((await applyRetention(plane.services, appId)).deleted)).toEqual(sortedIds(stored.slice(0, 1)));

    await plane.services.db.update(applications).set({ retainLatest: 1 }).where(eq(applications.id, appId));
    expect(sortedIds((await applyRetention(plane.services, appId)).deleted)).toEqual(sortedIds(stored.slice(1, 4)));
    await expectDeleted(plane, stored.slice(0, 4));
    await expectKept(plane, stored.slice(4));
  });

  it('two concurrent passes delete each victim exactly once', async () => {
    const { appId, stored } = await appWithStored(plane, 'racy', 6);
    const before = await counterValue(plane, 'aether_artifact_retention_deleted_total');

    const [a, b] = await Promise.all([applyRetention(plane.services, appId), applyRetention(plane.services, appId)]);
    const all = [...a.deleted, ...b.deleted];
    expect(new Set(all).size).toBe(all.length);
    expect(sortedIds(all)).toEqual(sortedIds(stored.slice(0, 4)));
    await expectDeleted(plane, stored.slice(0, 4));
    await expectKept(plane, stored.slice(4));
    expect(await counterValue(plane, 'aether_artifact_retention_deleted_total')).toBe(before + 4);
  });

  it('dedupes queued passes for one app while one is waiting', async () => {
    const appId = randomUUID();
    await enqueueRetention(plane.services.queues, { appId });
    await enqueueRetention(plane.services.queues, { appId });
    const waiting = await plane.services.queues.retention.getWaiting();
    expect(waiting.filter((j) => j.id === `retention-${appId}`)).toHaveLength(1);
  });
});

describe.each(DB_KINDS)('retention through the worker on %s', (kind) => {
  let plane: TestPlane;
  beforeAll(async () => {
    plane = await startTestPlane(kind);
    plane.startWorkers();
  });
  afterAll(async () => plane?.close());

  it('a queued pass applies the app override once artifacts are stored', async () => {
    const { appId, stored } = await appWithStored(plane, 'queued', 3);
    // A store queues no pass for an app that keeps everything; wait out any other, so ours is not swallowed.
    const q = plane.services.queues.retention;
    await pollUntil(() => q.getJobCounts('waiting', 'active'), (c) => (c.waiting ?? 0) + (c.active ?? 0) === 0, 15_000);
    await plane.services.db.update(applications).set({ retainLatest: 1 }).where(eq(applications.id, appId));
    await enqueueRetention(plane.services.queues, { appId });

    const rows = await pollUntil(
      () => statusOf(plane, stored.map((s) => s.id)),
      (m) => [...m.values()].filter((r) => r.status === 'deleted').length === 2,
      15_000,
    );
    expect(stored.map((s) => rows.get(s.id)?.status)).toEqual(['deleted', 'deleted', 'stored']);
    await expectDeleted(plane, stored.slice(0, 2));
  });
});

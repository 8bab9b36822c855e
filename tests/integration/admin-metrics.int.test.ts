import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applications, artifactEvents, artifacts, deploymentEvents, deployments } from '../../db/schema';
import { getMetricsDashboard } from '../../server/services/admin/metrics.service';
import { DB_KINDS, startTestPlane, type TestPlane } from '../support/harness';
import { configVersionOf } from '../support/config-version';

const HOUR = 3600_000;
const digestOf = (i: number) => i.toString(16).padStart(64, '0');

/**
 * Seeds one hour bucket (3 h ago, hour-aligned + 10 min) with known latencies, plus one upload
 * two days ago that only the 7-day range sees.
 */
async function seed(plane: TestPlane, now: Date) {
  const db = plane.services.db;
  const t0 = new Date(Math.floor((now.getTime() - 3 * HOUR) / HOUR) * HOUR + 10 * 60_000);
  const at = (ms: number) => new Date(t0.getTime() + ms);
  const [app] = await db.insert(applications).values({ name: `metrics-${randomUUID().slice(0, 6)}`, owner: 'test' }).returning();
  const appId = app!.id;

  // Ten uploads: presign-to-complete 100..1000 ms, complete-to-stored 20..200 ms, 1000 bytes each.
  const stored = [];
  for (let i = 1; i <= 10; i++) {
    const [row] = await db
      .insert(artifacts)
      .values({ appId, digest: digestOf(i), sizeBytes: 1000, status: 'stored', storageKey: `k/${i}`, createdAt: at(0), completedAt: at(i * 100), storedAt: at(i * 100 + i * 20) })
      .returning();
    stored.push(row!);
  }
  const old = new Date(now.getTime() - 48 * HOUR);
  await db.insert(artifacts).values({ appId, digest: digestOf(99), sizeBytes: 5, status: 'stored', storageKey: 'k/old', createdAt: old, completedAt: old, storedAt: old });
  const [bad] = await db.insert(artifacts).values({ appId, digest: digestOf(50), sizeBytes: 7, status: 'failed', failureReason: 'digest_mismatch_remote', storageKey: 'k/bad', createdAt: at(0), updatedAt: at(500) }).returning();
  await db.insert(artifactEvents).values({ artifactId: bad!.id, type: 'failed', message: 'digest_mismatch_remote: ...', createdAt: at(500) });

  // Four deployments reaching running after 1..4 s, one failing its health check.
  for (let i = 1; i <= 4; i++) {
    const [d] = await db
      .insert(deployments)
      .values({ appId, configVersionId: await configVersionOf(db, appId), artifactId: stored[i - 1]!.id, digest: stored[i - 1]!.digest, status: i === 4 ? 'running' : 'superseded', createdBy: 'test', createdAt: at(1000), lastTransitionAt: at(1000 + i * 1000) })
      .returning();
    await db.insert(deploymentEvents).values({ deploymentId: d!.id, phase: 'running', message: 'answering', createdAt: at(1000 + i * 1000) });
  }
  const [failed] = await db
    .insert(deployments)
    .values({ appId, configVersionId: await configVersionOf(db, appId), artifactId: stored[4]!.id, digest: stored[4]!.digest, status: 'failed', failureReason: 'health_check_failed', createdBy: 'test', createdAt: at(2000), lastTransitionAt: at(9000) })
    .returning();
  await db.insert(deploymentEvents).values({ deploymentId: failed!.id, phase: 'failed', message: 'health_check_failed: ...', createdAt: at(9000) });
  return { t0 };
}

describe.each(DB_KINDS)('admin metrics dashboard on %s', (kind) => {
  let plane: TestPlane;
  const now = new Date();
  let t0: Date;

  beforeAll(async () => {
    plane = await startTestPlane(kind);
    ({ t0 } = await seed(plane, now));
  });
  afterAll(async () => plane?.close());

  it('aggregates uploads, latencies, deploys and failures per hour, with window totals', async () => {
    const dash = await getMetricsDashboard(plane.services, '24h', now);
    expect(dash.bucket_secs).toBe(3600);
    expect(dash.buckets).toHaveLength(24);
    expect(dash.totals).toEqual({
      uploads: 10,
      upload_bytes: 10_000,
      upload_p50_ms: 550,
      upload_p95_ms: 955,
      stored_p50_ms: 110,
      stored_p95_ms: 191,
      deploys: 5,
      running_p50_ms: 2500,
      running_p95_ms: 3850,
      artifact_failures: 1,
      deployment_failures: 1,
    });
    const hour = new Date(Math.floor(t0.getTime() / HOUR) * HOUR).toISOString();
    const busy = dash.buckets.filter((b) => b.uploads > 0 || b.deploys > 0 || b.artifact_failures > 0);
    expect(busy.map((b) => b.t)).toEqual([hour]);
    expect(busy[0]).toMatchObject({ uploads: 10, upload_p50_ms: 550, deploys: 5, running_p95_ms: 3850, deployment_failures: 1 });
    // Quiet hours are gaps for latencies (null), zeros for counts.
    const quiet = dash.buckets.find((b) => b.t !== hour)!;
    expect(quiet).toMatchObject({ uploads: 0, upload_p50_ms: null, stored_p95_ms: null, running_p50_ms: null, deploys: 0 });
    expect(dash.failure_reasons).toEqual(
      expect.arrayContaining([
        { kind: 'artifact', reason: 'digest_mismatch_remote', count: 1 },
        { kind: 'deployment', reason: 'health_check_failed', count: 1 },
      ]),
    );
    expect(dash.queues.map((q) => q.name).sort()).toEqual(['artifact-verify', 'maintenance', 'retention', 'rollout', 'secrets-rekey']);
    expect(dash.queues.every((q) => q.points.length === 24)).toBe(true);
  });

  it('the range decides the window: 6 h in quarter hours, 7 days sees the older upload', async () => {
    const six = await getMetricsDashboard(plane.services, '6h', now);
    expect(six.bucket_secs).toBe(900);
    expect(six.buckets).toHaveLength(24);
    expect(six.totals.uploads).toBe(10);
    const week = await getMetricsDashboard(plane.services, '7d', now);
    expect(week.buckets).toHaveLength(168);
    expect(week.totals.uploads).toBe(11);
    expect(week.totals.upload_bytes).toBe(10_005);
  });

  it('is served to admins through tRPC', async () => {
    const dash = await plane.caller('admin').admin.metrics.dashboard({ range: '24h' });
    expect(dash.totals.deploys).toBe(5);
  });
});

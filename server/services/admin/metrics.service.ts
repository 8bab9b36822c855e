import { and, count, eq, gte, isNotNull, sql, type SQL } from 'drizzle-orm';
import type { AnyPgColumn } from 'drizzle-orm/pg-core';
import { artifactEvents, artifacts, deploymentEvents, deployments } from '../../../db/schema';
import type { Services } from '../context';
import type { TMetricsRange } from './admin.schemas';
import { queueThroughput, type QueueThroughput } from './queue-metrics';

type MetricsServices = Pick<Services, 'db' | 'queues'>;

/** Window and bar width of each range: about 24-170 bars, hourly where "per hour" is asked. */
export const RANGES: Record<TMetricsRange, { windowSecs: number; bucketSecs: number }> = {
  '6h': { windowSecs: 6 * 3600, bucketSecs: 15 * 60 },
  '24h': { windowSecs: 24 * 3600, bucketSecs: 3600 },
  '7d': { windowSecs: 7 * 24 * 3600, bucketSecs: 3600 },
};

/** Latency pairs are null when nothing happened in the bucket (a gap, not a zero). */
export interface MetricsBucket {
  t: string;
  uploads: number;
  upload_bytes: number;
  upload_p50_ms: number | null;
  upload_p95_ms: number | null;
  stored_p50_ms: number | null;
  stored_p95_ms: number | null;
  deploys: number;
  running_p50_ms: number | null;
  running_p95_ms: number | null;
  artifact_failures: number;
  deployment_failures: number;
}

export type MetricsTotals = Omit<MetricsBucket, 't'>;

export interface MetricsDashboard {
  range: TMetricsRange;
  bucket_secs: number;
  from: string;
  to: string;
  totals: MetricsTotals;
  buckets: MetricsBucket[];
  failure_reasons: { kind: 'artifact' | 'deployment'; reason: string; count: number }[];
  queues: QueueThroughput[];
}

const ms = (later: AnyPgColumn, earlier: AnyPgColumn) => sql`extract(epoch from (${later} - ${earlier})) * 1000`;
const pct = (p: number, expr: SQL) => sql<number | null>`percentile_cont(${sql.raw(String(p))}) within group (order by ${expr})`.mapWith((v) => (v === null ? null : Math.round(Number(v))));
const num = (expr: SQL) => expr.mapWith(Number) as SQL<number>;

/**
 * The admin dashboard, built from what the control plane already records: artifact
 * timestamps (created = presign, completed, stored), deployment timestamps and phase events,
 * and BullMQ's per-minute job metrics. Percentiles are computed by the database per bucket.
 */
export async function getMetricsDashboard(svc: MetricsServices, range: TMetricsRange, now = new Date()): Promise<MetricsDashboard> {
  const { windowSecs, bucketSecs } = RANGES[range];
  const b = sql.raw(String(bucketSecs));
  const bucketOf = (col: AnyPgColumn) => num(sql`floor(extract(epoch from ${col}) / ${b}) * ${b}`);
  const fromSecs = Math.floor((now.getTime() / 1000 - windowSecs) / bucketSecs + 1) * bucketSecs;
  const from = new Date(fromSecs * 1000);
  const db = svc.db;

  // Each measure is grouped twice: per bucket for the charts, once over the window for the totals.
  const uploads = (grouped: boolean) => {
    const q = db
      .select({
        bucket: grouped ? bucketOf(artifacts.completedAt) : sql<number>`0`.mapWith(Number),
        uploads: count(),
        bytes: num(sql`coalesce(sum(${artifacts.sizeBytes}), 0)`),
        p50: pct(0.5, ms(artifacts.completedAt, artifacts.createdAt)),
        p95: pct(0.95, ms(artifacts.completedAt, artifacts.createdAt)),
      })
      .from(artifacts)
      .where(gte(artifacts.completedAt, from));
    return grouped ? q.groupBy(sql`1`) : q;
  };
  const stored = (grouped: boolean) => {
    const q = db
      .select({
        bucket: grouped ? bucketOf(artifacts.storedAt) : sql<number>`0`.mapWith(Number),
        p50: pct(0.5, ms(artifacts.storedAt, artifacts.completedAt)),
        p95: pct(0.95, ms(artifacts.storedAt, artifacts.completedAt)),
      })
      .from(artifacts)
      .where(and(gte(artifacts.storedAt, from), isNotNull(artifacts.completedAt)));
    return grouped ? q.groupBy(sql`1`) : q;
  };
  const deploys = (grouped: boolean) => {
    const q = db
      .select({ bucket: grouped ? bucketOf(deployments.createdAt) : sql<number>`0`.mapWith(Number), deploys: count() })
      .from(deployments)
      .where(gte(deployments.createdAt, from));
    return grouped ? q.groupBy(sql`1`) : q;
  };
  // Time to running: from the deployment's creation to its `running` event.
  const running = (grouped: boolean) => {
    const q = db
      .select({
        bucket: grouped ? bucketOf(deploymentEvents.createdAt) : sql<number>`0`.mapWith(Number),
        p50: pct(0.5, ms(deploymentEvents.createdAt, deployments.createdAt)),
        p95: pct(0.95, ms(deploymentEvents.createdAt, deployments.createdAt)),
      })
      .from(deploymentEvents)
      .innerJoin(deployments, eq(deployments.id, deploymentEvents.deploymentId))
      .where(and(eq(deploymentEvents.phase, 'running'), gte(deploymentEvents.createdAt, from)));
    return grouped ? q.groupBy(sql`1`) : q;
  };
  const artifactFailures = db
    .select({ bucket: bucketOf(artifactEvents.createdAt), n: count() })
    .from(artifactEvents)
    .where(and(eq(artifactEvents.type, 'failed'), gte(artifactEvents.createdAt, from)))
    .groupBy(sql`1`);
  const deploymentFailures = db
    .select({ bucket: bucketOf(deploymentEvents.createdAt), n: count() })
    .from(deploymentEvents)
    .where(and(eq(deploymentEvents.phase, 'failed'), gte(deploymentEvents.createdAt, from)))
    .groupBy(sql`1`);
  const artifactReasons = db
    .select({ reason: sql<string>`coalesce(${artifacts.failureReason}, 'unknown')`, n: count() })
    .from(artifacts)
    .where(and(eq(artifacts.status, 'failed'), gte(artifacts.updatedAt, from)))
    .groupBy(sql`1`);
  const deploymentReasons = db
    .select({ reason: sql<string>`coalesce(${deployments.failureReason}, 'unknown')`, n: count() })
    .from(deployments)
    .where(and(eq(deployments.status, 'failed'), gte(deployments.lastTransitionAt, from)))
    .groupBy(sql`1`);

  // Sequential on purpose: PGlite is one connection, and ten small queries are fast either way.
  const rows = {
    uploads: await uploads(true),
    stored: await stored(true),
    deploys: await deploys(true),
    running: await running(true),
    artifactFailures: await artifactFailures,
    deploymentFailures: await deploymentFailures,
  };
  const [u] = await uploads(false);
  const [s] = await stored(false);
  const [d] = await deploys(false);
  const [r] = await running(false);
  const reasons = [
    ...(await artifactReasons).map((x) => ({ kind: 'artifact' as const, reason: x.reason, count: x.n })),
    ...(await deploymentReasons).map((x) => ({ kind: 'deployment' as const, reason: x.reason, count: x.n })),
  ].sort((a, z) => z.count - a.count);

  const index = <T extends { bucket: number }>(list: T[]) => new Map(list.map((x) => [x.bucket, x]));
  const byBucket = {
    uploads: index(rows.uploads),
    stored: index(rows.stored),
    deploys: index(rows.deploys),
    running: index(rows.running),
    artifactFailures: index(rows.artifactFailures),
    deploymentFailures: index(rows.deploymentFailures),
  };
  const buckets: MetricsBucket[] = [];
  for (let t = fromSecs; t <= now.getTime() / 1000; t += bucketSecs) {
    const up = byBucket.uploads.get(t);
    const st = byBucket.stored.get(t);
    const ru = byBucket.running.get(t);
    buckets.push({
      t: new Date(t * 1000).toISOString(),
      uploads: up?.uploads ?? 0,
      upload_bytes: up?.bytes ?? 0,
      upload_p50_ms: up?.p50 ?? null,
      upload_p95_ms: up?.p95 ?? null,
      stored_p50_ms: st?.p50 ?? null,
      stored_p95_ms: st?.p95 ?? null,
      deploys: byBucket.deploys.get(t)?.deploys ?? 0,
      running_p50_ms: ru?.p50 ?? null,
      running_p95_ms: ru?.p95 ?? null,
      artifact_failures: byBucket.artifactFailures.get(t)?.n ?? 0,
      deployment_failures: byBucket.deploymentFailures.get(t)?.n ?? 0,
    });
  }
  const totals: MetricsTotals = {
    uploads: u?.uploads ?? 0,
    upload_bytes: u?.bytes ?? 0,
    upload_p50_ms: u?.p50 ?? null,
    upload_p95_ms: u?.p95 ?? null,
    stored_p50_ms: s?.p50 ?? null,
    stored_p95_ms: s?.p95 ?? null,
    deploys: d?.deploys ?? 0,
    running_p50_ms: r?.p50 ?? null,
    running_p95_ms: r?.p95 ?? null,
    artifact_failures: buckets.reduce((n, x) => n + x.artifact_failures, 0),
    deployment_failures: buckets.reduce((n, x) => n + x.deployment_failures, 0),
  };
  const queues = await queueThroughput(svc.queues, fromSecs, bucketSecs, buckets.length, now);
  return { range, bucket_secs: bucketSecs, from: from.toISOString(), to: now.toISOString(), totals, buckets, failure_reasons: reasons, queues };
}

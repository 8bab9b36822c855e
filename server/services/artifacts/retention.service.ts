import { and, count, desc, eq, inArray, isNotNull, sql } from 'drizzle-orm';
import type { Queryable, Tx } from '../../../db/client';
import { applications, artifactEvents, artifacts, deployments } from '../../../db/schema';
import type { Services } from '../context';
import { findRollbackTarget } from '../deployments/rollback-target';
import { effectiveLimits } from './quota';

type RetentionServices = Pick<Services, 'db' | 'storage' | 'env' | 'log' | 'metrics'>;

/** Deployments whose artifact is in use now: being rolled out or serving. */
const LIVE_DEPLOYMENT_STATUSES = ['pending', 'rolling_out', 'running'] as const;

// Victims handled per transaction: bounds how long the app lock is held while storage deletes.
const RETENTION_BATCH = 25;

export interface RetentionResult {
  /** The effective keep-latest N; null when the app keeps everything. */
  retain: number | null;
  /** Ids of the artifacts this call marked deleted. */
  deleted: string[];
}

// The rollback target has one definition, shared with `deployments.rollback`'s default.
export { findRollbackTarget };

/**
 * Artifacts of the app that retention must never delete: those of live deployments (being
 * rolled out or serving) and the rollback target's, exactly the one `aether rollback` picks.
 */
export async function protectedArtifactIds(db: Queryable, appId: string): Promise<Set<string>> {
  // Sequential on purpose: inside a transaction there is one connection to run them on.
  const live = await db
    .select({ artifactId: deployments.artifactId })
    .from(deployments)
    .where(and(eq(deployments.appId, appId), inArray(deployments.status, [...LIVE_DEPLOYMENT_STATUSES])));
  const target = await findRollbackTarget(db, appId);
  const ids = new Set(live.map((d) => d.artifactId));
  if (target) ids.add(target.artifactId);
  return ids;
}

/**
 * One batch in one transaction. The app row is locked first (the same lock quota reservation
 * takes, in the same order), so two retention runs of one app queue up and the second sees the
 * first's result. The stored rows are locked next, before the protected set is read: a
 * deployment insert in flight holds a key-share lock on its artifact (the FK check), so we wait
 * for it and then see it. A deployment created after our lock must re-check `stored` under
 * FOR SHARE in its own transaction; then it waits for us and finds the row deleted.
 */
async function retentionBatch(svc: RetentionServices, tx: Tx, appId: string): Promise<RetentionResult & { more: boolean }> {
  const [app] = await tx.select().from(applications).where(eq(applications.id, appId)).for('update');
  const retain = app ? effectiveLimits(app, svc.env).retainLatest : null;
  if (!app || retain === null) return { retain, deleted: [], more: false };

  const stored = await tx
    .select({ id: artifacts.id, storageKey: artifacts.storageKey })
    .from(artifacts)
    .where(and(eq(artifacts.appId, appId), eq(artifacts.status, 'stored')))
    // storedAt is always set on stored rows; createdAt only guards against a legacy null.
    .orderBy(sql`coalesce(${artifacts.storedAt}, ${artifacts.createdAt}) desc`, desc(artifacts.id))
    .for('update');
  const keep = await protectedArtifactIds(tx, appId);
  const victims = stored.slice(retain).filter((a) => !keep.has(a.id));
  const batch = victims.slice(0, RETENTION_BATCH);

  // Storage first: a crash after this leaves a stored row without its object, which the next
  // run picks again (delete is idempotent); the reverse order could orphan objects for good.
  for (const v of batch) await svc.storage.delete(v.storageKey);

  const now = new Date();
  const deleted: string[] = [];
  for (const v of batch) {
    const [row] = await tx
      .update(artifacts)
      .set({ status: 'deleted', deletedAt: now, updatedAt: now })
      .where(and(eq(artifacts.id, v.id), eq(artifacts.status, 'stored')))
      .returning({ id: artifacts.id });
    if (!row) continue;
    await tx.insert(artifactEvents).values({ artifactId: v.id, type: 'retention_delete', message: `older than the newest ${retain} stored artifacts` });
    deleted.push(v.id);
  }
  return { retain, deleted, more: victims.length > batch.length };
}

/**
 * Keep-latest-N retention for one app: N is the app's `retainLatest`, else
 * AETHER_RETAIN_LATEST_PER_APP (0 = keep all). Keeps the newest N stored artifacts plus every
 * protected one (see {@link protectedArtifactIds}); the others lose their object, then become
 * `deleted` with a `retention_delete` event. Safe to run concurrently and repeatedly.
 */
export async function applyRetention(svc: RetentionServices, appId: string): Promise<RetentionResult> {
  const result: RetentionResult = { retain: null, deleted: [] };
  for (;;) {
    const batch = await svc.db.transaction((tx) => retentionBatch(svc, tx, appId));
    result.retain = batch.retain;
    result.deleted.push(...batch.deleted);
    // Counted only once committed: a rolled-back batch deleted nothing as far as the rows say.
    const n = batch.deleted.length;
    if (n > 0) {
      svc.metrics.artifactRetentionDeleted.inc(n);
      svc.metrics.artifactEvents.inc(n);
      svc.metrics.artifactsTotal.dec(n);
      svc.log.info('retention deleted artifacts', { appId, retain: batch.retain, deleted: n });
    }
    if (!batch.more || n === 0) return result;
  }
}

/** Apps a retention pass can affect: all of them when the env sets a default, else those with an override. */
export async function appsWithRetention(svc: Pick<Services, 'db' | 'env'>): Promise<string[]> {
  const rows = await svc.db
    .select({ id: applications.id })
    .from(applications)
    .where(svc.env.AETHER_RETAIN_LATEST_PER_APP > 0 ? undefined : isNotNull(applications.retainLatest));
  return rows.map((r) => r.id);
}

/**
 * Sets the `artifacts_total` gauge from the database. Increments and decrements keep it close
 * between refreshes, but only a count is right across processes and restarts.
 */
export async function refreshArtifactsGauge(svc: Pick<Services, 'db' | 'metrics'>): Promise<number> {
  const [row] = await svc.db.select({ n: count() }).from(artifacts).where(eq(artifacts.status, 'stored'));
  const n = Number(row?.n ?? 0);
  svc.metrics.artifactsTotal.set(n);
  return n;
}

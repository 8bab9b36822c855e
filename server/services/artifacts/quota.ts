import { and, eq, inArray, ne, sql } from 'drizzle-orm';
import type { Queryable } from '../../../db/client';
import { applications, artifacts } from '../../../db/schema';
import type { Env } from '../../env';
import { AppError } from '../../errors';
import type { AppRow } from '../apps/apps.service';

/** Artifacts that hold quota: being verified or stored. Failed and deleted ones free their slot. */
const COUNTED = ['verifying', 'stored'] as const;

export interface Limits {
  maxArtifacts: number | null;
  maxTotalBytes: number | null;
  retainLatest: number | null;
}

/** The app's effective limits: its own override, else the environment default (0 = none). */
export function effectiveLimits(app: AppRow, env: Env): Limits {
  const orNull = (v: number) => (v > 0 ? v : null);
  return {
    maxArtifacts: app.maxArtifacts ?? orNull(env.AETHER_MAX_ARTIFACTS_PER_APP),
    maxTotalBytes: app.maxTotalBytes ?? orNull(env.AETHER_MAX_TOTAL_BYTES_PER_APP),
    retainLatest: app.retainLatest ?? orNull(env.AETHER_RETAIN_LATEST_PER_APP),
  };
}

export async function usageOf(db: Queryable, appId: string, excludeArtifactId?: string) {
  const [u] = await db
    .select({ count: sql<number>`count(*)::int`, bytes: sql<string>`coalesce(sum(${artifacts.sizeBytes}), 0)::bigint` })
    .from(artifacts)
    .where(and(eq(artifacts.appId, appId), inArray(artifacts.status, [...COUNTED]), excludeArtifactId ? ne(artifacts.id, excludeArtifactId) : undefined));
  return { count: u?.count ?? 0, bytes: Number(u?.bytes ?? 0) };
}

/**
 * Reserves room for one more artifact of `sizeBytes`, inside the caller's transaction. The app
 * row is locked first (SELECT ... FOR UPDATE), so concurrent completes of one app queue up here
 * and each sees the others' effect: racing for the last slot, exactly one wins.
 */
export async function reserveQuota(tx: Queryable, appId: string, env: Env, sizeBytes: number, artifactId?: string): Promise<void> {
  // An app without limits needs no lock: completes of such apps never wait on each other.
  const [unlocked] = await tx.select().from(applications).where(eq(applications.id, appId));
  if (!unlocked) throw new AppError('not_found', 'app not found');
  const unlimited = (a: AppRow) => {
    const l = effectiveLimits(a, env);
    return l.maxArtifacts === null && l.maxTotalBytes === null;
  };
  if (unlimited(unlocked)) return;
  // NO KEY UPDATE, not UPDATE: it still serialises completes (and retention) of the app, but
  // leaves the FK checks of concurrent presign inserts (KEY SHARE) alone.
  const [app] = await tx.select().from(applications).where(eq(applications.id, appId)).for('no key update');
  if (!app) throw new AppError('not_found', 'app not found');
  const limits = effectiveLimits(app, env);
  if (unlimited(app)) return;
  const used = await usageOf(tx, appId, artifactId);
  if (limits.maxArtifacts !== null && used.count + 1 > limits.maxArtifacts) {
    throw new AppError('quota_exceeded', `app "${app.name}" already holds ${used.count} of ${limits.maxArtifacts} artifacts`);
  }
  if (limits.maxTotalBytes !== null && used.bytes + sizeBytes > limits.maxTotalBytes) {
    throw new AppError('quota_exceeded', `app "${app.name}" would hold ${used.bytes + sizeBytes} of ${limits.maxTotalBytes} bytes`);
  }
}

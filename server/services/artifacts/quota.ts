import { and, eq, inArray, ne, sql } from 'drizzle-orm';
import type { Db, Queryable } from '../../../db/client';
import { applications, artifacts, type ArtifactStatus } from '../../../db/schema';
import type { Env } from '../../env';
import { AppError } from '../../errors';
import type { AppRow } from '../apps/apps.service';

/**
 * Rows that hold quota. A pending upload holds its declared size from presign until it is
 * completed, refused or collected: its bytes may already be on disk.
 */
const HOLDING: ArtifactStatus[] = ['pending', 'verifying', 'stored'];
/**
 * What a complete is judged against: the artifacts already committed. Another upload's pending
 * reservation does not block a complete, so lowering a limit below the reservations lets the
 * first completes through instead of none.
 */
const COMMITTED: ArtifactStatus[] = ['verifying', 'stored'];

export interface Limits {
  maxArtifacts: number | null;
  maxTotalBytes: number | null;
  retainLatest: number | null;
  maxUnpackedBytes: number;
}

/** The app's effective limits: its own override, else the environment default (0 = none). */
/** What quota decisions read of an app row. */
type QuotaApp = Pick<AppRow, 'id' | 'name' | 'maxArtifacts' | 'maxTotalBytes' | 'retainLatest' | 'maxUnpackedBytes'>;

export function effectiveLimits(app: Omit<QuotaApp, 'id' | 'name'>, env: Env): Limits {
  const orNull = (v: number) => (v > 0 ? v : null);
  return {
    maxArtifacts: app.maxArtifacts ?? orNull(env.AETHER_MAX_ARTIFACTS_PER_APP),
    maxTotalBytes: app.maxTotalBytes ?? orNull(env.AETHER_MAX_TOTAL_BYTES_PER_APP),
    retainLatest: app.retainLatest ?? orNull(env.AETHER_RETAIN_LATEST_PER_APP),
    maxUnpackedBytes: maxUnpackedBytesOf(app, env),
  };
}

/** The most bytes a release of the app may unpack to. */
export function maxUnpackedBytesOf(
  app: Pick<AppRow, 'maxUnpackedBytes'>,
  env: Pick<Env, 'AETHER_MAX_UNPACKED_BYTES'>,
): number {
  return app.maxUnpackedBytes ?? env.AETHER_MAX_UNPACKED_BYTES;
}

export interface Usage {
  count: number;
  bytes: number;
}

/** Count and bytes of the app's rows in `statuses` (default: all that hold quota), minus `exclude`. */
export async function usageOf(
  db: Queryable,
  appId: string,
  opts: { statuses?: ArtifactStatus[]; exclude?: { id?: string; digest?: string } } = {},
): Promise<Usage> {
  const { exclude } = opts;
  const [u] = await db
    .select({ count: sql<number>`count(*)::int`, bytes: sql<string>`coalesce(sum(${artifacts.sizeBytes}), 0)::bigint` })
    .from(artifacts)
    .where(
      and(
        eq(artifacts.appId, appId),
        inArray(artifacts.status, opts.statuses ?? HOLDING),
        exclude?.id ? ne(artifacts.id, exclude.id) : undefined,
        exclude?.digest ? ne(artifacts.digest, exclude.digest) : undefined,
      ),
    );
  return { count: u?.count ?? 0, bytes: Number(u?.bytes ?? 0) };
}

const QUOTA_COLUMNS = {
  id: applications.id,
  name: applications.name,
  maxArtifacts: applications.maxArtifacts,
  maxTotalBytes: applications.maxTotalBytes,
  retainLatest: applications.retainLatest,
  maxUnpackedBytes: applications.maxUnpackedBytes,
};

const unlimited = (l: Limits) => l.maxArtifacts === null && l.maxTotalBytes === null;

/** Whether the app (as read) has a count or bytes limit: without one, reservations take no lock. */
export const hasQuotaLimits = (app: Omit<QuotaApp, 'id' | 'name'>, env: Env) => !unlimited(effectiveLimits(app, env));

function assertRoom(app: Pick<AppRow, 'name'>, limits: Limits, used: Usage, sizeBytes: number): void {
  if (limits.maxArtifacts !== null && used.count + 1 > limits.maxArtifacts) {
    throw new AppError(
      'quota_exceeded',
      `app "${app.name}" already holds ${used.count} of ${limits.maxArtifacts} artifacts`,
    );
  }
  if (limits.maxTotalBytes !== null && used.bytes + sizeBytes > limits.maxTotalBytes) {
    throw new AppError(
      'quota_exceeded',
      `app "${app.name}" would hold ${used.bytes + sizeBytes} of ${limits.maxTotalBytes} bytes`,
    );
  }
}

/**
 * Locks the app row inside the caller's transaction and returns its limits, or null for an app
 * without quota limits (no lock: its uploads never wait on each other). NO KEY UPDATE, not
 * UPDATE: it serialises the app's reservations (and retention), but leaves the FK checks of
 * concurrent inserts (KEY SHARE) alone.
 */
async function lockLimited(
  tx: Queryable,
  peeked: QuotaApp,
  env: Env,
): Promise<{ app: QuotaApp; limits: Limits } | null> {
  // The caller's row, read moments ago, says whether there are limits at all; the locked read decides.
  if (!hasQuotaLimits(peeked, env)) return null;
  const [app] = await tx
    .select(QUOTA_COLUMNS)
    .from(applications)
    .where(eq(applications.id, peeked.id))
    .for('no key update');
  if (!app) throw new AppError('not_found', 'app not found');
  const limits = effectiveLimits(app, env);
  return unlimited(limits) ? null : { app, limits };
}

/**
 * Reserves room for one more committed artifact of `sizeBytes` at complete, inside the caller's
 * transaction. Concurrent completes of one app queue up on the app row lock and each sees the
 * others' effect: racing for the last slot, exactly one wins.
 */
export async function reserveQuota(
  tx: Queryable,
  app: QuotaApp,
  env: Env,
  sizeBytes: number,
  artifactId?: string,
): Promise<void> {
  const locked = await lockLimited(tx, app, env);
  if (!locked) return;
  const used = await usageOf(tx, app.id, { statuses: COMMITTED, exclude: { id: artifactId } });
  assertRoom(locked.app, locked.limits, used, sizeBytes);
}

/**
 * Runs `write` (one statement, atomic alone) with room reserved for a committed artifact: in a
 * transaction after {@link reserveQuota} when the app has limits; without one (no lock, no
 * BEGIN and COMMIT round trips) when it has none, which is what {@link lockLimited} decides too.
 */
export async function withReservedQuota<T>(
  db: Db,
  app: QuotaApp,
  env: Env,
  reservation: { sizeBytes: number; artifactId: string },
  write: (q: Queryable) => Promise<T>,
): Promise<T> {
  if (!hasQuotaLimits(app, env)) return write(db);
  return db.transaction(async (tx) => {
    await reserveQuota(tx, app, env, reservation.sizeBytes, reservation.artifactId);
    return write(tx);
  });
}

/**
 * Reserves room for an upload of `digest` before its URL is handed out, inside the caller's
 * transaction: every other upload in progress counts too, so a full app gets no URL at all.
 * The digest's own row (a presign asked again) is not counted twice.
 */
export async function reserveUpload(
  tx: Queryable,
  app: QuotaApp,
  env: Env,
  digest: string,
  sizeBytes: number,
): Promise<void> {
  const locked = await lockLimited(tx, app, env);
  if (!locked) return;
  const used = await usageOf(tx, app.id, { exclude: { digest } });
  assertRoom(locked.app, locked.limits, used, sizeBytes);
}

/** {@link reserveUpload}'s rule without the lock: tells a full app early, before a body moves. */
export async function precheckUpload(
  db: Queryable,
  app: AppRow,
  env: Env,
  digest: string,
  sizeBytes: number,
): Promise<void> {
  const limits = effectiveLimits(app, env);
  if (unlimited(limits)) return;
  assertRoom(app, limits, await usageOf(db, app.id, { exclude: { digest } }), sizeBytes);
}
